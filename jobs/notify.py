"""The daily job: diff the published list against the plan, announce what is due, deliver every pending notice.

1. Validate the plan; fetch and strictly validate the published document (a bad fetch sends nothing).
2. Diff it against plan + ledger: unannounced changes, drift, a list that shrank unexplained.
3. Announce every unannounced change at least notice_days away to every workspace of the region; refuse those
   closer, naming the earliest compliant date, unless a short-notice reason is given.
4. Deliver every pending notice (resuming an interrupted run), record each delivery in the ledger.

:func:`run_notify` takes :class:`NotifyInputs` and returns a :class:`NotifyResult`: what it saw and did, as
typed facts. :attr:`NotifyResult.problems` turns them into the messages a human must act on, each with its exit
code; :attr:`NotifyResult.exit_code` is the most urgent. A bad plan, flag or database still raises its
:class:`~smtp_egress.errors.EgressError` (nothing was looked at); an unusable published document does not: it is
a finding of the run (exit 3), recorded in the result.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from smtp_egress import errors

from . import no_workspaces

if TYPE_CHECKING:
    from smtp_egress.checks.published import PublishedDocument
    from smtp_egress.diff import DiffResult, ShortNotice
    from smtp_egress.ledger import Ledger
    from smtp_egress.ledger_location import LedgerLocation
    from smtp_egress.notices.channels import Channel, Sender
    from smtp_egress.notices.fanout import Channels, FanoutSummary
    from smtp_egress.plan import Change, Plan

DEFAULT_BASE_URL = "http://127.0.0.1:8080"


@dataclasses.dataclass(frozen=True)
class NoticeSettings:
    """How notices leave: per registered channel (:mod:`smtp_egress.notices.channels`), the settings its
    ``settings()`` made, by channel name (a channel not given gets its defaults); every notice links to the
    published list under ``base_url``."""

    base_url: str = DEFAULT_BASE_URL
    channels: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def for_channel(self, channel: Channel[Any]) -> Any:
        return self.channels[channel.name] if channel.name in self.channels else channel.settings({})


@dataclasses.dataclass(frozen=True)
class NotifyInputs:
    region: str
    published: str  # the published document: an http(s) URL or a file
    plan_path: str
    db_url: LedgerLocation | str  # where the ledger is (it must exist)
    moment: dt.datetime  # the run's "now" (aware UTC)
    notices: NoticeSettings = NoticeSettings()
    dry_run: bool = False
    short_notice_reason: str | None = None  # set: announce changes closer than notice_days as exceptions
    progress: bool | None = None  # None: a progress bar only on a terminal
    moment_option: str | None = None  # the date option that set moment ("--at 2026-11-26"); None: the real clock


@dataclasses.dataclass(frozen=True)
class Announced:
    change: Change
    reason: str | None  # the short-notice exception's reason, if it is one
    workspaces: int


@dataclasses.dataclass(frozen=True)
class Problem:
    exit_code: int
    message: str


@dataclasses.dataclass(frozen=True)
class NotifyResult:
    region: str
    moment: dt.datetime
    notice_days: int
    dry_run: bool
    unusable: str | None = None  # why the published document was not used (nothing was sent)
    published: PublishedDocument | None = None
    diff: DiffResult | None = None
    refused_short: tuple[ShortNotice, ...] = ()  # too close, not announced (no short-notice reason given)
    refused_blocked: tuple[tuple[Change, dt.date], ...] = ()  # removals that would leave the list empty
    announced: tuple[Announced, ...] = ()  # announced (or, in a dry run, would be)
    delivery: FanoutSummary | None = None
    warnings: tuple[str, ...] = ()  # said on every such run, no action needed to exit 0
    untold: tuple[Change, ...] = ()  # due but not announced: the region has no workspace to tell (exit 6)
    simulated: bool = False  # the ledger is a simulation (tests, demos)

    @property
    def problems(self) -> list[Problem]:
        """What a human must act on, most visible first, each with its exit code."""
        out = []
        if self.unusable is not None:
            out.append(Problem(errors.PUBLISHED_UNUSABLE, f"{self.unusable}; nothing was announced, nothing was sent"))
        if self.diff is not None and self.published is not None:
            out += _diff_problems(self.diff, self.published.source)
        out += [Problem(errors.SHORT_NOTICE, s.describe(self.notice_days)) for s in self.refused_short]
        out += [Problem(errors.SHORT_NOTICE, _blocked_message(change, day)) for change, day in self.refused_blocked]
        if self.untold:
            out.append(Problem(errors.DELIVERY_INCOMPLETE, no_workspaces.problem(self.region, self.untold)))
        if self.delivery is not None and not self.delivery.complete:
            shown = self.delivery.errors[:10]
            if len(self.delivery.errors) > 10:
                shown.append(f"... and {len(self.delivery.errors) - 10} more")
            out.append(
                Problem(
                    errors.DELIVERY_INCOMPLETE,
                    "some notices were not delivered; the next run retries them:\n    " + "\n    ".join(shown),
                )
            )
        return out

    @property
    def exit_code(self) -> int:
        return errors.most_urgent(p.exit_code for p in self.problems)


def run_notify(inputs: NotifyInputs, *, fetch: Callable[[str, str], PublishedDocument] | None = None) -> NotifyResult:
    """Run the daily job for one region; ``fetch(source, region)`` defaults to the strict published-list fetch."""
    from smtp_egress.checks.published import fetch_published
    from smtp_egress.ledger import Ledger
    from smtp_egress.plan import load_plan
    from smtp_egress.simulation import recording_moment

    plan = load_plan(inputs.plan_path)
    plan.region(inputs.region)
    result = NotifyResult(inputs.region, inputs.moment, plan.notice_days, inputs.dry_run)
    ledger = Ledger(inputs.db_url)
    try:
        with ledger.lock(f"notify-{inputs.region}"):
            if not inputs.dry_run:  # a real ledger records the real time; a simulation never goes back
                recording_moment(ledger, inputs.moment, inputs.moment_option)
            result = dataclasses.replace(result, simulated=ledger.simulation)
            try:
                doc = (fetch or fetch_published)(inputs.published, inputs.region)
            except errors.PublishedUnusable as exc:
                return dataclasses.replace(result, unusable=str(exc))
            return _announce_and_deliver(inputs, plan, ledger, doc, result)
    finally:
        ledger.close()


def _announce_and_deliver(
    inputs: NotifyInputs, plan: Plan, ledger: Ledger, doc: PublishedDocument, result: NotifyResult
) -> NotifyResult:
    from smtp_egress.dates import utc_now
    from smtp_egress.diff import diff
    from smtp_egress.migrations import masked
    from smtp_egress.notices.fanout import deliver

    region, now = inputs.region, inputs.moment
    anns = ledger.announcements(region)
    found = diff(plan, region, anns, [str(ip) for ip in doc.addresses], now, list(doc.upcoming))
    result = dataclasses.replace(result, published=doc, diff=found)
    if found.missing:
        return result  # the document shrank by more than the plan explains: send nothing (problems say why)
    targets = ledger.workspaces(region)
    reason = inputs.short_notice_reason
    to_announce = [(c, None) for c in found.due] + [(s.change, reason) for s in found.short if reason]
    result = dataclasses.replace(result, refused_short=() if reason else found.short, refused_blocked=found.blocked)
    if not targets:  # nobody to tell: warn on every run; announcing would start the notice clock for no one
        where = ledger.location.describe(masked(ledger.url))
        result = dataclasses.replace(result, warnings=(*result.warnings, no_workspaces.warning(region, where)))
        if to_announce:
            return dataclasses.replace(result, untold=tuple(c for c, _ in to_announce))
    if inputs.dry_run:
        return dataclasses.replace(result, announced=tuple(Announced(c, r, len(targets)) for c, r in to_announce))
    announced = []
    for change, why in to_announce:
        anns[change.change_id] = ledger.announce(change, now, plan.notice_days, plan.sha256, targets, why)
        announced.append(Announced(change, why, len(targets)))
    result = dataclasses.replace(result, announced=tuple(announced))
    for a in anns.values():
        if not a.in_effect_on(now.date()):
            ledger.enqueue_missing(a.change_id, targets)
    ledger.retarget_unsent()
    pending = ledger.unsent(region)
    if not pending:
        return result
    channels = open_channels(inputs.notices, simulated=ledger.simulation)
    clock = (lambda: now) if ledger.simulation else utc_now  # a simulation records its own moment
    try:
        summary = deliver(ledger, pending, anns, channels, now=clock, progress=inputs.progress)
    finally:
        channels.close()
    return dataclasses.replace(result, delivery=summary)


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


def _diff_problems(found: DiffResult, source: str) -> list[Problem]:
    out = []
    if found.missing:
        out.append(
            Problem(
                errors.PUBLISHED_UNUSABLE,
                (
                    f"the published list at {source} lacks {len(found.missing)} address(es) that must be "
                    f"published today: {', '.join(found.missing)}. It shrank by more than the plan explains, "
                    f"so it was not read as 'addresses removed' and nothing was sent. Check the endpoint and "
                    f"re-publish (egress publish), then rerun. If these are new addresses, give them an "
                    f"active_from date so that they are announced before they are published"
                ),
            )
        )
    if found.unexpected:
        out.append(
            Problem(
                errors.DRIFT,
                (
                    f"drift: the published list has address(es) the plan does not list for today: "
                    f"{', '.join(found.unexpected)}; fix the plan or re-publish the list"
                ),
            )
        )
    return out


def _blocked_message(change: Change, day: dt.date) -> str:
    return (
        f"{change.region}: removal of {change.ip} on {change.effective.isoformat()} was not announced: "
        f"the published list would be empty from {day.isoformat()} because no replacement address "
        f"is announced to take over. Plan (and let the job announce) an addition first"
    )
