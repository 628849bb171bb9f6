"""A message as it goes out: line endings normalised, SMTP smuggling refused, dots stuffed.

SMTP smuggling hides a second message behind an end-of-data sequence written with a bare LF or CR
(``\\n.\\n``, ``\\r\\n.\\r``...) that one server reads as the end and the next does not. So every line ending
of what goes out is CRLF, and a dot that starts a line is doubled: no end-of-data can appear inside a message.

The header section (up to and including the first empty line) must use one line ending throughout: all CRLF,
or all LF (a file written on Unix), which is turned into CRLF. A bare CR anywhere in it, or LF mixed with
CRLF, refuses the message (:class:`~.errors.PolicyRefusal`): a header line that means different things to
different parsers is not guessed at. In the body every CR, LF or CRLF becomes CRLF, and the message ends with
CRLF. The result is the exact content sent after DATA (before dot-stuffing), which the archive keeps.
"""

from __future__ import annotations

import re

from ..masking import excerpt
from .errors import PolicyRefusal

_BLANK_LINE = re.compile(rb"\r?\n\r?\n")
_EOL = re.compile(rb"\r\n|\r|\n")
_ADDRESS_FORBIDDEN = re.compile(r"[\x00-\x20\x7f<>]")


def normalised(message: bytes) -> bytes:
    """``message`` with CRLF line endings (see the module docstring); PolicyRefusal for a malformed header."""
    if message.startswith((b"\r\n", b"\n")):
        end = 2 if message.startswith(b"\r\n") else 1  # no header fields: the empty line alone
    else:
        blank = _BLANK_LINE.search(message)
        end = blank.end() if blank else len(message)
    head, body = message[:end], message[end:]
    crlf = head.count(b"\r\n")
    if head.count(b"\r") != crlf:
        raise PolicyRefusal("the message's header section holds a bare CR (refused: SMTP smuggling)")
    if crlf and head.count(b"\n") != crlf:
        raise PolicyRefusal(
            "the message's header section mixes bare LF with CRLF line endings (refused: SMTP smuggling)"
        )
    if not crlf:
        head = head.replace(b"\n", b"\r\n")
    out = head + _EOL.sub(b"\r\n", body)
    return out if out.endswith(b"\r\n") or not out else out + b"\r\n"


def stuffed(data: bytes) -> bytes:
    """Normalised ``data`` as DATA sends it: each dot that starts a line doubled (RFC 5321 4.5.2), then ``.``CRLF."""
    data = data.replace(b"\r\n.", b"\r\n..")
    return (b"." if data.startswith(b".") else b"") + data + b".\r\n"


def checked_address(address: str, what: str) -> str:
    """``address`` unchanged, or PolicyRefusal if it could break out of its command (CR, LF, space, ``<``/``>``)."""
    if _ADDRESS_FORBIDDEN.search(address) or len(address) > 320:
        raise PolicyRefusal(
            f"the {what} address {excerpt(address)} is not a valid mailbox (control character, "
            "space, angle bracket, or over 320 characters)"
        )
    return address
