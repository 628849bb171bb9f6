"""Deliver every pending notice exactly once, resuming wherever an earlier run stopped.

The ledger holds one row per (batch, workspace, channel), created atomically with the batch: a
workspace gets one notice per batch on each of its channels, listing every change of the batch. This loop
walks the rows not yet sent, channel by channel (rendering each batch's notice once). It hands each channel
(an open :class:`~smtp_egress.notices.channels.Sender`) a stream of its notices: for each, the stream asks
whether to try it in this run at all (a channel whose one server keeps failing holds the rest) and whether
it already arrived (the Maildir outbox knows: its file name derives from the Message-ID). A
:class:`~smtp_egress.notices.channels.base.StreamingSender` pulls from the stream at its own pace (email
keeps several SMTP sessions in flight); any other sender gets one notice at a time. Each outcome is recorded
as it arrives, :data:`MARK_GROUP` to a transaction (or after :data:`MARK_WINDOW_S`), all at the end.

So a run killed at any point loses nothing and, for the outbox, sends nothing twice. Over SMTP and HTTP the
window is between the server's acceptance and the ledger's commit: at most ``MARK_GROUP`` outcomes wait
unrecorded, plus one notice awaiting its answer per other session in flight; a notice resent from that
window carries the channel's idempotency key (Message-ID, Idempotency-Key, the delivery id), so the
receiving side can recognise it. A notice that may have arrived (:class:`~smtp_egress.errors.DeliveryUnknown`)
is recorded neither sent nor failed. The loop knows no channel by name.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import ipaddress
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, NoReturn

from ..dates import utc_now
from ..errors import DeliveryError, DeliveryUnknown
from ..ledger import Delivery, Ledger
from ..timeline import Recorded
from . import channels as registry
from .channels import Sender
from .channels.base import NoticeStream, StreamingSender, send_each
from .render import NoticeChange, NoticeContext, RenderedNotice, render_notice

if TYPE_CHECKING:
    from tqdm import tqdm

MARK_GROUP = 100  # outcomes recorded in one transaction: at most this many accepted notices wait unrecorded
MARK_WINDOW_S = 1.0  # ... and none waits longer than this (checked as outcomes arrive)


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
    group: int = MARK_GROUP,
    window: float = MARK_WINDOW_S,
    deadline: float | None = None,
) -> FanoutSummary:
    """Deliver ``pending``; ``notices``: what each batch's notice says, by batch id (rendered on first use).
    Outcomes are recorded ``group`` at a time (or once the oldest waited ``window`` seconds), and at the end.
    ``deadline``: seconds after which no further notice is started (those in flight end within their own
    timeouts); the rest stay pending for the next run."""
    summary = FanoutSummary()
    started = time.perf_counter()
    late = f"the run's deadline of {deadline:g} s passed before they were started" if deadline is not None else ""
    rendered: dict[str, RenderedNotice] = {}
    held: dict[tuple[str, str], int] = {}  # (channel, why) -> deliveries left pending
    bar = _progress(len(pending), progress)
    marks = _Marks(ledger, group, window)

    def outcome(d: Delivery, error: DeliveryError | None) -> None:
        if error is None:
            summary.sent += 1
            marks.sent(d, now())
        else:
            summary.errors.append(
                f"{d.channel} to {d.workspace_id} ({registry.mask(d.channel, d.target)}) for {d.batch_id}: {error}"
            )
            if isinstance(error, DeliveryUnknown):  # it may have arrived: neither sent nor failed
                summary.left_pending += 1
            else:
                summary.failed += 1
                marks.failed(d, str(error))
        if bar is not None:
            bar.update(1)

    def stopped() -> str | None:
        return late if deadline is not None and time.perf_counter() - started >= deadline else None

    def keep(channel: str, why: str) -> None:
        summary.left_pending += 1  # kept for the next run; other channels' notices still go
        held[channel, why] = held.get((channel, why), 0) + 1
        if bar is not None:
            bar.update(1)

    def put_back(channel: str, why: str) -> None:  # taken from the stream (and counted attempted), not started
        summary.attempted -= 1
        keep(channel, why)

    def stream(channel: str, sender: Sender, deliveries: list[Delivery]) -> Iterator[tuple[Delivery, RenderedNotice]]:
        for d in deliveries:
            why = stopped() or sender.held(d)
            if why is not None:
                keep(channel, why)
                continue
            summary.attempted += 1
            if sender.delivered(d):
                summary.reconciled += 1
                marks.sent(d, now())
                if bar is not None:
                    bar.update(1)
                continue
            notice = rendered.get(d.batch_id)
            if notice is None:
                notice = rendered[d.batch_id] = render_notice(notices[d.batch_id])
            yield d, notice

    try:
        for channel, deliveries in _by_channel(pending).items():
            sender = channels.senders.get(channel)
            if sender is None:
                for d in deliveries:
                    summary.attempted += 1
                    outcome(d, DeliveryError(f"unknown channel {channel!r}", permanent=True))
            elif isinstance(sender, StreamingSender):
                notices_of = NoticeStream(
                    stream(channel, sender, deliveries), stopped, lambda d, why: put_back(d.channel, why)
                )
                sender.send_all(notices_of, now, outcome)
            else:
                send_each(sender, stream(channel, sender, deliveries), now, outcome)
        marks.flush()
    except BaseException:
        marks.flush(quietly=True)  # what was accepted before the failure, if the ledger still takes it
        raise
    finally:
        summary.seconds = round(time.perf_counter() - started, 3)
        if bar is not None:
            bar.close()
    for (channel, why), count in held.items():
        summary.errors.append(f"{why}; {count} {channel} notices left pending for the next run")
    return summary


class _Marks:
    """Outcomes not yet recorded, committed together: once ``group`` wait, or once the oldest waited ``window``
    seconds (checked as outcomes arrive), and at the end of the run."""

    def __init__(self, ledger: Ledger, group: int, window: float):
        self.ledger, self.group, self.window = ledger, max(1, group), window
        self._sent: list[tuple[Delivery, dt.datetime]] = []
        self._failed: list[tuple[Delivery, str]] = []
        self._since = 0.0

    def sent(self, d: Delivery, at: dt.datetime) -> None:
        self._add()
        self._sent.append((d, at))
        self._due()

    def failed(self, d: Delivery, error: str) -> None:
        self._add()
        self._failed.append((d, error))
        self._due()

    def flush(self, *, quietly: bool = False) -> None:
        if not (self._sent or self._failed):
            return
        try:
            self.ledger.record_outcomes(self._sent, self._failed)
        except Exception:
            if not quietly:
                raise
            return
        self._sent, self._failed = [], []

    def _add(self) -> None:
        if not (self._sent or self._failed):
            self._since = time.monotonic()

    def _due(self) -> None:
        if len(self._sent) + len(self._failed) >= self.group or time.monotonic() - self._since >= self.window:
            self.flush()


def _by_channel(pending: list[Delivery]) -> dict[str, list[Delivery]]:
    """``pending`` by channel, each in its order (channels in the order they first appear)."""
    out: dict[str, list[Delivery]] = {}
    for d in pending:
        out.setdefault(d.channel, []).append(d)
    return out


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
