"""Following a published list's redirects without becoming an SSRF tool: the rule, in one place.

:func:`guarded_get` GETs a source and follows at most :data:`MAX_REDIRECTS` redirects itself: within the configured
URL's own host and port (the operator named it: it may well be an internal server); to another host only over
http(s), never from https to http, and only when that host is and resolves to public addresses (the webhooks' SSRF
guard, :func:`smtp_egress.ipforms.is_public`), on a connection whose peer is checked again (DNS rebinding). A
redirect to loopback, a private network or the metadata address is :class:`RedirectRefused` (exit 3), before any
connection to it.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator, Mapping
from urllib.parse import urljoin, urlsplit

import requests

from smtp_egress.masking import excerpt, mask_url
from smtp_egress.notices.outbound import BlockedAddress, is_public, public_only_session, resolve

from .published_errors import RedirectRefused

MAX_REDIRECTS = 5
REDIRECTS = (301, 302, 303, 307, 308)


@contextlib.contextmanager
def guarded_get(
    session: requests.Session, source: str, *, headers: Mapping[str, str], timeout: float | tuple[float, float]
) -> Iterator[requests.Response]:
    """The streamed response at the end of ``source``'s allowed redirects (a redirect without a Location is
    the response); requests' own exceptions pass through, a refused redirect is RedirectRefused."""
    url, hops = source, 0
    while True:
        guarded = None if _same_origin(url, source) else public_only_session()
        try:
            try:
                resp = (guarded or session).get(
                    url, headers=dict(headers), timeout=timeout, stream=True, allow_redirects=False
                )
            except BlockedAddress as exc:  # the guarded session connected to a non-public peer (DNS rebinding)
                raise RedirectRefused(source, f"a redirect led to a host that {exc}") from None
            except ValueError:  # requests parses a redirect's Location even when it does not follow it
                raise RedirectRefused(source, "it redirected to a Location that does not parse") from None
            with resp:
                location = resp.headers.get("Location") if resp.status_code in REDIRECTS else None
                if location is None:
                    yield resp
                    return
        finally:
            if guarded is not None:
                guarded.close()
        hops += 1
        url = _follow(source, url, location, hops)


def _origin(url: str) -> tuple[str, int | None]:
    parts = urlsplit(url)
    return (parts.hostname or "").lower().rstrip("."), parts.port or (443 if parts.scheme == "https" else 80)


def _same_origin(url: str, source: str) -> bool:
    """The configured URL's own host and port (the operator named it: it may well be an internal server)."""
    return url == source or _origin(url) == _origin(source)


def _follow(source: str, current: str, location: str, hops: int) -> str:
    """The redirect's target, if it may be followed; RedirectRefused otherwise (see the module's docstring)."""
    try:
        target = urljoin(current, location.strip())
        parts = urlsplit(target)
        host, port = parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise RedirectRefused(source, "it redirected to a Location that does not parse") from None
    shown = mask_url(target)
    if hops > MAX_REDIRECTS:
        raise RedirectRefused(source, f"more than {MAX_REDIRECTS} redirects (the last to {shown})")
    if parts.scheme not in ("http", "https") or not host:
        raise RedirectRefused(source, f"it redirected to {excerpt(shown, 100)}, not an http(s) URL with a host")
    if urlsplit(current).scheme == "https" and parts.scheme == "http":
        raise RedirectRefused(source, f"it redirected from https to plain http ({excerpt(shown, 100)})")
    if _same_origin(target, source):
        return target
    try:
        addresses = resolve(host, port)
    except (socket.gaierror, UnicodeError):
        raise RedirectRefused(source, f"it redirected to {excerpt(shown, 100)}, whose host does not resolve") from None
    private = sorted(a for a in addresses if not is_public(a))
    if private:
        raise RedirectRefused(
            source,
            f"it redirected to {excerpt(shown, 100)}, whose host is or resolves to the non-public address "
            f"{excerpt(', '.join(private), 100)[1:-1]}; a redirect may lead to another host only if it is public "
            "(loopback, private, link-local and metadata addresses are never fetched): point --published at the "
            "final URL if it is yours",
        )
    return target
