"""Deliver every pending notice exactly once, resuming wherever an earlier run stopped.

The ledger holds one row per (change, workspace, channel), created atomically with the announcement.
This loop walks the rows not yet sent; for each it asks the channel whether the notice already
arrived (the Maildir outbox knows: its file name derives from the Message-ID), sends it if not, and
marks it sent in its own committed transaction. So a run killed at any point loses nothing and, for
the outbox, sends nothing twice. Over SMTP and webhooks the only window is between the server's
acceptance and the ledger's commit (microseconds); a notice resent from that window carries the same
Message-ID / Idempotency-Key, so the receiving side can recognise it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import sys
import time
from typing import Callable

from ..dates import utc_now
from ..errors import DeliveryError
from ..ledger import Delivery, Ledger
from ..timeline import Announcement
from .render import NoticeContext, RenderedNotice, render_notice

# After this many transient email failures in a row the SMTP server is taken to be down: the remaining
# emails stay pending for the next run instead of hammering it now. (Webhooks each go to a different
# server, so one customer's dead endpoint never holds back anyone else's notice.)
MAX_CONSECUTIVE_TRANSIENT = 5


@dataclasses.dataclass
class FanoutSummary:
    attempted: int = 0
    sent: int = 0
    reconciled: int = 0  # found already delivered (after a crash) and marked sent without resending
    failed: int = 0
    left_pending: int = 0
    seconds: float = 0.0  # wall time of the delivery loop
    errors: list[str] = dataclasses.field(default_factory=list)

    @property
    def complete(self) -> bool:
        return self.failed == 0 and self.left_pending == 0


@dataclasses.dataclass(frozen=True)
class Channels:
    transport: object  # egress.notices.transport.Transport
    webhook: object | None  # egress.notices.webhook.WebhookSender, None when no secret is configured
    sender: str
    endpoint_url: str  # base URL of the published list, e.g. https://ips.example.com

    def context(self, a: Announcement) -> NoticeContext:
        base = self.endpoint_url.rstrip("/")
        return NoticeContext(
            change_id=a.change_id, region=a.region, ip=a.ip, action=a.action, effective=a.effective,
            announced_at=a.announced_at, notice_days=a.notice_days,
            endpoint_url=f"{base}/v1/info/ip_addresses?region={a.region}",
            changes_url=f"{base}/v1/info/ip_addresses/changes.json",
            exception_reason=a.exception_reason,
        )


def deliver(ledger: Ledger, pending: list[Delivery], anns: dict[str, Announcement], channels: Channels,
            *, now: Callable[[], dt.datetime] = utc_now, progress: bool | None = None) -> FanoutSummary:
    summary = FanoutSummary()
    started = time.perf_counter()
    rendered: dict[str, RenderedNotice] = {}
    bar = _progress(len(pending), progress)
    email_streak = 0  # one SMTP server behind every email: a streak means it is down
    try:
        for d in pending:
            if d.channel == "email" and email_streak >= MAX_CONSECUTIVE_TRANSIENT:
                summary.left_pending += 1  # kept for the next run; webhooks (other servers) still go
                if bar is not None:
                    bar.update(1)
                continue
            notice = rendered.get(d.change_id)
            if notice is None:
                notice = rendered[d.change_id] = render_notice(channels.context(anns[d.change_id]))
            summary.attempted += 1
            try:
                if _send(d, notice, channels, now):
                    summary.sent += 1
                else:
                    summary.reconciled += 1
                ledger.mark_sent(d, now())
                if d.channel == "email":
                    email_streak = 0
            except DeliveryError as exc:
                if d.channel == "email":
                    email_streak = 0 if exc.permanent else email_streak + 1
                summary.failed += 1
                summary.errors.append(f"{d.channel} to {d.workspace_id} ({d.target}) for {d.change_id}: {exc}")
                ledger.mark_failed(d, str(exc))
            if bar is not None:
                bar.update(1)
        if summary.left_pending:
            summary.errors.append(f"the SMTP server failed {MAX_CONSECUTIVE_TRANSIENT} times in a row; "
                                  f"{summary.left_pending} email notices left pending for the next run")
    finally:
        summary.seconds = round(time.perf_counter() - started, 3)
        if bar is not None:
            bar.close()
    return summary


def _send(d: Delivery, notice: RenderedNotice, channels: Channels, now) -> bool:
    """Deliver one notice; False when the channel shows it was already delivered."""
    if d.channel == "email":
        if channels.transport.delivered(d.message_id):
            return False
        data = notice.message_bytes(to=d.target, workspace_id=d.workspace_id, message_id=d.message_id,
                                    from_addr=channels.sender, date=now())
        channels.transport.send(sender=_bare(channels.sender), recipient=d.target, message_id=d.message_id, data=data)
        return True
    if d.channel == "webhook":
        if channels.webhook is None:
            raise DeliveryError("no webhook signing secret is configured (set EGRESS_WEBHOOK_SECRET)")
        delivery_id = d.message_id.strip("<>")
        channels.webhook.send(d.target, notice.webhook_payload(workspace_id=d.workspace_id, delivery_id=delivery_id),
                              delivery_id=delivery_id)
        return True
    raise DeliveryError(f"unknown channel {d.channel!r}", permanent=True)


def _bare(address: str) -> str:
    """The envelope sender: the address inside 'Name <addr>', or the text itself."""
    if "<" in address and address.endswith(">"):
        return address[address.rindex("<") + 1:-1]
    return address


def _progress(total: int, enabled: bool | None):
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled or total < 2:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="notice", file=sys.stderr, leave=False)
