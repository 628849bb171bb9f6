"""The archive: the exact bytes sent to each recipient, with the server's reply.

One entry per (job, recipient), under a deterministic key (:func:`entry_key`), so a job handled again after a
crash finds its entry and never archives twice. An entry is ``KEY.eml`` (the bytes that went out after DATA,
byte for byte) and ``KEY.json`` (recipient, server, peer, reply code and text; never a credential). The
``.eml`` is written last: its presence means "archived", which the worker also reads as "delivered" for a
recipient of a job it receives again.

- :class:`LocalArchive`: a folder (``EGRESS_ARCHIVE``, default ``.egress/archive``); each file written to a
  temporary name and renamed (atomic); the file system flushed once per batch (:meth:`LocalArchive.sync`).
- :class:`S3Archive` (``s3://bucket/prefix``): conditional puts (``If-None-Match: *``) on the same keys.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any, Protocol

from ..errors import EgressError

DEFAULT_ARCHIVE = ".egress/archive"


class ArchiveError(EgressError):
    """The archive cannot be written or read (a folder's permissions, a bucket's)."""


@dataclasses.dataclass(frozen=True)
class ArchiveEntry:
    """What the archive keeps of one recipient's delivery."""

    workspace_id: str
    job_id: str
    recipient: str
    sent: bytes
    code: int | None
    reply: str
    server_label: str
    peer: str | None

    def metadata(self) -> dict[str, Any]:
        return {
            "workspace": self.workspace_id,
            "job": self.job_id,
            "recipient": self.recipient,
            "server": self.server_label,
            "peer": self.peer,
            "code": self.code,
            "reply": self.reply,
        }


_SAFE = re.compile(r"[^A-Za-z0-9_.@+-]")


def entry_key(workspace_id: str, job_id: str, recipient: str) -> str:
    """``workspace/job/recipient-hash`` (path-safe whatever the ids hold; the same for every run)."""
    digest = hashlib.sha256(recipient.lower().encode("utf-8", "surrogatepass")).hexdigest()[:20]
    return f"{path_component(workspace_id)}/{path_component(job_id)}/{digest}"


def path_component(text: str) -> str:
    """One path component: safe characters only, never starting with a dot (no ``..``, no hidden file)."""
    safe = _SAFE.sub("_", text)[:100] or "_"
    return "_" + safe[1:] if safe.startswith(".") else safe


class Archive(Protocol):
    location: str
    #: True when ``has``/``put``/``sync`` wait on a network (S3): the worker calls them in a thread. False for the
    #: local folder: the worker calls them on its event loop, where a few file system calls cost less than
    #: handing each to a thread (the GIL changes hands at every call; see BENCHMARKS.md).
    remote: bool

    def has(self, key: str) -> bool: ...

    def put(self, key: str, entry: ArchiveEntry) -> bool:
        """Store ``entry`` under ``key`` unless it is there already; True if this call stored it."""
        ...

    def sync(self) -> None:
        """Make every entry stored so far durable (before the worker records them)."""
        ...


class LocalArchive:
    """Entries under a folder. ``put`` is atomic against a crash of the process (a fully written file renamed
    into place); :meth:`sync` makes everything put so far durable against a crash of the machine, with one
    ``syncfs`` of the archive's file system (``sync`` where there is none): the worker calls it once per batch,
    before recording the batch's outcomes. One flush per batch instead of an fsync per file is what lets a
    local archive keep up with a thousand messages a second."""

    remote = False

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.location = str(self.root)
        self._dirty = False

    def has(self, key: str) -> bool:
        return os.path.isfile(os.path.join(self.location, f"{key}.eml"))

    def put(self, key: str, entry: ArchiveEntry) -> bool:
        # Plain os calls on strings: this runs once per delivered recipient, on the worker's event loop.
        base = os.path.join(self.location, key)
        try:
            try:
                os.mkdir(os.path.dirname(base))  # the job's folder is new: none of its entries can be there
            except FileNotFoundError:  # the workspace's folder (or the archive's) is new too
                os.makedirs(os.path.dirname(base), exist_ok=True)
            except FileExistsError:
                if os.path.isfile(f"{base}.eml"):
                    return False
            meta = json.dumps(entry.metadata(), sort_keys=True, ensure_ascii=False).encode()
            _atomic_write(f"{base}.json", meta)
            _atomic_write(f"{base}.eml", entry.sent)  # last: its presence means "archived"
        except OSError as exc:
            raise ArchiveError(f"cannot write the archive entry {key!r} under {self.location!r}: {exc}") from None
        self._dirty = True
        return True

    def sync(self) -> None:
        if self._dirty:
            self._dirty = False
            _syncfs(self.root)


