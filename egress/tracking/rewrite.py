"""The link rewriter: one recipient's copy of a message with its links tracked and an open pixel added.

:func:`rewrite_links` is what the delivery worker calls, once per recipient, before the message is signed (DKIM)
and sent. In every ``text/html`` and ``text/plain`` part that is not an attachment, each ``http(s)`` link becomes
``https://<tracking domain>/c/<token>`` (the token signs the message id, the recipient, the link's index in the
message and its destination: :mod:`~smtp_egress.tracking.tokens`), and every HTML part gets a 1x1 image
``https://<tracking domain>/o/<token>.gif`` before ``</body>``.

Left alone: ``mailto:`` and every other scheme, anchors (``#top``), relative links; the URLs of the message's
``List-Unsubscribe`` header and any link whose URL, tag or text says unsubscribe, or whose tag has
``data-no-track`` (:mod:`~smtp_egress.tracking.links`); links that are not a valid absolute http(s) URL
(:mod:`~smtp_egress.tracking.destinations`); parts in a charset that is not ASCII-compatible (UTF-16, UTF-7),
unknown, or that would not give the part's bytes back unchanged (``unicode_escape``), or in a transfer encoding
other than 7bit, 8bit, binary, quoted-printable and base64; attached messages (``message/rfc822``); links past
the :data:`MAX_LINKS`-th. A changed part keeps its charset and transfer encoding
(re-encoded with it; a 7bit or 8bit part whose lines would grow past 998 characters is left as it was); every
other byte of the message is copied as it was (:mod:`~smtp_egress.tracking.mime`). Malformed or hostile input is
never an error: what cannot be read safely is left unchanged.
"""

from __future__ import annotations

import codecs
import re

from .destinations import destination
from .links import UNSUBSCRIBE, add_pixel, rewrite_html, rewrite_text
from .mime import Leaf, headers_of, transform
from .tokens import TokenSigner, TokenValueError

MAX_LINKS = 500
_DOMAIN = re.compile(r"(?=.{1,253}\Z)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+")
_PROBE = 'https://x.example/c/AZaz09-_.gif<img src="" width="1" height="1" alt="" style="display:block;border:0">'
_UNSUB_URL = re.compile(r"<([^<>]{1,2048})>")


class TrackingDomainError(ValueError):
    """The tracking domain is not a lowercase A-label host name."""


class TrackingValueError(TokenValueError):
    """The message id or the recipient cannot be put in a token (empty, or longer than the ledger keeps)."""


def rewrite_links(
    message: bytes, *, tracking_domain: str, message_id: str, recipient: str, signer: TokenSigner
) -> bytes:
    """``message`` with its links tracked for ``recipient`` on ``tracking_domain`` (see the module)."""
    if not _DOMAIN.fullmatch(tracking_domain):
        raise TrackingDomainError(f"the tracking domain {tracking_domain[:80]!r} is not a lowercase A-label host name")
    try:
        pixel = signer.open(domain=tracking_domain, message_id=message_id, recipient=recipient)
    except TokenValueError as exc:
        raise TrackingValueError(str(exc)) from None
    rewriter = _Rewriter(message, tracking_domain, message_id, recipient, signer)
    rewriter.pixel = _pixel(f"https://{tracking_domain}/o/{pixel}.gif")
    return transform(message, rewriter.leaf)


class _Rewriter:
    def __init__(self, message: bytes, domain: str, message_id: str, recipient: str, signer: TokenSigner):
        self.domain, self.message_id, self.recipient, self.signer = domain, message_id, recipient, signer
        self.index = 0
        self.pixel = ""  # the open pixel's <img> tag
        self.unsubscribe = _list_unsubscribe(message)

    def leaf(self, leaf: Leaf) -> bytes | None:
        subtype = leaf.headers.get_content_subtype()
        if subtype not in ("html", "plain") or leaf.headers.get_content_disposition() == "attachment":
            return None
        charset = _charset(leaf.headers.get_content_charset() or "us-ascii")
        if charset is None:
            return None
        text = leaf.body.decode(charset, "surrogateescape")
        if text.encode(charset, "surrogateescape") != leaf.body:  # a codec that would change untouched bytes
            return None
        if subtype == "plain":
            new = rewrite_text(text, self.track)
        else:
            cte = str(leaf.headers.get("content-transfer-encoding", "7bit")).strip().lower()
            wrap = ("\r\n" if "\r\n" in text else "\n") if cte in ("7bit", "8bit") else ""
            new = rewrite_html(text, self.track, wrap)
            new = add_pixel(new, wrap + self.pixel + wrap)
        return None if new == text else new.encode(charset, "surrogateescape")

    def track(self, url: str) -> str | None:
        target = destination(url)
        if target is None or target in self.unsubscribe or UNSUBSCRIBE.search(target) or self.index >= MAX_LINKS:
            return None
        try:
            token = self.signer.click(
                domain=self.domain,
                message_id=self.message_id,
                recipient=self.recipient,
                link_index=self.index,
                destination=target,
            )
        except TokenValueError:
            return None
        self.index += 1
        return f"https://{self.domain}/c/{token}"


def _pixel(src: str) -> str:
    return f'<img src="{src}" width="1" height="1" alt="" style="display:block;border:0">'


def _charset(name: str) -> str | None:
    """The codec for ``name`` when it writes everything the rewriter inserts as ASCII does (None: leave the part)."""
    try:
        codec = codecs.lookup(name).name
    except (LookupError, ValueError):
        return None
    try:
        same = _PROBE.encode(codec) == _PROBE.encode("ascii")
    except (UnicodeError, LookupError, ValueError):
        return None
    return codec if same and not codec.startswith(("utf-16", "utf-32", "utf-7")) else None


def _list_unsubscribe(message: bytes) -> frozenset[str]:
    """The http(s) URLs of the message's ``List-Unsubscribe`` header, normalised as destinations are."""
    parsed = headers_of(message)
    if parsed is None:
        return frozenset()
    found = set()
    for value in parsed[0].get_all("list-unsubscribe") or []:
        for url in _UNSUB_URL.findall(str(value)):
            normal = destination(url)
            if normal is not None:
                found.add(normal)
    return frozenset(found)
