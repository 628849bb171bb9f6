"""The tracking keyring: the HMAC keys that sign and verify tracking tokens, read from a key file.

The key file (``EGRESS_TRACKING_KEYS``, ``--keys``) holds one key per line, ``<key id> <secret>``: the key id
is 1 to 32 letters, digits, ``-`` or ``_``; the secret is at least 32 random bytes, base64url-encoded. Blank
lines and lines starting with ``#`` are ignored. The **last** key signs new tokens; every key in the file
verifies, so a rotation (:func:`rotate`, ``egress tracking rotate-key``) appends a new key and links already
sent keep working until their key's line is deleted. The file must be readable by its owner only (mode 0600):
anyone who can read it can mint links the tracker redirects. No message ever quotes a secret.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import os
import re
import secrets
import stat
from pathlib import Path

from ..errors import ConfigError
from ..masking import excerpt

KEY_ID = re.compile(r"[A-Za-z0-9_-]{1,32}")
MIN_SECRET_BYTES = 32
MAX_FILE_BYTES = 1 << 20  # a keyring is a few lines: anything larger is not one
MAX_KEYS = 1000


class KeyFileError(ConfigError):
    """The tracking key file is missing, unreadable, readable by others, or holds a malformed line."""


@dataclasses.dataclass(frozen=True)
class TrackingKey:
    key_id: str
    secret: bytes = dataclasses.field(repr=False)


@dataclasses.dataclass(frozen=True)
class Keyring:
    """Every key that verifies; ``current`` (the last) signs."""

    keys: tuple[TrackingKey, ...]

    def __post_init__(self) -> None:
        if not self.keys:
            raise KeyFileError("a tracking keyring needs at least one key")
        ids = [k.key_id for k in self.keys]
        if len(set(ids)) != len(ids):
            raise KeyFileError("a tracking keyring holds each key id once")

    @property
    def current(self) -> TrackingKey:
        return self.keys[-1]

    def get(self, key_id: str) -> TrackingKey | None:
        return next((k for k in self.keys if k.key_id == key_id), None)


def encode_secret(secret: bytes) -> str:
    return base64.urlsafe_b64encode(secret).decode("ascii").rstrip("=")


def parse_keyring(text: str, where: str) -> Keyring:
    """The keyring in ``text`` (the file's content); ``where`` names the file in every error."""
    keys: list[TrackingKey] = []
    seen: set[str] = set()
    for number, line in enumerate(text.splitlines(), 1):
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        at = f"{where}:{number}"
        if len(words) != 2:
            raise KeyFileError(f"{at}: a key line is '<key id> <secret>' ({len(words)} words found)")
        key_id, encoded = words
        if not KEY_ID.fullmatch(key_id):
            raise KeyFileError(f"{at}: key id {excerpt(key_id, 40)} is not 1-32 letters, digits, '-' or '_'")
        if key_id in seen:
            raise KeyFileError(f"{at}: key id {key_id!r} appears twice; each key has its own id")
        try:
            secret = base64.b64decode(encoded + "=" * (-len(encoded) % 4), altchars=b"-_", validate=True)
        except (binascii.Error, ValueError):
            raise KeyFileError(f"{at}: the secret of key {key_id!r} is not base64url") from None
        if len(secret) < MIN_SECRET_BYTES:
            raise KeyFileError(
                f"{at}: the secret of key {key_id!r} is {len(secret)} bytes; at least {MIN_SECRET_BYTES} random "
                "bytes are needed ('egress tracking rotate-key' makes one)"
            )
        seen.add(key_id)
        keys.append(TrackingKey(key_id, secret))
        if len(keys) > MAX_KEYS:
            raise KeyFileError(f"{where}: more than {MAX_KEYS} keys; delete the retired ones")
    if not keys:
        raise KeyFileError(f"{where} holds no key; 'egress tracking rotate-key' adds one")
    return Keyring(tuple(keys))


def _where(path: str | Path, source: str) -> str:
    return f"the tracking key file {excerpt(str(path), 120)}" + (f" ({source})" if source else "")


def load_keyring(path: str | Path, source: str = "") -> Keyring:
    """The keyring in the file at ``path`` (``source`` says where the path came from, for messages)."""
    where = _where(path, source)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        raise KeyFileError(f"{where} does not exist; 'egress tracking rotate-key' creates it") from None
    except OSError as exc:
        raise KeyFileError(f"{where} cannot be opened: {exc.strerror}") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise KeyFileError(f"{where} is not a regular file")
    with os.fdopen(fd, "rb") as handle:
        if info.st_mode & 0o077:
            raise KeyFileError(
                f"{where} is readable or writable by others (mode {stat.S_IMODE(info.st_mode):04o}); anyone who "
                f"reads it can mint tracking links: run chmod 600 on it"
            )
        data = handle.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise KeyFileError(f"{where} is larger than {MAX_FILE_BYTES} bytes: it is not a key file")
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        raise KeyFileError(f"{where} is not ASCII text: it is not a key file") from None
    return parse_keyring(text, where)


def new_key_id(taken: set[str]) -> str:
    while True:
        key_id = "k" + secrets.token_hex(4)
        if key_id not in taken:
            return key_id


def rotate(path: str | Path, source: str = "") -> TrackingKey:
    """Append a new key to the key file (created 0600 if missing): it signs from now on; older keys still verify."""
    path = Path(path)
    keyring = load_keyring(path, source) if os.path.lexists(path) else None
    taken = {k.key_id for k in keyring.keys} if keyring else set()
    key = TrackingKey(new_key_id(taken), secrets.token_bytes(MIN_SECRET_BYTES))
    line = f"{key.key_id} {encode_secret(key.secret)}\n"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    except OSError as exc:
        raise KeyFileError(f"{_where(path, source)} cannot be written: {exc.strerror}") from None
    with os.fdopen(fd, "ab") as handle:
        if keyring is None:
            handle.write(b"# smtp-egress tracking keys: '<key id> <secret>'; the last key signs, every key verifies\n")
        elif not path.read_bytes().endswith(b"\n"):
            handle.write(b"\n")
        handle.write(line.encode("ascii"))
        handle.flush()
        os.fsync(handle.fileno())
    return key
