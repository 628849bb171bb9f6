"""How the daily job's notices leave: the channels' settings, their preflight, and one run's fan-out.

Every registered channel (:mod:`smtp_egress.notices.channels`) checks its own settings and server before a
run records anything (:func:`preflight`); a run opens every channel's sender (:func:`open_channels`) and
delivers each pending notice of a batch, rendered once per batch, on the run's clock (:func:`run_clock`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from smtp_egress import errors

if TYPE_CHECKING:
    from smtp_egress.ledger import Delivery, Ledger, Workspace
    from smtp_egress.notices.channels import Channel, Sender
    from smtp_egress.notices.fanout import Channels, FanoutSummary
    from smtp_egress.timeline import Recorded

DEFAULT_BASE_URL = "http://127.0.0.1:8080"
DEFAULT_DEADLINE_S = 1800.0  # half an hour: 20,000 webhooks at 100 ms each, 8 at once, take about 4 minutes
MAX_DEADLINE_S = 86400.0  # a day: the next daily run would start


@dataclasses.dataclass(frozen=True)
class NoticeSettings:
    """How notices leave: per registered channel (:mod:`smtp_egress.notices.channels`), the settings its
    ``settings()`` made, by channel name (a channel not given gets its defaults); every notice links to the
    published list under ``base_url``; no notice is started once the fan-out has run ``deadline`` seconds
    (those in flight end within their own timeouts; the rest stay pending for the next run, exit 6)."""

    base_url: str = DEFAULT_BASE_URL
    channels: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    deadline: float = DEFAULT_DEADLINE_S  # seconds into the fan-out after which no further notice is started

    def for_channel(self, channel: Channel[Any]) -> Any:
        return self.channels[channel.name] if channel.name in self.channels else channel.settings({})


def preflight(settings: NoticeSettings, targets: Sequence[Workspace]) -> None:
    """Every registered channel checks its settings and its server (:meth:`Channel.preflight`), each told how
    many workspaces of the region it reaches: ConfigError (exit 2) or ChannelUnreachable (exit 6)."""
    from smtp_egress.notices.channels import CHANNELS

    for channel in CHANNELS.values():
        reached = sum(1 for w in targets if channel.name in w.targets)
        try:
            channel.preflight(settings.for_channel(channel), reached)
        except errors.ConfigError as exc:
            raise errors.ConfigError(f"notice channel {channel.name!r}: {exc}; nothing was recorded or sent") from None


def run_clock(moment: dt.datetime) -> Callable[[], dt.datetime]:
    """The run's clock: ``moment`` when the run started, advanced by the real time elapsed since (so a run
    dated with --today records its deliveries on that day)."""
    started = time.monotonic()
    return lambda: moment + dt.timedelta(seconds=time.monotonic() - started)


def open_channels(settings: NoticeSettings, *, simulated: bool = False) -> Channels:
    """A sender for every registered channel (a ConfigError, before anything is sent, if one cannot work);
    ``simulated``: the ledger is a simulation, and every notice says so."""
    from smtp_egress.notices.channels import CHANNELS, get
    from smtp_egress.notices.fanout import Channels

    for name in settings.channels:
        get(name)  # a ConfigError naming the channels, for settings of one this code does not know
    senders: dict[str, Sender] = {}
    try:
        for channel in CHANNELS.values():
            senders[channel.name] = channel.open(settings.for_channel(channel))
    except BaseException:
        Channels(senders, settings.base_url).close()  # the ones already open
        raise
    return Channels(senders, settings.base_url, simulated)


def deliver_pending(
    settings: NoticeSettings,
    ledger: Ledger,
    records: Mapping[str, Recorded],
    pending: list[Delivery],
    clock: Callable[[], dt.datetime],
    progress: bool | None,
    simulated: bool = False,
) -> FanoutSummary:
    """Deliver ``pending``: each batch's notice (its changes in ``records``) rendered once, sent on ``clock``."""
    from smtp_egress.notices.fanout import deliver

    channels = open_channels(settings, simulated=simulated)
    try:
        by_batch: dict[str, list[Recorded]] = {}
        for r in records.values():
            by_batch.setdefault(r.batch_id, []).append(r)
        at = clock()
        notices = {b: channels.context(by_batch[b], at) for b in {d.batch_id for d in pending}}
        return deliver(ledger, pending, notices, channels, now=clock, progress=progress, deadline=settings.deadline)
    finally:
        channels.close()
