"""Ed25519 detached signatures for the allowlist bundle and the published documents.

Keys are PEM: the private key PKCS#8 (``openssl genpkey -algorithm ed25519`` writes the same), the public
key SubjectPublicKeyInfo. A signature is the raw 64 bytes over the file's exact bytes, so OpenSSL 3
verifies it with::

    openssl pkeyutl -verify -pubin -inkey key.pub -rawin -in SHA256SUMS -sigfile SHA256SUMS.sig
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import ConfigError, EgressError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

SIGNATURE_SUFFIX = ".sig"


def _require_cryptography() -> None:
    try:
        import cryptography  # noqa: F401
    except ImportError:
        raise ConfigError("signing needs the 'cryptography' package: pip install cryptography") from None


class VerificationFailed(EgressError):
    """A signature or a checksum does not match: the files are not what was signed."""

    exit_code = 3


def generate_key(path: Path) -> Path:
    """Write a new private key to ``path`` (mode 0600, never over an existing file) and its public key to
    ``path.pub``; return the public key's path."""
    _require_cryptography()
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    pub_path = Path(f"{path}.pub")
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    for p in (path, pub_path):
        if p.exists():
            raise ConfigError(f"{str(p)!r} already exists; a signing key is never overwritten: choose another path")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(private)
        pub_path.write_bytes(public)
    except OSError as exc:
        raise ConfigError(f"cannot write the key pair at {str(path)!r}: {exc.strerror or exc}") from None
    return pub_path


def _read(path: Path, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the {what} {str(path)!r}: {exc.strerror or exc}") from None


def load_private_key(path: Path) -> Ed25519PrivateKey:
    return private_key_from_pem(_read(path, "signing key"), repr(str(path)))


def private_key_from_pem(data: bytes, where: str) -> Ed25519PrivateKey:
    """The Ed25519 private key in ``data`` (unencrypted PKCS#8 PEM); ConfigError naming ``where`` it came
    from, never quoting the data (it is a secret)."""
    _require_cryptography()
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:  # cryptography's messages never quote the data
        raise ConfigError(
            f"the signing key {where} is not an unencrypted PEM private key ({exc}); "
            "make one with: egress allowlist --generate-key PATH"
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"the signing key {where} is a {type(key).__name__}, not Ed25519")
    return key


def public_key_pem(key: Ed25519PrivateKey) -> str:
    """The public half of ``key`` as PEM (SubjectPublicKeyInfo): what verifiers are given."""
    from cryptography.hazmat.primitives import serialization

    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def load_public_key(path: Path) -> Ed25519PublicKey:
    return public_key_from_pem(_read(path, "public key"), repr(str(path)))


def public_key_from_pem(data: bytes, where: str) -> Ed25519PublicKey:
    """The Ed25519 public key in ``data`` (PEM SubjectPublicKeyInfo); ConfigError naming ``where`` it came from."""
    _require_cryptography()
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:  # cryptography's messages never quote the data
        raise ConfigError(f"the public key {where} is not a PEM public key ({exc})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ConfigError(f"the public key {where} is a {type(key).__name__}, not Ed25519")
    return key


def sign(key: Ed25519PrivateKey, data: bytes) -> bytes:
    """The raw 64-byte Ed25519 signature of ``data``."""
    return key.sign(data)


def verify(public_key: Ed25519PublicKey, data: bytes, signature: bytes, what: str) -> None:
    """Raise VerificationFailed unless ``signature`` is ``public_key``'s signature of ``data``."""
    from cryptography.exceptions import InvalidSignature

    try:
        public_key.verify(signature, data)
    except InvalidSignature:
        raise VerificationFailed(
            f"the signature of {what} does not match: the file was altered, or signed with another key"
        ) from None
