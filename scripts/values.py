"""Values given on the command line or in the environment: where each came from, and checking them there.

Every message about a bad value names the flag or environment variable it was actually read from (never
"--x / ENV_X") and quotes a short excerpt of the value. A flag wins over its environment variable, which wins
over the default; an environment variable set to the empty string counts as not set.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from smtp_egress.errors import ConfigError, EgressError, InputError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

# The days a date option may name: far enough apart for any plan, near enough that adding a notice period
# or a year to them stays a date.
FIRST_DAY, LAST_DAY = dt.date(1970, 1, 1), dt.date(9000, 12, 31)
KEY_LIMIT = 64 * 1024  # an Ed25519 key in PEM is ~120 bytes; a bigger file is not a key


@dataclasses.dataclass(frozen=True)
class Setting:
    """A value and where it came from: a flag (``--base-url``), an environment variable, or None (the default)."""

    value: str | None
    source: str | None = None

    @property
    def given(self) -> bool:
        return self.source is not None

    def named(self, what: str = "") -> str:
        """``--base-url 'ftp://x'``, ``EGRESS_BASE_URL 'ftp://x'``, or ``the default {what} 'x'``; a URL's
        credentials masked (a value that fails to parse may still hold a password)."""
        from smtp_egress.masking import mask_url

        value = mask_url(self.value) if self.value is not None and "://" in self.value else self.value
        return f"{self.source or f'the default {what}'.rstrip()} {excerpt(value)}"


def setting(flag_value: str | None, flag: str | None, env: str | None, default: str | None = None) -> Setting:
    """The flag's value when given, else the environment variable's when set and not empty, else ``default``."""
    if flag_value is not None:
        return Setting(flag_value, flag)
    if env is not None and os.environ.get(env):
        value = os.environ[env]
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # bytes that are not UTF-8 reach Python as lone surrogates
            raise ConfigError(f"{env} is not valid UTF-8 text; set it to a text value") from None
        return Setting(value, env)
    return Setting(default, None)


def excerpt(value: object, limit: int = 80) -> str:
    """A given value (a flag's or a variable's text) quoted in a message: a bounded ``repr``, never the whole input."""
    from smtp_egress.masking import excerpt as bounded

    return bounded(str(value), limit)


class Named(EgressError):
    """An error that arose from one given value, with the flag or variable it came from in front."""

    def __init__(self, source: str, cause: EgressError):
        self.exit_code = cause.exit_code
        self.cause = cause
        super().__init__(f"{source}: {cause}")


@contextlib.contextmanager
def naming(source: str | None) -> Iterator[None]:
    """Put ``source`` (a flag or variable) in front of any error the block raises about its value, unless the
    message names it already."""
    try:
        yield
    except EgressError as exc:
        raise blame(source, exc) from None


def blame(source: str | None, exc: EgressError) -> EgressError:
    """``exc`` with ``source`` in front of its message (the same exit code), unless it names it already."""
    return exc if not source or source in str(exc) else Named(source, exc)


def day_value(text: str, source: str) -> dt.date:
    """A strict YYYY-MM-DD day between :data:`FIRST_DAY` and :data:`LAST_DAY`; InputError naming ``source``."""
    from smtp_egress.dates import parse_day

    day = parse_day(text, where=source)
    if not FIRST_DAY <= day <= LAST_DAY:
        raise InputError(
            f"{source}: {text!r} is out of range; give a day from {FIRST_DAY.isoformat()} to {LAST_DAY.isoformat()}"
        )
    return day


def read_key(s: Setting, what: str) -> tuple[bytes, str]:
    """The bytes of the key file ``s`` names (at most :data:`KEY_LIMIT`), and how messages name it."""
    assert s.value is not None
    where = f"{excerpt(s.value)} ({s.source or 'the default'})"
    if not s.value:
        raise ConfigError(f"{s.source}: the {what} path is empty; give the path of a PEM file")
    try:
        with open(s.value, "rb") as f:
            data = f.read(KEY_LIMIT + 1)
    except OSError as exc:
        raise ConfigError(f"{s.source}: cannot read the {what} {where}: {exc.strerror or exc}") from None
    if len(data) > KEY_LIMIT:
        raise ConfigError(f"{s.source}: the {what} {where} is larger than {KEY_LIMIT} bytes: it is not a PEM key")
    return data, where


def private_key(s: Setting) -> Ed25519PrivateKey | None:
    """The Ed25519 signing key at the path ``s`` names (None when it names none)."""
    from smtp_egress.signing import private_key_from_pem

    if s.value is None:
        return None
    data, where = read_key(s, "signing key")
    return private_key_from_pem(data, where)


def public_key(s: Setting) -> Ed25519PublicKey:
    """The Ed25519 public key at the path ``s`` names."""
    from smtp_egress.signing import public_key_from_pem

    data, where = read_key(s, "public key")
    return public_key_from_pem(data, where)


def http_url(s: Setting, what: str) -> str:
    """``s``'s value when it is an absolute http(s) URL with a host; ConfigError naming where it came from."""
    from urllib.parse import urlsplit

    value = s.value or ""
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        parts, port = None, None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{s.named(what)} is not an http(s) URL with a host, e.g. https://ips.example.com")
    del port
    return value


def source_url(s: Setting, what: str) -> str:
    """A document's source, a file path or a URL: a URL (``scheme://``) must parse; ConfigError naming ``s``."""
    from urllib.parse import urlsplit

    value = s.value or ""
    if not value:
        raise ConfigError(f"{s.source}: the {what} is empty; give an http(s) URL or a file path")
    if "://" in value:
        try:
            urlsplit(value).port  # noqa: B018 - parsing the port is the check
        except ValueError:
            raise ConfigError(f"{s.named(what)} is not a valid URL; give an http(s) URL or a file path") from None
    return value


def directory(value: str, flag: str) -> Path:
    """The output directory ``value`` (created later); ConfigError when it is empty or names a file."""
    if not value:
        raise ConfigError(f"{flag}: the directory is empty; give the directory to write into")
    path = Path(value)
    try:
        a_file = path.exists() and not path.is_dir()
    except (OSError, ValueError) as exc:  # a path no file system takes (too long)
        raise ConfigError(f"{flag} {excerpt(value)}: {getattr(exc, 'strerror', None) or exc}") from None
    if a_file:
        raise ConfigError(f"{flag} {excerpt(value)} is a file, not a directory; give a directory (it may not exist)")
    return path


def output_file(value: str | None, flag: str = "--out") -> str | None:
    """``value`` when it can name a file to write (checked before any work is done); ConfigError naming ``flag``."""
    if value is None:
        return None
    if not value:
        raise ConfigError(f"{flag}: the file name is empty")
    try:
        path = Path(value)
        exists, is_dir, is_file = path.exists(), path.is_dir(), path.is_file()
    except (OSError, ValueError):
        exists = is_dir = is_file = False  # writing it says why not
    if is_dir:
        raise ConfigError(f"{flag} {excerpt(value)} is a directory; give a file name")
    if exists and not is_file:  # a device (/dev/null), a pipe, a socket: the atomic rename would replace it
        raise ConfigError(
            f"{flag} {excerpt(value)} is not a regular file (a device or a pipe), and the file is written by "
            "replacing it; leave --out out to print on stdout, or give a file name"
        )
    return value


def write_output(value: str, data: bytes, flag: str = "--out") -> None:
    """Write ``data`` atomically to the file ``value`` of ``flag``; ConfigError naming the flag."""
    from smtp_egress.files import write_atomic

    output_file(value, flag)
    with naming(flag):
        write_atomic(Path(value), data)
