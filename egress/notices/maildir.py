"""The Maildir outbox: notices written as files when no SMTP server is configured.

A real Maildir (tmp/, new/, cur/) that ``mailbox.Maildir``, mutt or Dovecot can read. Each message is
written to tmp/ and fsynced, then hard-linked into new/ under a name derived from its Message-ID, so
a delivery is atomic, a crash leaves nothing half-written in new/, and a re-send is a no-op.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import time
import uuid
from pathlib import Path

from ..errors import ConfigError, DeliveryError
from ..files import fsync_dir

_BREAK = re.compile("[\r\n\0]")  # would end an SMTP command or a header line


class MaildirOutbox:
    """A real Maildir (tmp/, new/, cur/). The file for a message is ``<sha256(message_id)[:32]>.smtp-egress``
    in new/ (a reader may move it to cur/ and append ``:2,FLAGS``): stable, so a re-send is a no-op."""

    SUFFIX = ".smtp-egress"

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        try:
            for sub in ("tmp", "new", "cur"):
                (self.path / sub).mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise ConfigError(f"cannot create the Maildir outbox {str(self.path)!r}: {exc.strerror}") from None
        self._cur: tuple[int, set[str]] = (-1, set())

    def name(self, message_id: str) -> str:
        return hashlib.sha256(message_id.encode("utf-8")).hexdigest()[:32] + self.SUFFIX

    def delivered(self, message_id: str) -> bool:
        name = self.name(message_id)
        return (self.path / "new" / name).exists() or name in self._cur_names()

    def send(self, *, sender: str, recipient: str, message_id: str, data: bytes) -> None:
        check_envelope(sender, recipient)
        if self.delivered(message_id):
            return
        name = self.name(message_id)
        final = self.path / "new" / name
        tmp = self.path / "tmp" / f"{name}.{os.getpid()}.{uuid.uuid4().hex}"
        envelope = f"Return-Path: <{sender}>\r\nDelivered-To: {recipient}\r\n".encode()
        fd = None
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            for chunk in (envelope, data):
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view) :]
            os.fsync(fd)
            os.close(fd)
            fd = None
            try:
                os.link(tmp, final)  # atomic, and never replaces a file another run delivered
            except FileExistsError:
                pass
            except OSError:  # a file system without hard links
                os.replace(tmp, final)
            fsync_dir(final.parent, strict=True)
        except OSError as exc:
            raise DeliveryError(
                f"cannot write {message_id!r} to the Maildir outbox {str(self.path)!r}: {exc}"
            ) from None
        finally:
            if fd is not None:
                os.close(fd)
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)

    def close(self) -> None:
        pass

    def _cur_names(self) -> set[str]:
        """Names in cur/ with their flags stripped, re-read only when cur/ changed."""
        mtime = (self.path / "cur").stat().st_mtime_ns
        # Directory times are coarse (a clock tick): trust the cached listing only once cur/ has been
        # unchanged for a while, so a message moved to cur/ in the same tick is never missed.
        if mtime != self._cur[0] or time.time_ns() - mtime < 2_000_000_000:
            self._cur = (mtime, {entry.split(":", 1)[0] for entry in os.listdir(self.path / "cur")})
        return self._cur[1]


def check_envelope(sender: str, recipient: str) -> None:
    if _BREAK.search(sender) or _BREAK.search(recipient):
        raise DeliveryError(
            f"the envelope sender {sender!r} or recipient {recipient!r} contains CR, LF or NUL", permanent=True
        )
