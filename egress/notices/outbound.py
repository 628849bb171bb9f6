"""POSTs to URLs that customers entered (webhooks, Slack): the SSRF guard and bounded retries, shared.

A customer-entered URL must not turn the notice job into a port scanner of its own network. By default
:class:`Poster` refuses, before connecting, any URL whose host is or resolves to a loopback, private,
link-local or otherwise non-public address, and checks the address it actually connected to as well
(DNS rebinding: a name can resolve to a public address for the check and to 127.0.0.1 a moment later).
``allow_private=True`` lifts this (tests, labs). Redirects are never followed.

A 2xx answer means delivered; 429, 5xx, timeouts and connection errors are retried with backoff
(1 s, 2 s, ...; honouring Retry-After up to 30 s), then reported as a transient failure; any other
answer is a permanent failure, at once. Messages name the URL only as its channel masks it.
"""

from __future__ import annotations

import email.utils
import socket
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from .. import __version__
from ..dates import utc_now
from ..errors import ConfigError, DeliveryError
from ..ipforms import is_public as is_public  # re-exported: the guard's rule, used by the published list's fetch too
from ..masking import excerpt, scrub
from .channels.base import url_kind

MAX_RETRY_AFTER_S = 30.0
USER_AGENT = f"smtp-egress/{__version__}"


def resolve(host: str, port: int) -> set[str]:
    """Every address ``host`` resolves to (a literal address resolves to itself, without DNS)."""
    return {str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)}


class BlockedAddress(Exception):
    """The connection went to a non-public address although the name resolved to a public one."""


class Poster:
    """POSTs for one channel (``what``, e.g. "webhook", starts every message), guarded and retried."""

    def __init__(
        self,
        what: str,
        *,
        schemes: tuple[str, ...] = ("http", "https"),
        timeout: float = 10.0,
        attempts: int = 3,
        sleep: Callable[[float], object] = time.sleep,
        session: requests.Session | None = None,
        allow_private: bool = False,
    ):
        if attempts < 1:
            raise ConfigError(f"{what} attempts must be at least 1, not {attempts!r}")
        self.what, self.schemes, self.timeout, self.attempts, self.sleep = what, schemes, timeout, attempts, sleep
        self.allow_private = allow_private
        self.session = session or (requests.Session() if allow_private else public_only_session())

    def post(
        self,
        url: str,
        where: str,
        body: bytes,
        headers: Callable[[], Mapping[str, str]],
        hint: Callable[[int, str], str] = lambda status, text: "",
    ) -> requests.Response:
        """POST ``body`` to ``url`` (``where``: the URL as messages show it) with ``headers()`` (called for
        every attempt); the 2xx response, else DeliveryError. ``hint(status, body)`` ends a permanent one."""
        self.check(url, where)
        last = ""
        for attempt in range(1, self.attempts + 1):
            delay = min(2.0 ** (attempt - 1), MAX_RETRY_AFTER_S)
            try:
                response = self.session.post(
                    url,
                    data=body,
                    headers={"User-Agent": USER_AGENT, **headers()},
                    timeout=self.timeout,
                    allow_redirects=False,
                )
            except BlockedAddress as exc:
                raise DeliveryError(f"{self.what} {where}: {exc}", permanent=True) from None
            except requests.Timeout:
                last = f"no answer within {self.timeout:g} s"
            except requests.RequestException as exc:
                last = f"connection failed: {scrub(_reason(exc), url, secret_path=True)}"
            else:
                status = response.status_code
                if 200 <= status < 300:
                    return response
                # The receiver's own words, bounded and quoted (it may echo the URL it was called at: scrubbed).
                said = excerpt(scrub(response.text[:2000], url, secret_path=True), 200)
                last = f"answered {status} {excerpt(response.reason or '', 60)[1:-1]}: {said}"
                if status != 429 and status < 500:
                    if 300 <= status < 400:
                        last += "; redirects are not followed, configure the final URL"
                    raise DeliveryError(f"{self.what} {where} {last}{hint(status, response.text)}", permanent=True)
                delay = _retry_after(response.headers.get("Retry-After"), delay)
            if attempt < self.attempts:
                self.sleep(delay)
        raise DeliveryError(f"{self.what} {where} failed after {self.attempts} attempts; last: {last}")

    def check(self, url: str, where: str) -> None:
        """Refuse (permanently) what must never be fetched: another scheme, a non-public address."""
        try:
            parts = urlsplit(url)
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise DeliveryError(f"{self.what} URL {where} does not parse", permanent=True) from None
        if parts.scheme not in self.schemes or not parts.hostname:
            raise DeliveryError(f"{self.what} URL {where} is not an {url_kind(self.schemes)} URL", permanent=True)
        if self.allow_private:
            return
        try:
            addresses = resolve(parts.hostname, port)
        except (socket.gaierror, UnicodeError) as exc:
            raise DeliveryError(f"{self.what} {where}: cannot resolve its host: {exc}") from None
        private = sorted(a for a in addresses if not is_public(a))
        if private:
            raise DeliveryError(
                f"{self.what} {where}: its host is or resolves to non-public address "
                f"{excerpt(', '.join(private), 100)[1:-1]}; refusing (loopback, private, link-local and "
                "metadata addresses, and IPv6 forms that carry one, are never contacted)",
                permanent=True,
            )

    def close(self) -> None:
        self.session.close()


def _retry_after(value: str | None, default: float) -> float:
    if not value:
        return default
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = (email.utils.parsedate_to_datetime(value) - utc_now()).total_seconds()
        except (TypeError, ValueError):
            return default
    return max(0.0, min(seconds, MAX_RETRY_AFTER_S))


def _reason(exc: BaseException) -> str:
    """The operating system's words at the bottom of ``exc``'s chain (``[Errno 111] Connection refused``): the
    HTTP libraries' own messages around it quote the URL's path and query, which may be the secret."""
    todo, seen = [exc], 0
    while todo and seen < 20:
        e, seen = todo.pop(0), seen + 1
        if isinstance(e, OSError) and not isinstance(e, requests.RequestException | urllib3.exceptions.HTTPError):
            return f"{type(e).__name__}: {e}"[:300]
        todo += [
            n for n in (e.__cause__, e.__context__, getattr(e, "reason", None), *e.args) if isinstance(n, BaseException)
        ]
    return type(exc).__name__


# The connection-level guard: these connection classes check the peer of the socket actually opened,
# before a byte of the request is sent.


class _GuardMixin:
    def _new_conn(self) -> socket.socket:
        sock: socket.socket = super()._new_conn()  # type: ignore[misc]
        peer = sock.getpeername()[0]
        if not is_public(peer):
            sock.close()
            raise BlockedAddress(f"connected to non-public address {peer}; refusing to send")
        return sock


class _GuardedHTTPConnection(_GuardMixin, HTTPConnection):
    pass


class _GuardedHTTPSConnection(_GuardMixin, HTTPSConnection):
    pass


class _GuardedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _GuardedHTTPConnection


class _GuardedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _GuardedHTTPSConnection


class _PublicOnlyAdapter(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _GuardedHTTPPool, "https": _GuardedHTTPSPool}


def public_only_session() -> requests.Session:
    """A session whose connections refuse (:class:`BlockedAddress`) a peer that is not public."""
    session = requests.Session()
    for prefix in ("http://", "https://"):
        session.mount(prefix, _PublicOnlyAdapter())
    return session
