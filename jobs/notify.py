"""The daily job: diff the published list against the plan, announce what is due, deliver every pending notice.

1. Validate the plan; check every notice channel's settings and server (its preflight: a setting that cannot
   work is a ConfigError, a server that cannot be reached a finding with exit 6; nothing is recorded then);
   fetch and strictly validate the published document (a bad fetch sends nothing).
2. Diff it against plan + ledger: unrecorded changes, drift, a list that shrank unexplained.
3. Record every unrecorded change at least notice_days away as one batch for every workspace of the region;
   refuse those closer, naming the earliest compliant date, unless a short-notice reason is given.
4. Deliver every pending notice, one per batch and workspace on each channel (resuming an interrupted
   run), record each delivery in the ledger, then mark told the batches every workspace heard of
   (:func:`smtp_egress.timeline.told_at`): only then are their changes announced.
5. Report every change planned within notice_days (or past its day) whose notices are not all delivered or
   accepted undelivered (exit 6, on every run until they are), and a published document that still does not
   list a change announced a day or more ago (the publication is broken: exit 5).

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
from typing import TYPE_CHECKING

from smtp_egress import errors
from smtp_egress.wording import count

from . import no_workspaces
from .notices import NoticeSettings, deliver_pending, preflight, run_clock

if TYPE_CHECKING:
    from smtp_egress.checks.published import PublishedDocument
    from smtp_egress.diff import DiffResult, ShortNotice
    from smtp_egress.ledger import Batch, Ledger, NoticeTally, Workspace
    from smtp_egress.ledger_location import LedgerLocation
    from smtp_egress.notices.fanout import FanoutSummary
    from smtp_egress.plan import Change, Plan
    from smtp_egress.timeline import Recorded


@dataclasses.dataclass(frozen=True)
class NotifyInputs:
    region: str
    published: str  # the published document: an http(s) URL or a file
    plan_path: str
    db_url: LedgerLocation | str  # where the ledger is (it must exist)
    moment: dt.datetime  # the run's "now" (aware UTC)
    notices: NoticeSettings = dataclasses.field(default_factory=NoticeSettings)
    dry_run: bool = False
    short_notice_reason: str | None = None  # set: announce changes closer than notice_days as exceptions
    progress: bool | None = None  # None: a progress bar only on a terminal
    clock: Callable[[], dt.datetime] | None = None  # the run's clock (default: moment + the real time elapsed;
    # on a simulation ledger: moment itself)
    moment_option: str | None = None  # the date option that set moment ("--at 2026-11-26"); None: the real clock
    publish_follows: bool = False  # egress daily publishes right after: the list may still be yesterday's


@dataclasses.dataclass(frozen=True)
class Announced:
    """A change recorded for announcement in this run (or, in a dry run, that would be)."""

    change: Change
    reason: str | None  # the short-notice exception's reason, if it is one
    workspaces: int
    batch_id: str | None = None  # None in a dry run


@dataclasses.dataclass(frozen=True)
class Undelivered:
    """A batch with changes planned within notice_days (or past their day) whose notice did not reach every
    workspace and was not accepted undelivered: it needs delivering, or a human's decision."""

    batch_id: str
    changes: tuple[Recorded, ...]  # the batch's changes that matter now
    tally: NoticeTally
    workspaces: tuple[str, ...]  # those not told, not accepted undelivered (the first 10)

    @property
    def held(self) -> bool:
        return self.changes[0].held


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
    announced: tuple[Announced, ...] = ()  # recorded in this run's batch (or, in a dry run, would be)
    delivery: FanoutSummary | None = None
    unreachable: str | None = None  # a channel's server failed its preflight (nothing recorded or sent)
    told: tuple[tuple[str, dt.datetime], ...] = ()  # batches marked told in this run, and when
    undelivered: tuple[Undelivered, ...] = ()
    warnings: tuple[str, ...] = ()  # said on every such run, no action needed to exit 0
    untold: tuple[Change, ...] = ()  # due but not announced: the region has no workspace to tell (exit 6)
    simulated: bool = False  # the ledger is a simulation (tests, demos)

    @property
    def problems(self) -> list[Problem]:
        """What a human must act on, most visible first, each with its exit code."""
        out = []
        if self.unreachable is not None:
            out.append(Problem(errors.DELIVERY_INCOMPLETE, f"{self.unreachable}; nothing was recorded or sent"))
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
        out += [Problem(errors.DELIVERY_INCOMPLETE, _undelivered_message(self.region, u)) for u in self.undelivered]
        return out

    @property
    def exit_code(self) -> int:
        return errors.most_urgent(p.exit_code for p in self.problems)


