"""The Slack channel: a Block Kit message posted to the workspace's Slack incoming-webhook URL.

Column ``slack_webhook_url`` (optional; https only, any host: Enterprise Grid workspaces and proxies differ
from ``hooks.slack.com``). Whoever has the URL can post into that Slack channel: it is a credential, only
ever shown masked. The URL's host is guarded as webhooks' are (:mod:`smtp_egress.notices.outbound`): a
name that resolves to a loopback, private or link-local address is refused before connecting, and the
connected peer is checked too (DNS rebinding). ``EGRESS_SLACK_ALLOW_PRIVATE=1`` lifts that for tests and
labs: a switch of its own, so letting webhooks reach a lab's private receivers never opens Slack URLs too.
A private CA (a TLS-inspecting proxy, a test server) is trusted through ``REQUESTS_CA_BUNDLE``.

The message (:func:`render`), one per batch and workspace: a header (the notice's subject), a section saying
what to do (with the address, action, effective date and region as fields for a single change; a list of
every change, each with its address, action and effective day, for several), a context line linking the
published list and the changes feed and naming the changes and the delivery id, and a plain ``text``
fallback for notifications.
Every piece of content is escaped for Slack's mrkdwn (``&``, ``<``, ``>``), so a reason such as
``<!channel>`` cannot mention anyone.

Slack answers 200 ``ok``. 400 ``invalid_payload``, 403 ``invalid_token``, 404 ``no_service`` and 410
``channel_is_archived`` (any other 4xx too) are permanent: the workspace has to give a new URL. 429
(honouring Retry-After up to 30 s) and 5xx are retried twice with backoff, then left for the next run;
after :data:`MAX_CONSECUTIVE_TRANSIENT` transient failures in a row at one host (usually every URL is on
``hooks.slack.com``) the rest for that host stay pending for the next run. Up to two messages are in flight
per host at once (:mod:`.parallel`), so one URL that never answers does not hold the others back.

Idempotency: Slack's incoming webhooks have no idempotency key. The delivery id (the email's Message-ID
without brackets) is in every message's context line, so a notice resent after a crash between Slack's
``ok`` and the ledger's commit (a window of microseconds) shows the same id twice.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .base import Option, Streak, mask_secret_url, switch, url_problem
from .parallel import InParallel

if TYPE_CHECKING:
    from ...ledger import Delivery
    from ..render import RenderedNotice

WHAT = "Slack webhook"
MAX_CONSECUTIVE_TRANSIENT = 5
NEW_URL = "; ask the workspace for a new Slack webhook URL and import it"
HINTS = {
    "invalid_payload": "; Slack refused the message itself: report this as a bug of smtp-egress",
    "invalid_token": f": the URL is no longer valid{NEW_URL}",
    "no_service": f": the webhook was removed or its Slack app uninstalled{NEW_URL}",
    "channel_is_archived": f": the Slack channel is archived{NEW_URL}",
    "channel_not_found": f": the Slack channel no longer exists{NEW_URL}",
    "action_prohibited": f": a Slack admin restricted posting to the channel{NEW_URL}",
}


@dataclasses.dataclass(frozen=True)
class SlackSettings:
    allow_private: bool  # reach loopback and private addresses (tests, labs)


class SlackChannel:
    name = "slack"
    column = "slack_webhook_url"
    required = False
    example = "https://hooks.slack.com/services/T0EXAMPLE/B0EXAMPLE/0123456789abcdefABCDEFGH"
    summary = "a Block Kit message (header, what to do, address, action, effective date, links) with a text fallback"
    idempotency = "none on Slack's side: the delivery id is in the message's context line"
    options = (
        Option(
            "allow_private",
            "EGRESS_SLACK_ALLOW_PRIVATE",
            "`1` lets Slack webhook URLs reach loopback/private "
            "addresses (tests, labs); by default they are refused before connecting (SSRF)",
        ),
    )
    secrets = ()

    def problem(self, target: str) -> str | None:
        return url_problem(target, ("https",))

    def mask(self, target: str) -> str:
        return mask_secret_url(target)

    def settings(self, values: Mapping[str, str | None], sources: Mapping[str, str] | None = None) -> SlackSettings:
        return SlackSettings(allow_private=switch(self.options, values, sources, "allow_private"))

    def preflight(self, settings: SlackSettings, targets: int) -> None:
        return None  # no setting can be wrong: every URL is the workspace's own, checked at import

    def open(self, settings: SlackSettings) -> SlackSender:
        return SlackSender(allow_private=settings.allow_private)


class SlackSender(InParallel):
    """``poster_options`` go to :class:`~smtp_egress.notices.outbound.Poster` (timeout, attempts, sleep, session)."""

    def __init__(self, *, allow_private: bool = False, **poster_options: Any):
        from ..outbound import Poster

        self.poster = Poster(WHAT, schemes=("https",), allow_private=allow_private, **poster_options)
        self.streak = Streak(MAX_CONSECUTIVE_TRANSIENT)

    def held(self, d: Delivery) -> str | None:
        server = _server(d.target)
        if self.streak.down(server):
            return f"the Slack webhook host {server} failed {MAX_CONSECUTIVE_TRANSIENT} times in a row"
        return None

    def delivered(self, d: Delivery) -> bool:
        return False  # Slack cannot be asked; the delivery id in the message tells a resend apart

    def send(self, d: Delivery, notice: RenderedNotice, now: dt.datetime) -> None:
        from ...errors import DeliveryError

        body = json.dumps(render(notice, d), separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        server = _server(d.target)
        try:
            self.poster.post(
                d.target,
                mask_secret_url(d.target),
                body,
                lambda: {"Content-Type": "application/json; charset=utf-8"},
                hint=_hint,
            )
        except DeliveryError as exc:
            self.streak.failed(server, exc)
            raise
        self.streak.succeeded(server)

    def close(self) -> None:
        self.poster.close()


def render(notice: RenderedNotice, d: Delivery) -> dict[str, Any]:
    """The Block Kit message for ``d``, every mrkdwn text escaped: one message for every change of the batch. A
    notice that is not an IP change's (a tracking domain's state) renders its own message (``slack_message``)."""
    from ..render import instructions

    own = getattr(notice, "slack_message", None)
    if own is not None:
        return dict(own(d.message_id.strip("<>")))

    ctx = notice.context
    delivery_id = d.message_id.strip("<>")
    todo = "\n".join(escape(line) for line in instructions(ctx))
    if ctx.exceptions:
        why = "\n".join(
            f"*Short notice{'' if len(ctx.changes) == 1 else f' ({escape(c.ip)})'}:* {escape(c.exception_reason or '')}"
            for c in ctx.exceptions
        )
        todo = f"{why}\n{todo}"
    section: dict[str, Any] = {"type": "section", "text": {"type": "mrkdwn", "text": _cut(todo, 3000)}}
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _cut(notice.subject, 150)}},
        section,
    ]
    if len(ctx.changes) == 1:
        (c,) = ctx.changes
        action = "add: a new sending address" if c.action == "add" else "remove: the address retires"
        fields = (
            ("Address", c.ip),
            ("Action", action),
            ("Effective", f"{c.effective.isoformat()} (UTC)"),
            ("Region", ctx.region),
        )
        section["fields"] = [
            {"type": "mrkdwn", "text": _cut(f"*{name}*\n{escape(value)}", 2000)} for name, value in fields
        ]
    else:
        listed = "\n".join(
            f"• `{escape(c.ip)}` {'add: starts' if c.action == 'add' else 'remove: stops'} sending "
            f"{c.effective.isoformat()} (UTC)"
            for c in ctx.changes
        )
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": _cut(f"*Region {escape(ctx.region)}*\n{listed}", 3000)},
            }
        )
    ids = ", ".join(escape(c.change_id) for c in ctx.changes)
    links = (
        f"{link(ctx.endpoint_url, 'Published list')} · {link(ctx.changes_url, 'Changes feed')} · "
        f"Change{'s' if len(ctx.changes) > 1 else ''} {ids} · Delivery {escape(delivery_id)}"
    )
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": _cut(links, 3000)}]})
    return {
        "text": escape(f"{notice.subject}. {' '.join(instructions(ctx))} (delivery {delivery_id})"),
        "blocks": blocks,
    }


def escape(text: str) -> str:
    """Text for Slack's mrkdwn: ``&``, ``<`` and ``>`` as entities, so nothing becomes a link or a mention."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def link(url: str, label: str) -> str:
    """``<url|label>``; in the URL ``&`` is an entity and ``<``, ``>``, ``|`` are percent-encoded."""
    safe = url.replace("&", "&amp;").replace("<", "%3C").replace(">", "%3E").replace("|", "%7C")
    return f"<{safe}|{escape(label)}>"


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _server(url: str) -> str:
    """host[:port] of a Slack URL: the server a streak of failures is counted for."""
    try:
        parts = urlsplit(url)
        return f"{parts.hostname}{f':{parts.port}' if parts.port else ''}"
    except ValueError:
        return ""


def _hint(status: int, text: str) -> str:
    return HINTS.get(text.strip(), "")


CHANNEL = SlackChannel()
