"""Deliver every pending notice exactly once, resuming wherever an earlier run stopped.

The ledger holds one row per (change, workspace, channel), created atomically with the announcement.
This loop walks the rows not yet sent; for each it asks the delivery's channel (an open
:class:`~smtp_egress.notices.channels.Sender`) whether to try it in this run at all (a channel whose one
server keeps failing holds the rest), whether the notice already arrived (the Maildir outbox knows: its
file name derives from the Message-ID), sends it if not, and marks it sent in its own committed
transaction. So a run killed at any point loses nothing and, for the outbox, sends nothing twice. Over
SMTP and HTTP the only window is between the server's acceptance and the ledger's commit (microseconds);
a notice resent from that window carries the channel's idempotency key (Message-ID, Idempotency-Key, the
delivery id), so the receiving side can recognise it. The loop knows no channel by name.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import sys
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, NoReturn

from ..dates import utc_now
from ..errors import DeliveryError
from ..ledger import Delivery, Ledger
from ..timeline import Announcement
from . import channels as registry
from .channels import Sender
from .render import NoticeContext, RenderedNotice, render_notice

if TYPE_CHECKING:
    from tqdm import tqdm


@dataclasses.dataclass
class FanoutSummary:
    attempted: int = 0
    sent: int = 0
    reconciled: int = 0  # found already delivered (after a crash) and marked sent without resending
    failed: int = 0
    left_pending: int = 0  # held by their channel (e.g. its server is down): not tried in this run
    seconds: float = 0.0  # wall time of the delivery loop
    errors: list[str] = dataclasses.field(default_factory=list)

    @property
    def complete(self) -> bool:
        return self.failed == 0 and self.left_pending == 0


@dataclasses.dataclass(frozen=True)
class Channels:
    """The open senders of a run, by channel name, and the base URL of the published list notices link to."""

    senders: Mapping[str, Sender]
    endpoint_url: str  # base URL of the published list, e.g. https://ips.example.com
    simulated: bool = False  # the ledger is a simulation: every notice says so

    def context(self, a: Announcement) -> NoticeContext:
        base = self.endpoint_url.rstrip("/")
        return NoticeContext(
            change_id=a.change_id,
            region=a.region,
            ip=a.ip,
            action=a.action,
            effective=a.effective,
            announced_at=a.announced_at,
            notice_days=a.notice_days,
            endpoint_url=f"{base}/v1/info/ip_addresses?region={a.region}",
            changes_url=f"{base}/v1/info/ip_addresses/changes.json",
            exception_reason=a.exception_reason,
            simulated=self.simulated,
        )

    def close(self) -> None:
        """Close every sender (each one, even if another fails to close)."""
        with contextlib.ExitStack() as stack:
            for sender in self.senders.values():
                stack.callback(sender.close)


def deliver(
    ledger: Ledger,
    pending: list[Delivery],
    anns: dict[str, Announcement],
    channels: Channels,
    *,
    now: Callable[[], dt.datetime] = utc_now,
    progress: bool | None = None,
) -> FanoutSummary:
    summary = FanoutSummary()
    started = time.perf_counter()
    rendered: dict[str, RenderedNotice] = {}
    held: dict[tuple[str, str], int] = {}  # (channel, why) -> deliveries left pending
    bar = _progress(len(pending), progress)
    try:
        for d in pending:
            sender = channels.senders.get(d.channel)
            why = sender.held(d) if sender is not None else None
            if why is not None:
                summary.left_pending += 1  # kept for the next run; other channels' notices still go
                held[d.channel, why] = held.get((d.channel, why), 0) + 1
                if bar is not None:
                    bar.update(1)
                continue
            notice = rendered.get(d.change_id)
            if notice is None:
                notice = rendered[d.change_id] = render_notice(channels.context(anns[d.change_id]))
            summary.attempted += 1
            try:
                if sender is None:
                    raise DeliveryError(f"unknown channel {d.channel!r}", permanent=True)
                if sender.delivered(d):
                    summary.reconciled += 1
                else:
                    sender.send(d, notice, now())
                    summary.sent += 1
                ledger.mark_sent(d, now())
            except DeliveryError as exc:
                summary.failed += 1
                summary.errors.append(
                    f"{d.channel} to {d.workspace_id} ({registry.mask(d.channel, d.target)}) for {d.change_id}: {exc}"
                )
                ledger.mark_failed(d, str(exc))
            if bar is not None:
                bar.update(1)
        for (channel, why), count in held.items():
            summary.errors.append(f"{why}; {count} {channel} notices left pending for the next run")
    finally:
        summary.seconds = round(time.perf_counter() - started, 3)
        if bar is not None:
            bar.close()
    return summary


def _progress(total: int, enabled: bool | None) -> tqdm[NoReturn] | None:
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled or total < 2:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="notice", file=sys.stderr, leave=False)
