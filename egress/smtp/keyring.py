"""How SMTP passwords are sealed at rest: AES-256-GCM, with a local key or a KMS data key.

- Local key (``EGRESS_SMTP_KEY_FILE``): a file holding 32 random bytes, base64, readable only by its owner
  (``egress smtp keygen --out FILE`` makes one, mode 0600). Its reference ``local:<16 hex>`` (from its SHA-256)
  is stored with each password, so a wrong key file is named rather than failing obscurely.
- KMS (``EGRESS_SMTP_KMS_KEY``, production): envelope encryption (:mod:`smtp_egress.smtp.kms`).

Each password is sealed with a fresh 96-bit nonce, and bound to its row (the associated data is
``workspace/server``): a sealed password copied onto another server's row does not open. A password is only
ever opened in memory, into a :class:`~smtp_egress.smtp.model.Secret`; no error here quotes one.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from ..errors import ConfigError
from ..masking import excerpt

KEY_FILE_ENV = "EGRESS_SMTP_KEY_FILE"
KMS_KEY_ENV = "EGRESS_SMTP_KMS_KEY"
KEY_BYTES = 32
NONCE_BYTES = 12


class KeyringError(ConfigError):
    """No usable key to seal or open passwords: missing, unreadable or exposed key file, wrong key, KMS failure."""


@dataclasses.dataclass(frozen=True)
class Sealed:
    """A password at rest: ``sealed`` (nonce + ciphertext), the key that sealed it, and (KMS) the encrypted data key."""

    sealed: bytes
    key_ref: str
    data_key: bytes | None = None


class Keyring(Protocol):
    """Seals and opens passwords; ``context`` (``workspace/server``) binds a sealed password to its row."""

    ref: str

    def seal(self, password: str, context: str) -> Sealed: ...

    def open(self, sealed: Sealed, context: str) -> str: ...


def aead_seal(key: bytes, password: str, context: str) -> bytes:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, password.encode("utf-8"), context.encode("utf-8"))


def aead_open(key: bytes, sealed: bytes, context: str, key_ref: str) -> str:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    try:
        return AESGCM(key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], context.encode("utf-8")).decode("utf-8")
    except (InvalidTag, ValueError, UnicodeDecodeError):
        raise KeyringError(
            f"the stored password of {excerpt(context, 120)} does not open with key {key_ref}: the row was altered "
            "or copied from another server; set the password again (egress smtp add)"
        ) from None


class LocalKeyring:
    """A key read from a file (see the module's docstring)."""

    def __init__(self, key: bytes):
        self._key = key
        self.ref = "local:" + hashlib.sha256(key).hexdigest()[:16]

    def __repr__(self) -> str:
        return f"LocalKeyring({self.ref})"

    @classmethod
    def from_file(cls, path: str | Path, source: str = KEY_FILE_ENV) -> LocalKeyring:
        """The key of ``path``; :class:`KeyringError` naming ``source`` if it is missing, unreadable, exposed to
        other users, or not a key."""
        shown = f"{source} {excerpt(str(path), 120)}"
        make = f"make one with: egress smtp keygen --out {excerpt(str(path), 120)}"
        try:
            info = os.stat(path)
            if info.st_mode & 0o077:
                raise KeyringError(
                    f"{shown} is readable or writable by other users (mode {stat.S_IMODE(info.st_mode):04o}): "
                    f"run chmod 600 on it (and consider the key exposed: make a new one and set the passwords again)"
                )
            text = Path(path).read_text("ascii").strip()
        except FileNotFoundError:
            raise KeyringError(f"{shown} does not exist; {make}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise KeyringError(
                f"{shown} cannot be read: {getattr(exc, 'strerror', None) or 'not a key file'}"
            ) from None
        try:
            key = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            key = b""
        if len(key) != KEY_BYTES:
            raise KeyringError(f"{shown} does not hold a key ({KEY_BYTES} random bytes, base64); {make}")
        return cls(key)

    def seal(self, password: str, context: str) -> Sealed:
        return Sealed(aead_seal(self._key, password, context), self.ref)

    def open(self, sealed: Sealed, context: str) -> str:
        if sealed.key_ref != self.ref:
            raise KeyringError(
                f"the password of {excerpt(context, 120)} was sealed with key {excerpt(sealed.key_ref, 80)}, "
                f"but the key configured is {self.ref}: point {KEY_FILE_ENV} (or {KMS_KEY_ENV}) at that key"
            )
        return aead_open(self._key, sealed.sealed, context, self.ref)


def keygen(path: str | Path) -> str:
    """Write a new key to ``path`` (mode 0600, never over an existing file); its reference."""
    key = os.urandom(KEY_BYTES)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeyringError(f"--out {excerpt(str(path), 120)} exists already; a key is never overwritten") from None
    except OSError as exc:
        raise KeyringError(f"--out {excerpt(str(path), 120)} cannot be created: {exc.strerror}") from None
    with os.fdopen(fd, "w") as handle:
        handle.write(base64.b64encode(key).decode("ascii") + "\n")
    return LocalKeyring(key).ref


def keyring_from_env(env: Mapping[str, str]) -> Keyring:
    """The keyring an environment configures: ``EGRESS_SMTP_KMS_KEY`` (its AWS region ``EGRESS_REGION``, else
    boto3's own) wins over ``EGRESS_SMTP_KEY_FILE``."""
    return keyring_from(env.get(KEY_FILE_ENV), env.get(KMS_KEY_ENV), region=env.get("EGRESS_REGION"))


def keyring_from(key_file: str | None, kms_key: str | None, *, region: str | None = None) -> Keyring:
    """The keyring configured: ``kms_key`` (EGRESS_SMTP_KMS_KEY) wins over ``key_file`` (EGRESS_SMTP_KEY_FILE)."""
    if kms_key:
        from .kms import KmsKeyring

        return KmsKeyring(kms_key, region=region)
    if key_file:
        return LocalKeyring.from_file(key_file)
    raise KeyringError(
        f"no key to seal SMTP passwords with: set {KEY_FILE_ENV} to a key file (egress smtp keygen --out FILE "
        f"makes one) or, in production, {KMS_KEY_ENV} to a KMS key id or ARN"
    )