def run_notify(inputs: NotifyInputs, *, fetch: Callable[[str, str], PublishedDocument] | None = None) -> NotifyResult:
    """Run the daily job for one region; ``fetch(source, region)`` defaults to the strict published-list fetch."""
    from smtp_egress.checks.published import fetch_published
    from smtp_egress.ledger import Ledger
    from smtp_egress.limits import checked_text
    from smtp_egress.plan import load_plan
    from smtp_egress.simulation import recording_moment

    if inputs.short_notice_reason is not None:  # recorded, then shown in every notice and the report
        inputs = dataclasses.replace(inputs, short_notice_reason=checked_text(inputs.short_notice_reason, "--reason"))
    plan = load_plan(inputs.plan_path)
    plan.region(inputs.region)
    result = NotifyResult(inputs.region, inputs.moment, plan.notice_days, inputs.dry_run)
    ledger = Ledger(inputs.db_url)
    try:
        with ledger.lock(f"notify-{inputs.region}"):
            if not inputs.dry_run:  # a real ledger records the real time; a simulation never goes back
                recording_moment(ledger, inputs.moment, inputs.moment_option)
            result = dataclasses.replace(result, simulated=ledger.simulation)
            targets = ledger.workspaces(inputs.region)
            try:
                preflight(inputs.notices, targets)
            except errors.ChannelUnreachable as exc:
                return dataclasses.replace(result, unreachable=str(exc))
            try:
                doc = (fetch or fetch_published)(inputs.published, inputs.region)
            except errors.PublishedUnusable as exc:
                return dataclasses.replace(result, unusable=str(exc))
            return _announce_and_deliver(inputs, plan, ledger, doc, targets, result)
    finally:
        ledger.close()


def _announce_and_deliver(
    inputs: NotifyInputs,
    plan: Plan,
    ledger: Ledger,
    doc: PublishedDocument,
    targets: list[Workspace],
    result: NotifyResult,
) -> NotifyResult:
    from smtp_egress.diff import diff
    from smtp_egress.masking import mask_url
    from smtp_egress.timeline import announced, held

    region, now = inputs.region, inputs.moment
    # A simulation records its own moment (its clock never runs past what --at says); a real run the real time.
    clock = inputs.clock or ((lambda: now) if ledger.simulation else run_clock(now))
    ledger.settle(region)  # a run killed after its last delivery left its batch to settle: the facts decide
    records = ledger.recorded(region)
    addresses = [str(ip) for ip in doc.addresses]
    found = diff(
        plan,
        region,
        announced(records),
        addresses,
        now,
        list(doc.upcoming),
        held=held(records),
        publish_follows=inputs.publish_follows,
    )
    result = dataclasses.replace(result, published=doc, diff=found)
    if found.missing:
        return result  # the document shrank by more than the plan explains: send nothing (problems say why)
    reason = inputs.short_notice_reason
    to_announce: list[tuple[Change, str | None]] = [(c, None) for c in found.due]
    to_announce += [(s.change, reason) for s in found.short if reason]
    result = dataclasses.replace(result, refused_short=() if reason else found.short, refused_blocked=found.blocked)
    if not targets:  # nobody to tell: warn on every run; announcing would start the notice clock for no one
        where = ledger.location.describe(mask_url(ledger.url))
        result = dataclasses.replace(result, warnings=(*result.warnings, no_workspaces.warning(region, where)))
        if to_announce:
            return dataclasses.replace(result, untold=tuple(c for c, _ in to_announce))
    if inputs.dry_run:
        return dataclasses.replace(result, announced=tuple(Announced(c, r, len(targets)) for c, r in to_announce))
    if to_announce:
        batch = ledger.record(region, to_announce, now, plan.notice_days, plan.sha256, targets)
        records.update({r.change_id: r for r in batch.changes})
        result = dataclasses.replace(result, announced=_announced(batch, to_announce))
    for batch_id in _still_to_come(records, now.date()):
        ledger.enqueue_missing(batch_id, targets)  # workspaces imported since: they hear of it too
    ledger.retarget_unsent()
    pending = ledger.unsent(region)
    if pending:
        summary = deliver_pending(inputs.notices, ledger, records, pending, clock, inputs.progress, ledger.simulation)
        result = dataclasses.replace(result, delivery=summary)
    told = ledger.settle(region)
    undelivered = _undelivered(ledger, region, ledger.recorded(region), now.date(), plan.notice_days)
    return dataclasses.replace(result, told=tuple(sorted(told.items())), undelivered=undelivered)


