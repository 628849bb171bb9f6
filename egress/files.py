"""Files written so that a reader or a crash sees the old content or the new, never half of either."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from .errors import ConfigError


def write_atomic(path: Path, data: bytes, make_parents: bool = False, mode: int = 0o644) -> None:
    """Replace ``path`` with ``data`` all at once (a temp file in the same directory, fsync, rename, fsync
    of the directory). ``mode`` defaults to world-readable: the published list and allowlists are public."""
    tmp = None
    try:
        if make_parents:
            path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)  # mkstemp makes it 0600
        os.replace(tmp, path)
        tmp = None
        fsync_dir(path.parent)
    except OSError as exc:
        raise ConfigError(
            f"cannot write {str(path)!r}: {exc.strerror or exc}; check the path and its permissions"
        ) from None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def fsync_dir(directory: Path, *, strict: bool = False) -> None:
    """Make a rename or link in ``directory`` durable (POSIX). Errors are ignored (a file system whose
    directories cannot be opened) unless ``strict``."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        if strict:
            raise
        return
    try:
        os.fsync(fd)
    except OSError:
        if strict:
            raise
    finally:
        os.close(fd)
