"""Signed webhook notices.

Each POST carries the JSON payload (compact, sorted keys) and::

    X-Egress-Timestamp: <unix seconds>
    X-Egress-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>." + body)>
    Idempotency-Key: <delivery_id>

Receivers check the signature with :func:`verify` (constant time, and rejects timestamps more than
five minutes away, so a captured request cannot be replayed later). Delivery, retries and the SSRF guard
are :class:`~smtp_egress.notices.outbound.Poster`'s: a 2xx answer means delivered; 429, 5xx, timeouts and
connection errors are retried with backoff (honouring Retry-After up to 30 s); any other answer is a
permanent failure; redirects are not followed; URLs whose host is or resolves to a non-public address
are refused before connecting, and the connected peer is checked too (DNS rebinding), unless
``allow_private=True``. Messages show the URL masked (it may hold a token).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping

import requests

from ..dates import utc_now
from ..errors import ConfigError
from ..jsontypes import JSON
from .channels.base import mask_secret_url
from .outbound import Poster


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>`` of HMAC-SHA256 over ``f"{timestamp}.".encode() + body``."""
    return "sha256=" + hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def verify(
    secret: bytes,
    timestamp: str,
    body: bytes,
    signature: str,
    *,
    now: dt.datetime | None = None,
    tolerance_s: float = 300,
) -> bool:
    """True when ``signature`` matches and ``timestamp`` is within ``tolerance_s`` of ``now`` (constant time)."""
    try:
        moment = int(timestamp)
    except (TypeError, ValueError):
        return False
    current = (now or utc_now()).timestamp()
    expected = sign(secret, timestamp, body).encode()
    good = hmac.compare_digest(expected, (signature or "").strip().encode("utf-8", "replace"))
    return good and abs(current - moment) <= tolerance_s


class WebhookSender:
    def __init__(
        self,
        secret: bytes,
        *,
        timeout: float = 10.0,
        attempts: int = 3,
        sleep: Callable[[float], object] = time.sleep,
        session: requests.Session | None = None,
        allow_private: bool = False,
    ):
        if not secret:
            raise ConfigError("the webhook signing secret is empty; set EGRESS_WEBHOOK_SECRET")
        self.secret = secret
        self.poster = Poster(
            "webhook", timeout=timeout, attempts=attempts, sleep=sleep, session=session, allow_private=allow_private
        )

    def send(self, url: str, payload: Mapping[str, JSON], *, delivery_id: str, now: dt.datetime | None = None) -> None:
        body = json.dumps(payload, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode("utf-8")

        def headers() -> dict[str, str]:  # signed afresh for every attempt
            timestamp = str(int((now or utc_now()).timestamp()))
            return {
                "Content-Type": "application/json",
                "X-Egress-Timestamp": timestamp,
                "X-Egress-Signature": sign(self.secret, timestamp, body),
                "Idempotency-Key": delivery_id,
            }

        self.poster.post(url, mask_secret_url(url), body, headers)

    def close(self) -> None:
        self.poster.close()