def _announced(batch: Batch, recorded: list[tuple[Change, str | None]]) -> tuple[Announced, ...]:
    return tuple(Announced(c, why, batch.workspaces, batch.batch_id) for c, why in recorded)


def _still_to_come(records: Mapping[str, Recorded], day: dt.date) -> list[str]:
    """The batches with a change held or not yet in effect on ``day``."""
    out = set()
    for r in records.values():
        ann = r.announcement()
        if ann is None or not ann.in_effect_on(day):
            out.add(r.batch_id)
    return sorted(out)


def _undelivered(
    ledger: Ledger, region: str, records: Mapping[str, Recorded], day: dt.date, notice_days: int
) -> tuple[Undelivered, ...]:
    """The batches whose undelivered notices need a human now (:func:`smtp_egress.timeline.undelivered_matters`)."""
    from smtp_egress.timeline import undelivered_matters

    tallies = ledger.tallies(region)
    pending = {b for b, t in tallies.items() if t.undelivered}
    if not pending:
        return ()
    matter: dict[str, list[Recorded]] = {}
    for r in sorted(records.values(), key=lambda r: (r.planned, r.change_id)):
        if r.batch_id in pending and undelivered_matters(r.planned, day, notice_days):
            matter.setdefault(r.batch_id, []).append(r)
    unsettled: dict[str, list[str]] = {}
    for u in ledger.unsettled(region):
        unsettled.setdefault(u.batch_id, []).append(u.workspace_id)
    return tuple(
        Undelivered(b, tuple(changes), tallies[b], tuple(unsettled.get(b, [])[:10]))
        for b, changes in sorted(matter.items())
    )


def _diff_problems(found: DiffResult, source: str) -> list[Problem]:
    out = []
    if found.missing:
        out.append(
            Problem(
                errors.PUBLISHED_UNUSABLE,
                (
                    f"the published list at {source} lacks {count(len(found.missing), 'address')} that must be "
                    f"published today: {', '.join(found.missing)}. It shrank by more than the plan explains, "
                    f"so it was not read as 'addresses removed' and nothing was sent. Check the endpoint and "
                    f"re-publish (egress publish), then rerun. If these are new addresses, give them an "
                    f"active_from date so that they are announced before they are published"
                ),
            )
        )
    if found.overdue_upcoming:
        out.append(
            Problem(
                errors.DRIFT,
                (
                    f"the published document at {source} still does not list change(s) announced a day or more "
                    f"ago: {'; '.join(found.overdue_upcoming)}. The publication is broken: customers who read "
                    "'upcoming' are not shown them. Re-publish (egress publish), and check the job that publishes"
                ),
            )
        )
    if found.unexpected:
        out.append(
            Problem(
                errors.DRIFT,
                (
                    f"drift: the published list has {count(len(found.unexpected), 'address')} the plan does not "
                    "list for today: "
                    f"{', '.join(found.unexpected)}; fix the plan or re-publish the list"
                ),
            )
        )
    return out


def _undelivered_message(region: str, u: Undelivered) -> str:
    t = u.tally
    what = "; ".join(
        f"{'addition' if r.action == 'add' else 'removal'} of {r.ip} planned for {r.planned.isoformat()}"
        for r in u.changes
    )
    state = (
        "so it is held: not announced, it does not take effect"
        if u.held
        else "although it counts as announced (workspaces added later, or an adopted record)"
    )
    more = t.undelivered - len(u.workspaces)
    names = ", ".join(u.workspaces) + (f" and {more} more" if more > 0 else "")
    return (
        f"{region}: the notice of {what} (batch {u.batch_id}) reached {t.delivered} of "
        f"{count(t.delivered + t.undelivered + t.waived, 'workspace')} ({t.pending} pending, {t.failed} failed, "
        f"{t.waived} accepted undelivered), {state}. Not told: {names}. The next run retries; fix a workspace's "
        f"address (egress workspaces import), or record a decision: egress notify --region {region} "
        "--accept-undelivered WORKSPACE --reason TEXT"
    )


def _blocked_message(change: Change, day: dt.date) -> str:
    return (
        f"{change.region}: removal of {change.ip} on {change.effective.isoformat()} was not announced: "
        f"the published list would be empty from {day.isoformat()} because no replacement address "
        f"is announced to take over. Plan (and let the job announce) an addition first"
    )
