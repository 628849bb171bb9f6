"""DNS TXT values longer than one character-string: one rule for every TXT record the project builds.

A TXT record holds character-strings of at most 255 characters each; readers of a multi-string record (SPF,
RFC 7208 3.3, and the ``_egress`` record) concatenate them with nothing in between. :func:`txt_strings` cuts a
value between space-separated terms, each string keeping the space that starts its first term, so that joining
the strings gives the value back exactly; a single term longer than a string is cut inside it.
"""

from __future__ import annotations

TXT_STRING_MAX = 255


def txt_strings(value: str, limit: int = TXT_STRING_MAX) -> list[str]:
    """``value`` as character-strings of at most ``limit`` characters whose concatenation is ``value``."""
    chunks = [""]
    for i, term in enumerate(value.split(" ")):
        piece = term if i == 0 else " " + term
        if chunks[-1] and len(chunks[-1]) + len(piece) > limit:
            chunks.append("")
        while len(chunks[-1]) + len(piece) > limit:
            room = limit - len(chunks[-1])
            chunks[-1] += piece[:room]
            chunks.append("")
            piece = piece[room:]
        chunks[-1] += piece
    return chunks


def zone_file_value(value: str) -> str:
    """The value as a zone file (and most DNS consoles) write a TXT record: quoted strings, space-separated."""
    return " ".join('"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"' for s in txt_strings(value))
