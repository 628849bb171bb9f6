"""Finding the links of an HTML or plain-text body and replacing them, one callback per link.

HTML: the ``href`` of every ``<a>``, ``<area>`` and VML (``<v:...>``, Outlook's buttons) tag, in any case,
quoted with ``"``, ``'`` or not at all, with character references decoded (``&amp;``) before the callback sees
the URL. Comments, ``<script>`` and ``<style>`` are skipped; conditional comments (``<!--[if mso]>``) are read as
markup. A link is never tracked (the callback is not even asked) when its tag has a ``data-no-track`` attribute,
or when its attributes or (for ``<a>``) its text say unsubscribe (:data:`UNSUBSCRIBE`). Plain text: every
``http://`` or ``https://`` URL, without the punctuation that ends a sentence around it; one preceded by an
unsubscribe word within :data:`CONTEXT` characters is left alone. The scan is linear in the body's length.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable

# Words that mark an unsubscribe (or opt-out) link, compared case-insensitively; tracking one would put the
# tracker in the way of a recipient leaving a list.
UNSUBSCRIBE = re.compile(
    r"unsubscri|opt[ -]?out|abmelden|abbestellen|d[ée]sabonn|d[ée]sinscri|darse de baja|cancelar (?:la )?suscrip|"
    r"uitschrijven|afmelden|disiscriv|annulla l'iscrizione|avregistrer|afmeld",
    re.IGNORECASE,
)
NO_TRACK = "data-no-track"
CONTEXT = 100  # characters before a plain-text URL searched for an unsubscribe word
LINK_TEXT = 4096  # characters after <a ...> searched for </a> (the link's text)

Track = Callable[[str], str | None]  # the URL as written (decoded) -> its replacement, or None: leave it

_TAG = re.compile(r"<(!--|/?[A-Za-z][A-Za-z0-9:._-]*)")
_ATTR = re.compile(r"""([^\s"'>/=][^\s"'>/=]*)(?:\s*=\s*("[^"]*"|'[^']*'|[^\s>]*))?""")
_GAP = re.compile(r"[\s/]*")
_BODY_END = re.compile(r"</body", re.IGNORECASE)
_CLOSE_A = re.compile(r"</a[\s>]", re.IGNORECASE)
_URL = re.compile(r"https?://[^\s<>\"'`\x00-\x1f\x7f]+", re.IGNORECASE)
_TRAILING = ".,;:!?'\")]}*_"
_RAW_TEXT = {"script": re.compile(r"</script", re.IGNORECASE), "style": re.compile(r"</style", re.IGNORECASE)}


def _tracked_tag(name: str) -> bool:
    return name in ("a", "area") or name.startswith("v:")


def rewrite_html(text: str, track: Track, wrap: str = "") -> str:
    """``text`` with each tracked link's ``href`` value replaced; ``wrap`` (a line break) is put around each new
    value (whitespace around an attribute's ``=`` means nothing in HTML), so that no line grows by more than
    the value itself: for parts sent without a transfer encoding, whose lines must stay under 998 octets."""
    out: list[str] = []
    copied = pos = 0
    while (tag := _TAG.search(text, pos)) is not None:
        name = tag.group(1).lower()
        if name == "!--":
            if text.startswith("[if", tag.end()):
                pos = tag.end()
            else:
                closing = text.find("-->", tag.end())
                pos = len(text) if closing < 0 else closing + 3
            continue
        if name in _RAW_TEXT:
            close = _RAW_TEXT[name].search(text, tag.end())
            pos = len(text) if close is None else close.start()
            continue
        attrs, end = _attributes(text, tag.end())
        if end is None:
            break  # a tag that never ends: the rest of the body is inside it
        pos = end
        href = attrs.get("href")
        if not _tracked_tag(name) or href is None or _no_track(attrs, text, end, name):
            continue
        start, stop = href
        value = text[start:stop]
        if value[:1] in ("'", '"'):
            value = value[1:-1]
        new = track(html.unescape(value))
        if new is not None:
            out += [text[copied:start], f'{wrap}"{new}"{wrap}']
            copied = stop
    out.append(text[copied:])
    return "".join(out)


def _attributes(text: str, pos: int) -> tuple[dict[str, tuple[int, int]], int | None]:
    """Each attribute's value span (the first of a name counts, as in browsers), and where the tag ends."""
    attrs: dict[str, tuple[int, int]] = {}
    while (pos := _GAP.match(text, pos).end()) < len(text):  # type: ignore[union-attr]
        if text[pos] == ">":
            return attrs, pos + 1
        attr = _ATTR.match(text, pos)
        if attr is None:
            pos += 1
            continue
        name = attr.group(1).lower()
        if name not in attrs:
            attrs[name] = attr.span(2) if attr.group(2) is not None else (attr.end(), attr.end())
        pos = attr.end()
    return attrs, None


def _no_track(attrs: dict[str, tuple[int, int]], text: str, end: int, name: str) -> bool:
    if NO_TRACK in attrs:
        return True
    if any(UNSUBSCRIBE.search(text[a:b]) for key, (a, b) in attrs.items() if key != "href"):
        return True
    if name == "a":
        close = _CLOSE_A.search(text, end, end + LINK_TEXT)
        inner = text[end : close.start()] if close else ""
        return bool(UNSUBSCRIBE.search(re.sub(r"<[^>]*>", " ", inner)))
    return False


def rewrite_text(text: str, track: Track) -> str:
    out: list[str] = []
    copied = 0
    for found in _URL.finditer(text):
        url = _trim(found.group())
        start, stop = found.start(), found.start() + len(url)
        if UNSUBSCRIBE.search(text, max(0, start - CONTEXT), start):
            continue
        new = track(url)
        if new is not None:
            out += [text[copied:start], new]
            copied = stop
    out.append(text[copied:])
    return "".join(out)


def _trim(url: str) -> str:
    """A URL without the punctuation written after it (a closing parenthesis only when it opens none)."""
    while url and url[-1] in _TRAILING:
        if url[-1] == ")" and url.count("(") >= url.count(")"):
            break
        url = url[:-1]
    return url


def add_pixel(text: str, img: str) -> str:
    """``img`` just before ``</body>`` (the last one), or at the end when there is none."""
    last = None
    for last in _BODY_END.finditer(text):  # noqa: B007 (the last one is wanted)
        pass
    return text + img if last is None else text[: last.start()] + img + text[last.start() :]
