"""The webhook channel: a signed JSON POST to the URL a workspace gave (:mod:`smtp_egress.notices.webhook`).

Column ``webhook_url`` (optional; http or https, any host: customers run their own receivers). One event
per batch and workspace: the payload (``"type": "ip_change_batch"``) lists every change of the batch with
its address, action and effective day, with the workspace and delivery ids; the delivery id is also the
``Idempotency-Key`` header, the same on every retry and every resend. Each URL is another server, so one
customer's dead endpoint never holds back anyone else's notice (no streak): notices go out several at once
(:mod:`.parallel`), at most two to one host, so an endpoint that never answers takes one slot while the
others' notices go past it. The URL may carry a token:
it is only ever shown masked. Preflight: the signing secret must be set when a workspace of the region
has a webhook URL.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING

from ...wording import count
from .base import Option, StackSecret, mask_secret_url, option_values, switch, url_problem
from .parallel import InParallel

if TYPE_CHECKING:
    from ...jsontypes import JSON
    from ...ledger import Delivery
    from ..render import RenderedNotice
    from ..webhook import WebhookSender


@dataclasses.dataclass(frozen=True)
class WebhookSettings:
    """``secret`` signs every POST (None: webhook deliveries fail until it is set); ``allow_private`` lets
    them reach loopback and private addresses (tests, labs)."""

    secret: bytes | None = dataclasses.field(repr=False)
    allow_private: bool


class WebhookChannel:
    name = "webhook"
    column = "webhook_url"
    required = False
    example = "https://hooks.customer.example/smtp-egress/3f9c2a7e"
    summary = (
        "a JSON POST signed with `X-Egress-Timestamp` and `X-Egress-Signature: sha256=HMAC(secret, "
        '"<timestamp>." + body)`'
    )
    idempotency = (
        "the `Idempotency-Key` header (the delivery id, deterministic per (batch, workspace), also in the payload)"
    )
    options = (
        Option(
            "secret",
            "EGRESS_WEBHOOK_SECRET",
            "HMAC-SHA256 key for webhook signatures; needed when a workspace has a webhook URL",
        ),
        Option(
            "allow_private",
            "EGRESS_WEBHOOK_ALLOW_PRIVATE",
            "`1` lets webhooks reach loopback/private addresses "
            "(tests, labs); by default they are refused before connecting (SSRF)",
        ),
    )
    secrets = (
        StackSecret(
            "EGRESS_WEBHOOK_SECRET",
            "webhookSecret",
            False,
            "signs webhook notices; needed when a workspace has a webhook URL",
        ),
    )

    def problem(self, target: str) -> str | None:
        return url_problem(target, ("https", "http"))

    def mask(self, target: str) -> str:
        return mask_secret_url(target)

    def settings(self, values: Mapping[str, str | None], sources: Mapping[str, str] | None = None) -> WebhookSettings:
        v = option_values(self.options, values)
        return WebhookSettings(
            secret=(v["secret"] or "").encode() or None,
            allow_private=switch(self.options, values, sources, "allow_private"),
        )

    def preflight(self, settings: WebhookSettings, targets: int) -> None:
        from ...errors import ConfigError

        if targets and not settings.secret:
            raise ConfigError(
                f"{count(targets, 'workspace')} of the region {'has' if targets == 1 else 'have'} a webhook URL, but "
                "EGRESS_WEBHOOK_SECRET is not set, so "
                "their notices could not be signed; set it (the stack secret smtp-egress:webhookSecret)"
            )

    def open(self, settings: WebhookSettings) -> WebhookChannelSender:
        from ..webhook import WebhookSender

        http = WebhookSender(settings.secret, allow_private=settings.allow_private) if settings.secret else None
        return WebhookChannelSender(http)


class WebhookChannelSender(InParallel):
    """Webhook notices, several in flight at once, at most two per host (:func:`~.parallel.send_in_parallel`)."""

    def __init__(self, http: WebhookSender | None):
        self.http = http

    def held(self, d: Delivery) -> str | None:
        return None  # each URL is a customer's own: one that fails never holds back another (no streak)

    def delivered(self, d: Delivery) -> bool:
        return False  # a receiver cannot be asked; it can recognise a resend by its Idempotency-Key

    def send(self, d: Delivery, notice: RenderedNotice, now: dt.datetime) -> None:
        from ...errors import DeliveryError

        if self.http is None:
            raise DeliveryError("no webhook signing secret is configured (set EGRESS_WEBHOOK_SECRET)")
        self.http.send(d.target, render(notice, d), delivery_id=delivery_id(d))

    def close(self) -> None:
        if self.http is not None:
            self.http.close()


def render(notice: RenderedNotice, d: Delivery) -> dict[str, JSON]:
    """The JSON payload for ``d``: the notice's facts, the workspace and the delivery id."""
    return notice.webhook_payload(workspace_id=d.workspace_id, delivery_id=delivery_id(d))


def delivery_id(d: Delivery) -> str:
    """The Idempotency-Key: the delivery's Message-ID without its angle brackets (the same on every resend)."""
    return d.message_id.strip("<>")


CHANNEL = WebhookChannel()
