"""What a tracked link may lead to: an absolute http(s) URL, normalised so that it can only ever be one.

:func:`destination` is applied when a link is signed and again when a click is answered, so a ``Location``
header never carries anything but such a URL: no other scheme (``javascript:``, ``data:``), no user info
(``https://bank.example@evil.example``), no host outside ASCII, no control character or space (CR and LF
cannot reach a header), at most :data:`MAX_DESTINATION` characters. Like a browser, it drops tabs and line
breaks anywhere in the URL and spaces at its ends, and percent-encodes (UTF-8) any other character that is not
printable ASCII. A link that is not such a URL is left as it is in the message, never tracked.
"""

from __future__ import annotations

import functools
import re
from urllib.parse import quote, urlsplit

MAX_DESTINATION = 2048
_DROPPED = re.compile(r"[\t\n\r]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_ENDS = "".join(map(chr, range(0x21)))  # C0 controls and space, stripped at both ends
_HOST = re.compile(r"[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]")
_SAFE = "!#$%&'()*+,-./:;=?@[]_~"  # printable ASCII kept as it is (letters and digits always are)


@functools.lru_cache(maxsize=4096)  # a campaign's links repeat for every recipient
def destination(raw: str) -> str | None:
    """The normalised http(s) URL ``raw`` stands for, or None when it is not one we redirect to."""
    url = _DROPPED.sub("", raw).strip(_ENDS)
    if len(url) > MAX_DESTINATION or _CONTROL.search(url):
        return None
    try:
        url.encode("utf-8")
    except UnicodeEncodeError:  # a byte the part's charset could not decode (a surrogate): not a URL we can quote
        return None
    scheme, sep, _ = url.partition("://")
    if not sep or scheme.lower() not in ("http", "https"):
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    netloc = parts.netloc
    if not netloc:
        return None
    host = netloc.rsplit(":", 1)[0] if port is not None or netloc.endswith(":") else netloc
    if not _HOST.fullmatch(host) or host.strip(".") == "":
        return None
    rest = url[len(scheme) + 3 + len(netloc) :]
    normal = f"{scheme.lower()}://{netloc.lower()}{quote(rest, safe=_SAFE)}"
    return normal if len(normal) <= MAX_DESTINATION else None
