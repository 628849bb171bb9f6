"""Deliver every pending notice exactly once, resuming wherever an earlier run stopped.

The ledger holds one row per (batch, workspace, channel), created atomically with the batch: a
workspace gets one notice per batch on each of its channels, listing every change of the batch. This loop
walks the rows not yet sent (rendering each batch's notice once); for each it asks the delivery's channel (an open
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
import ipaddress
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, NoReturn

from ..dates import utc_now
from ..errors import DeliveryError
from ..ledger import Delivery, Ledger
from ..timeline import Recorded
from . import channels as registry
from .channels import Sender
from .render import NoticeChange, NoticeContext, RenderedNotice, render_notice

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

    def context(self, changes: Sequence[Recorded], at: dt.datetime) -> NoticeContext:
        """The notice of one batch (``changes``: its recorded changes) sent at ``at``: each change with the day
        it takes effect (for a batch not told yet, the day it takes effect if told at ``at``)."""
        first = changes[0]
        base = self.endpoint_url.rstrip("/")
        items = []
        for r in changes:
            ann = r.announcement(at)
            assert ann is not None  # given ``at``, a held change is taken as told then
            items.append(NoticeChange(r.change_id, r.ip, r.action, ann.effective, r.exception_reason))
        items.sort(key=lambda c: (c.effective, c.action, _ip_key(c.ip), c.change_id))
        return NoticeContext(
            batch_id=first.batch_id,
            region=first.region,
            changes=tuple(items),
            sent_at=at,
            notice_days=first.notice_days,
            endpoint_url=f"{base}/v1/info/ip_addresses?region={first.region}",
            changes_url=f"{base}/v1/info/ip_addresses/changes.json",
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
    notices: Mapping[str, NoticeContext],
    channels: Channels,
    *,
    now: Callable[[], dt.datetime] = utc_now,
    progress: bool | None = None,
) -> FanoutSummary:
    """Deliver ``pending``; ``notices``: what each batch's notice says, by batch id (rendered on first use)."""
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
            notice = rendered.get(d.batch_id)
            if notice is None:
                notice = rendered[d.batch_id] = render_notice(notices[d.batch_id])
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
                    f"{d.channel} to {d.workspace_id} ({registry.mask(d.channel, d.target)}) for {d.batch_id}: {exc}"
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


def _ip_key(ip: str) -> tuple[int, int]:
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return (9, 0)
    return (address.version, int(address))


def _progress(total: int, enabled: bool | None) -> tqdm[NoReturn] | None:
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled or total < 2:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="notice", file=sys.stderr, leave=False)
