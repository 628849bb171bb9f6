"""A MIME walker that changes leaf parts in place and leaves every other byte of a message as it was.

The stdlib ``email`` package re-serialises what it parses (folding headers, choosing boundaries and encodings),
so it is used here only to read header fields. :func:`transform` splits a message (bytes) into its entities
itself: the headers and every delimiter, preamble and epilogue are copied byte for byte, and a leaf's body is
replaced only when the callback returns new bytes for it. Work is bounded on hostile input: a message over
:data:`Limits.message_bytes`, a header block over :data:`Limits.header_bytes`, entities nested deeper than
:data:`Limits.depth` or past the :data:`Limits.parts` budget are left unchanged, never an error.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import re
from collections.abc import Callable
from email.message import Message
from email.parser import BytesHeaderParser

_HEADER_END = re.compile(rb"\r?\n\r?\n")
MAX_LINE = 998  # RFC 5322 2.1.1: 7bit and 8bit lines never grow past this


@dataclasses.dataclass(frozen=True)
class Limits:
    message_bytes: int = 40 << 20
    header_bytes: int = 256 << 10
    depth: int = 12
    parts: int = 200
    leaf_bytes: int = 10 << 20  # a text part larger than this (decoded) is left as it is


@dataclasses.dataclass(frozen=True)
class Leaf:
    """A leaf entity handed to the callback: its parsed headers and its decoded body."""

    headers: Message
    body: bytes


LeafCallback = Callable[[Leaf], bytes | None]  # new decoded body, or None: leave the part as it is


def eol_of(message: bytes) -> bytes:
    end = message.find(b"\n")
    return b"\r\n" if end > 0 and message[end - 1 : end] == b"\r" else b"\n"


def headers_of(entity: bytes, limits: Limits = Limits()) -> tuple[Message, int] | None:
    """The entity's parsed header fields and where its body starts (None: no header block within the limit)."""
    if entity.startswith((b"\r\n", b"\n")):
        return BytesHeaderParser().parsebytes(b""), entity.index(b"\n") + 1
    found = _HEADER_END.search(entity, 0, limits.header_bytes)
    if found is None:
        return None
    return BytesHeaderParser().parsebytes(entity[: found.start()] + b"\n"), found.end()


def transform(message: bytes, callback: LeafCallback, limits: Limits = Limits()) -> bytes:
    if len(message) > limits.message_bytes:
        return message
    walker = _Walker(callback, limits, eol_of(message))
    return walker.entity(message, 0)


class _Walker:
    def __init__(self, callback: LeafCallback, limits: Limits, eol: bytes):
        self.callback, self.limits, self.eol, self.parts = callback, limits, eol, 0

    def entity(self, data: bytes, depth: int) -> bytes:
        self.parts += 1
        parsed = headers_of(data, self.limits)
        if parsed is None or depth > self.limits.depth or self.parts > self.limits.parts:
            return data
        headers, start = parsed
        body = data[start:]
        if headers.get_content_maintype() == "multipart":
            boundary = headers.get_param("boundary")
            if not isinstance(boundary, str) or not 0 < len(boundary) <= 200 or not boundary.isascii():
                return data
            new = self.multipart(body, boundary.encode("ascii"), depth + 1)
        elif headers.get_content_maintype() == "text":
            new = self.leaf(headers, body)
        else:
            return data
        return data if new is None or new == body else data[:start] + new

    def multipart(self, body: bytes, boundary: bytes, depth: int) -> bytes | None:
        delimiter = re.compile(rb"(?:\A|\r?\n)--" + re.escape(boundary) + rb"(--)?[ \t]*(?=\r?\n|\Z)")
        out: list[bytes] = []
        at = 0  # copied up to here
        start = None  # where the current part's content starts
        for match in delimiter.finditer(body):
            if start is not None:
                out += [body[at:start], self.entity(body[start : match.start()], depth)]
                at = match.start()
            if match.group(1):  # the close delimiter: the rest is the epilogue
                start = None
                break
            line_end = body.find(b"\n", match.end())
            start = len(body) if line_end < 0 else line_end + 1
        if start is not None:  # no close delimiter: the last part runs to the end
            out += [body[at:start], self.entity(body[start:], depth)]
            at = len(body)
        out.append(body[at:])
        return b"".join(out)

    def leaf(self, headers: Message, body: bytes) -> bytes | None:
        cte = str(headers.get("content-transfer-encoding", "7bit")).strip().lower()
        decoded = decode(body, cte)
        if decoded is None or len(decoded) > self.limits.leaf_bytes:
            return None
        new = self.callback(Leaf(headers, decoded))
        if new is None or new == decoded:
            return None
        return encode(new, cte, self.eol, body)


def decode(body: bytes, cte: str) -> bytes | None:
    """The body's content, or None for a transfer encoding this walker does not re-encode."""
    if cte in ("7bit", "8bit", "binary"):
        return body
    if cte == "quoted-printable":
        return binascii.a2b_qp(body)
    if cte == "base64":
        try:
            return binascii.a2b_base64(body)
        except binascii.Error:
            return None
    return None


def encode(data: bytes, cte: str, eol: bytes, original: bytes) -> bytes | None:
    """``data`` in the part's own transfer encoding, lines ending like the message's (None: it cannot be)."""
    if cte in ("7bit", "8bit", "binary"):
        longest = max(map(len, original.splitlines()), default=0)
        if cte != "binary" and max(map(len, data.splitlines()), default=0) > max(MAX_LINE, longest):
            return None
        return data
    ends = original.endswith(b"\n")
    if cte == "quoted-printable":
        encoded = binascii.b2a_qp(data.replace(b"\r\n", b"\n"), quotetabs=False, istext=True, header=False)
        lines = encoded.split(b"\n")
    else:
        text = base64.b64encode(data)
        lines = [text[i : i + 76] for i in range(0, len(text), 76)]
        if ends:
            lines.append(b"")
    joined = eol.join(lines)
    if cte == "quoted-printable" and ends and not joined.endswith(eol):
        joined += b"=" + eol  # a soft line break: the delimiter's own line break stays where it was
    return joined
