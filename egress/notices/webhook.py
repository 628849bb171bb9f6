"""Signed webhook notices.

Each POST carries the JSON payload (compact, sorted keys) and::

    X-Egress-Timestamp: <unix seconds>
    X-Egress-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>." + body)>
    Idempotency-Key: <delivery_id>

Receivers check the signature with :func:`verify` (constant time, and rejects timestamps more than
five minutes away, so a captured request cannot be replayed later). A 2xx answer means delivered;
429, 5xx, timeouts and connection errors are retried with backoff (honouring Retry-After up to 30 s);
any other answer is a permanent failure. Redirects are not followed.

Webhook URLs are entered by customers, so by default the sender refuses (before connecting) any URL
whose host is or resolves to a loopback, private, link-local or otherwise non-public address, and
checks the address it actually connected to as well (DNS rebinding). ``allow_private=True`` lifts this.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
import hmac
import ipaddress
import json
import socket
import time
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from .. import __version__
from ..dates import utc_now
from ..errors import ConfigError, DeliveryError

MAX_RETRY_AFTER_S = 30.0


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>`` of HMAC-SHA256 over ``f"{timestamp}.".encode() + body``."""
    return "sha256=" + hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def verify(secret: bytes, timestamp: str, body: bytes, signature: str, *, now: dt.datetime | None = None,
           tolerance_s: float = 300) -> bool:
    """True when ``signature`` matches and ``timestamp`` is within ``tolerance_s`` of ``now`` (constant time)."""
    try:
        moment = int(timestamp)
    except (TypeError, ValueError):
        return False
    current = (now or utc_now()).timestamp()
    expected = sign(secret, timestamp, body).encode()
    good = hmac.compare_digest(expected, (signature or "").strip().encode("utf-8", "replace"))
    return good and abs(current - moment) <= tolerance_s


def is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


class BlockedAddress(Exception):
    """The connection went to a non-public address although the name resolved to a public one."""


class WebhookSender:
    def __init__(self, secret: bytes, *, timeout: float = 10.0, attempts: int = 3, sleep=time.sleep,
                 session: requests.Session | None = None, allow_private: bool = False):
        if not secret:
            raise ConfigError("the webhook signing secret is empty; set EGRESS_WEBHOOK_SECRET")
        if attempts < 1:
            raise ConfigError(f"webhook attempts must be at least 1, not {attempts!r}")
        self.secret, self.timeout, self.attempts, self.sleep = secret, timeout, attempts, sleep
        self.allow_private = allow_private
        self.session = session or requests.Session()
        if session is None and not allow_private:
            for prefix in ("http://", "https://"):
                self.session.mount(prefix, _PublicOnlyAdapter())
        self.user_agent = f"smtp-egress/{__version__}"

    def send(self, url: str, payload: dict, *, delivery_id: str, now: dt.datetime | None = None) -> None:
        where = self._check_url(url)
        body = json.dumps(payload, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode("utf-8")
        last = ""
        for attempt in range(1, self.attempts + 1):
            timestamp = str(int((now or utc_now()).timestamp()))
            headers = {
                "Content-Type": "application/json", "User-Agent": self.user_agent,
                "X-Egress-Timestamp": timestamp, "X-Egress-Signature": sign(self.secret, timestamp, body),
                "Idempotency-Key": delivery_id,
            }
            delay = min(2.0 ** (attempt - 1), MAX_RETRY_AFTER_S)
            try:
                response = self.session.post(url, data=body, headers=headers, timeout=self.timeout,
                                             allow_redirects=False)
            except BlockedAddress as exc:
                raise DeliveryError(f"webhook {where}: {exc}", permanent=True) from None
            except requests.Timeout:
                last = f"no answer within {self.timeout:g} s"
            except requests.RequestException as exc:
                last = f"connection failed: {_reason(exc)}"
            else:
                status = response.status_code
                if 200 <= status < 300:
                    return
                last = f"answered {status} {response.reason}: {response.text[:200]!r}"
                if status != 429 and status < 500:
                    if 300 <= status < 400:
                        last += "; redirects are not followed, configure the final URL"
                    raise DeliveryError(f"webhook {where} {last}", permanent=True)
                delay = _retry_after(response.headers.get("Retry-After"), delay)
            if attempt < self.attempts:
                self.sleep(delay)
        raise DeliveryError(f"webhook {where} failed after {self.attempts} attempts; last: {last}")

    def _check_url(self, url: str) -> str:
        """Refuse what must never be fetched; returns the URL without credentials or query, for messages."""
        try:
            parts = urlsplit(url)
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise DeliveryError("webhook URL does not parse", permanent=True) from None
        where = f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}{parts.path}"
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise DeliveryError(f"webhook URL {where!r} is not an http(s) URL", permanent=True)
        if self.allow_private:
            return where
        try:
            addresses = resolve(parts.hostname, port)
        except (socket.gaierror, UnicodeError) as exc:
            raise DeliveryError(f"webhook {where}: cannot resolve {parts.hostname!r}: {exc}") from None
        private = sorted(a for a in addresses if not is_public(a))
        if private:
            raise DeliveryError(f"webhook {where}: {parts.hostname!r} resolves to non-public address "
                                f"{', '.join(private)}; refusing (loopback, private and link-local "
                                "addresses are never contacted)", permanent=True)
        return where


def resolve(host: str, port: int) -> set[str]:
    """Every address ``host`` resolves to (a literal address resolves to itself, without DNS)."""
    return {info[4][0] for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)}


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


def _reason(exc: Exception) -> str:
    while exc.__context__ is not None and isinstance(exc, requests.RequestException):
        exc = exc.__context__
    return str(exc)[:300]


# The connection-level guard: the resolved address is checked above, but a name can resolve to a
# public address for the check and to 127.0.0.1 a moment later (DNS rebinding). These connection
# classes check the peer of the socket actually opened, before a byte of the request is sent.

class _GuardMixin:
    def _new_conn(self):
        sock = super()._new_conn()
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
    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _GuardedHTTPPool, "https": _GuardedHTTPSPool}
