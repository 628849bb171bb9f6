"""Signed tracking tokens: what ``/c/<token>`` and ``/o/<token>.gif`` carry.

A token is base64url (no padding) of a small binary payload followed by a 16-byte tag:

- payload: version (1), kind (``c`` click, ``o`` open), the key id, the link's index (2 bytes), then the message
  id, the recipient and (clicks only) the destination, each as 2-byte length + UTF-8;
- tag: HMAC-SHA256 of a context string, the tracking domain the link was issued for, and the payload, under the
  key the payload names, truncated to 128 bits (as RFC 4868 truncates HMAC-SHA-256), compared in constant time.

The token carries the destination, so the tracker needs no lookup to redirect, and only a destination that was
in the message when it was signed can be reached: changing one byte breaks the tag. The tracking domain is part
of the tag but not of the payload, so a link answers only on the domain it was issued for. Tokens are signed, not
encrypted: whoever has the link can read its recipient and destination (they are in the message already).
Every malformed, tampered, wrong-kind, wrong-domain or unknown-key token is the same :class:`InvalidToken`.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import hmac
import struct
from typing import Literal

from .destinations import destination as normal_destination
from .keys import Keyring, TrackingKey

Kind = Literal["click", "open"]
VERSION = 1
TAG_BYTES = 16
MAX_TOKEN_CHARS = 4096
MAX_FIELD = 2048
MAX_MESSAGE_ID = 500  # characters, as the ledger's tracking_events stores them
MAX_RECIPIENT = 320
_CONTEXT = b"smtp-egress tracking token v1\x00"
_KINDS: dict[Kind, bytes] = {"click": b"c", "open": b"o"}


class InvalidToken(Exception):
    """Not a token this keyring signed for this domain and kind (no detail: a forger learns nothing)."""


class TokenValueError(ValueError):
    """A value that cannot be put in a token (too long, not an http(s) destination)."""


@dataclasses.dataclass(frozen=True)
class Claims:
    kind: Kind
    key_id: str
    message_id: str
    recipient: str
    link_index: int | None
    destination: str | None


def _field(text: str) -> bytes:
    data = text.encode("utf-8")
    if len(data) > MAX_FIELD:
        raise TokenValueError(f"a token field is at most {MAX_FIELD} bytes ({len(data)} given)")
    return struct.pack(">H", len(data)) + data


def _tag(key: TrackingKey, domain: str, payload: bytes) -> bytes:
    message = _CONTEXT + domain.lower().encode("ascii", "replace") + b"\x00" + payload
    return hmac.new(key.secret, message, hashlib.sha256).digest()[:TAG_BYTES]


class TokenSigner:
    """Signs tokens with the keyring's current key; verifies those of any of its keys."""

    def __init__(self, keyring: Keyring):
        self.keyring = keyring

    def click(self, *, domain: str, message_id: str, recipient: str, link_index: int, destination: str) -> str:
        normal = normal_destination(destination)
        if normal is None:
            raise TokenValueError("a click token's destination must be an absolute http(s) URL")
        return self._sign(domain, "click", link_index, message_id, recipient, normal)

    def open(self, *, domain: str, message_id: str, recipient: str) -> str:
        return self._sign(domain, "open", 0, message_id, recipient, None)

    def _sign(self, domain: str, kind: Kind, index: int, message_id: str, recipient: str, dest: str | None) -> str:
        if not 0 <= index <= 0xFFFF:
            raise TokenValueError(f"a link index is 0 to 65535 ({index} given)")
        if not 0 < len(message_id) <= MAX_MESSAGE_ID or not 0 < len(recipient) <= MAX_RECIPIENT:
            raise TokenValueError(
                f"a message id is 1 to {MAX_MESSAGE_ID} characters ({len(message_id)} given), a recipient 1 to "
                f"{MAX_RECIPIENT} ({len(recipient)} given)"
            )
        key = self.keyring.current
        kid = key.key_id.encode("ascii")
        payload = bytes([VERSION]) + _KINDS[kind] + bytes([len(kid)]) + kid + struct.pack(">H", index)
        payload += _field(message_id) + _field(recipient) + (_field(dest) if dest is not None else b"")
        return base64.urlsafe_b64encode(payload + _tag(key, domain, payload)).decode("ascii").rstrip("=")

    def verify(self, token: str, *, domain: str, kind: Kind) -> Claims:
        """The token's claims, or :class:`InvalidToken`."""
        if not 0 < len(token) <= MAX_TOKEN_CHARS or not token.isascii():
            raise InvalidToken
        try:
            raw = base64.b64decode(token + "=" * (-len(token) % 4), altchars=b"-_", validate=True)
        except (binascii.Error, ValueError):
            raise InvalidToken from None
        if base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=") != token:  # one spelling per token
            raise InvalidToken
        if len(raw) < TAG_BYTES + 6 or raw[0] != VERSION or raw[1:2] != _KINDS[kind]:
            raise InvalidToken
        payload, tag = raw[:-TAG_BYTES], raw[-TAG_BYTES:]
        kid_len = payload[2]
        key = self.keyring.get(payload[3 : 3 + kid_len].decode("ascii", "replace"))
        if key is None or not hmac.compare_digest(_tag(key, domain, payload), tag):
            raise InvalidToken
        try:
            return _claims(kind, key.key_id, payload[3 + kid_len :])
        except (struct.error, UnicodeDecodeError, IndexError):
            raise InvalidToken from None


def _claims(kind: Kind, key_id: str, body: bytes) -> Claims:
    (index,) = struct.unpack_from(">H", body)
    at, fields = 2, []
    for _ in range(3 if kind == "click" else 2):
        (size,) = struct.unpack_from(">H", body, at)
        if at + 2 + size > len(body):
            raise IndexError
        fields.append(body[at + 2 : at + 2 + size].decode("utf-8"))
        at += 2 + size
    if at != len(body):
        raise IndexError
    if kind == "open":
        return Claims(kind, key_id, fields[0], fields[1], None, None)
    dest = normal_destination(fields[2])
    if dest is None or dest != fields[2]:
        raise IndexError
    return Claims(kind, key_id, fields[0], fields[1], index, dest)