def _atomic_write(path: str, data: bytes) -> None:
    """Write ``data`` to a temporary name beside ``path``, then rename it over ``path``: a reader, or a process
    started after a crash, sees the whole file or none of it."""
    folder, name = os.path.split(path)
    temp = os.path.join(folder, f".{name}.{os.getpid()}.tmp")
    handle = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o666)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(handle, view) :]
    finally:
        os.close(handle)
    os.replace(temp, path)


def _syncfs(folder: Path) -> None:
    """Flush the file system holding ``folder`` to disk (Linux ``syncfs``; elsewhere ``sync``)."""
    import ctypes

    handle = os.open(folder, os.O_RDONLY)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if getattr(libc, "syncfs", None) is None or libc.syncfs(handle) != 0:
            os.sync()
    finally:
        os.close(handle)


def s3_location(url: str) -> tuple[str, str]:
    """The bucket and the prefix (no slashes around it) of ``s3://bucket/prefix``."""
    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    if not bucket:
        raise ArchiveError(f"the archive {url!r} names no bucket: write s3://BUCKET/PREFIX")
    return bucket, prefix.strip("/")


def s3_client(endpoint_url: str | None, region: str | None) -> Any:
    """A boto3 S3 client (``endpoint_url``: another S3 endpoint, e.g. moto's in tests)."""
    import boto3

    return boto3.client("s3", endpoint_url=endpoint_url, region_name=region)


class S3Archive:
    """``s3://bucket/prefix`` through boto3 (``endpoint_url``: another S3 endpoint, e.g. moto's in tests)."""

    remote = True

    def __init__(self, url: str, *, endpoint_url: str | None = None, region: str | None = None):
        self.bucket, self.prefix = s3_location(url)
        self.location = url
        self._s3 = s3_client(endpoint_url, region)

    def _key(self, key: str, suffix: str) -> str:
        return f"{self.prefix}/{key}{suffix}" if self.prefix else f"{key}{suffix}"

    def has(self, key: str) -> bool:
        import botocore.exceptions

        try:
            self._s3.head_object(Bucket=self.bucket, Key=self._key(key, ".eml"))
            return True
        except botocore.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise ArchiveError(f"cannot read the archive {self.location!r}: {exc}") from None

    def put(self, key: str, entry: ArchiveEntry) -> bool:
        import botocore.exceptions

        meta = json.dumps(entry.metadata(), sort_keys=True).encode()
        try:
            self._s3.put_object(Bucket=self.bucket, Key=self._key(key, ".json"), Body=meta)
            self._s3.put_object(
                Bucket=self.bucket, Key=self._key(key, ".eml"), Body=entry.sent, IfNoneMatch="*",
                ContentType="message/rfc822",
            )  # fmt: skip
        except botocore.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
                return False
            raise ArchiveError(f"cannot write the archive entry {key!r} to {self.location!r}: {exc}") from None
        except botocore.exceptions.BotoCoreError as exc:
            raise ArchiveError(f"cannot reach the archive {self.location!r}: {exc}") from None
        return True

    def sync(self) -> None:
        """Nothing to do: S3 has stored an object once ``put`` returns."""


def open_archive(location: str, *, endpoint_url: str | None = None, region: str | None = None) -> Archive:
    """The archive at ``location``: ``s3://bucket/prefix``, else a local folder."""
    if location.startswith("s3://"):
        return S3Archive(location, endpoint_url=endpoint_url, region=region)
    if "://" in location:
        raise ArchiveError(f"the archive {location!r} is neither a folder nor s3://bucket/prefix")
    return LocalArchive(location)
