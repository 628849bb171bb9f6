"""The compliance record as typed data, built from the plan and the ledger.

Per region: the list as it stands on the report's day (:func:`smtp_egress.timeline.published_addresses`), the
announced changes still to take effect, and the history: every change the plan holds (announced or not)
and every announcement the ledger holds (also one whose change has since left the plan), each with when
it was announced, when it takes effect, its notice lead, its notice deliveries and its flags.

A change counts as announced when its batch was told (every workspace that existed when it was recorded
heard of it, or was accepted undelivered by a human: :func:`smtp_egress.timeline.told_at`); before, it is
*held*. Each record shows both moments (recorded, announced), the batch, and its notice by workspace
(delivered, pending, failed, accepted undelivered, with each decision's who, when and why). A change planned
within ``notice_days`` of the report's day (or past it) whose notice did not reach every workspace is
flagged ``notices_undelivered``: it is held back, or customers were never told.

A change of an *adopted baseline* (``egress ledger adopt``: in effect before the ledger tracked the region,
as the list published then showed) is in the state ``adopted``, with where that list was read, its sha256
and when it was recorded; it has no notice lead of this ledger's and is never flagged late.

The report describes the moment ``at``: changes recorded after it are left out, and one told after it is
held, as ``egress publish --at`` does. Delivery counts and notice tallies are the ledger's state when the
report is made (a delivery records when it was sent, but not when it failed).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter
from typing import NamedTuple, TypedDict

from ..ledger import Ledger, NoticeTally, Waiver
from ..plan import Change, Plan
from ..timeline import (
    Announcement,
    Notice,
    NoticeStatus,
    Recorded,
    notice_status,
    published_addresses,
    undelivered_matters,
)
from .ledger_facts import (
    Adoption,
    DeliveryCounts,
    Undelivered,
    adoptions,
    announced_plans,
    delivery_facts,
    workspace_counts,
)
from .provenance import Provenance

# States of a change on the report's day.
IN_EFFECT, PENDING, NOT_ANNOUNCED, NOT_IN_PLAN = "in_effect", "pending", "not_announced", "not_in_plan"
HELD = "held"  # recorded, but its batch was not told (every workspace) by the report's moment
ADOPTED = "adopted"  # the adopted baseline: in effect before the ledger tracked the region (egress ledger adopt)
# Flags: what a compliance reviewer should look at.
LATE_NOTICE = "late_notice"  # announced with less than notice_days of notice and no exception: delayed
SHORT_NOTICE_EXCEPTION = "short_notice_exception"  # less than notice_days, taken as planned, with a reason
DELIVERY_FAILED = "delivery_failed"  # at least one notice delivery failed
NOTICES_UNDELIVERED = "notices_undelivered"  # within notice_days (or past): a workspace not told, not waived
FLAGS = (LATE_NOTICE, SHORT_NOTICE_EXCEPTION, NOT_ANNOUNCED, NOT_IN_PLAN, DELIVERY_FAILED, NOTICES_UNDELIVERED)


@dataclasses.dataclass(frozen=True)
class ChangeRecord:
    change_id: str
    region: str
    ip: str
    action: str  # "add" | "remove"
    planned: dt.date
    notice_days: int  # the promise when it was announced (the plan's, if not announced)
    in_plan: bool
    state: str  # IN_EFFECT | PENDING | HELD | ADOPTED | NOT_ANNOUNCED | NOT_IN_PLAN
    announced_at: dt.datetime | None = None  # when its batch was told: the start of its notice
    effective: dt.date | None = None  # None while not announced: it never takes effect
    lead_days: int | None = None
    exception_reason: str | None = None
    plan_sha256: str | None = None  # the plan the announcement was made from (the ledger records it)
    deliveries: DeliveryCounts | None = None
    undelivered: tuple[Undelivered, ...] = ()
    flags: tuple[str, ...] = ()
    recorded_at: dt.datetime | None = None  # when the daily job recorded it (None: not recorded)
    batch_id: str | None = None
    notices: NoticeTally | None = None  # its batch's notice, counted by workspace
    waivers: tuple[Waiver, ...] = ()  # decisions to count its batch told without a workspace
    adopted: Adoption | None = None  # set for a change of an adopted baseline

    @property
    def delayed(self) -> bool:
        """Announced late, so it takes effect after its planned day (make before break)."""
        return self.effective is not None and self.effective > self.planned


class _Identity(TypedDict):
    """The fields of a :class:`ChangeRecord` that name its change."""

    change_id: str
    region: str
    ip: str
    action: str
    planned: dt.date
    in_plan: bool


class _Facts(NamedTuple):
    """What the ledger says beyond the announcements: per batch id (deliveries, tallies, waivers), per change id
    (plans, records), and the report's day and promise."""

    counts: dict[str, DeliveryCounts]
    undelivered: dict[str, list[Undelivered]]
    plan_hashes: dict[str, str]
    records: dict[str, Recorded]
    tallies: dict[str, NoticeTally]
    waivers: dict[str, list[Waiver]]
    adoptions: dict[str, Adoption]
    day: dt.date
    notice_days: int


@dataclasses.dataclass(frozen=True)
class RegionReport:
    region: str
    in_plan: bool
    workspaces: int  # workspaces of the region in the ledger now
    live: tuple[str, ...]  # the published list on the report's day
    upcoming: tuple[ChangeRecord, ...]  # announced, in the plan, effective after the report's day
    changes: tuple[ChangeRecord, ...]  # the history (limited by --since)

    @property
    def exceptions(self) -> tuple[ChangeRecord, ...]:
        return tuple(c for c in self.changes if c.exception_reason)

    @property
    def baselines(self) -> tuple[tuple[Adoption, int], ...]:
        """The adopted baselines of its history, oldest first, each with its number of changes."""
        counts = Counter(c.adopted for c in self.changes if c.adopted is not None)
        return tuple(sorted(counts.items(), key=lambda pair: (pair[0].at, pair[0].batch_id)))

    @property
    def flags(self) -> int:
        return sum(len(c.flags) for c in self.changes)


@dataclasses.dataclass(frozen=True)
class Summary:
    regions: tuple[str, ...]
    changes: int
    flags: int
    flagged_changes: int
    flags_by_kind: dict[str, int]
    exceptions: int
    upcoming: int


@dataclasses.dataclass(frozen=True)
class Report:
    provenance: Provenance
    regions: tuple[RegionReport, ...]

    @property
    def day(self) -> dt.date:
        return self.provenance.at.date()

    @property
    def summary(self) -> Summary:
        changes = [c for r in self.regions for c in r.changes]
        kinds = Counter(f for c in changes for f in c.flags)
        return Summary(
            regions=tuple(r.region for r in self.regions),
            changes=len(changes),
            flags=sum(kinds.values()),
            flagged_changes=sum(1 for c in changes if c.flags),
            flags_by_kind={k: kinds.get(k, 0) for k in FLAGS},
            exceptions=sum(len(r.exceptions) for r in self.regions),
            upcoming=sum(len(r.upcoming) for r in self.regions),
        )


def build_report(plan: Plan, ledger: Ledger, provenance: Provenance) -> Report:
    moment, since = provenance.at, provenance.since
    day = moment.date()
    records = {k: r for k, r in ledger.recorded().items() if r.recorded_at <= moment}
    anns: dict[str, Announcement] = {}
    for k, r in records.items():
        ann = r.announcement()
        if ann is not None and ann.announced_at <= moment:
            anns[k] = ann
    held = {k for k in records if k not in anns}
    counts, undelivered = delivery_facts(ledger, {r.batch_id for r in records.values()})
    waivers: dict[str, list[Waiver]] = {}
    for w in ledger.waivers():
        waivers.setdefault(w.batch_id, []).append(w)
    facts = _Facts(
        counts,
        undelivered,
        announced_plans(ledger),
        records,
        ledger.tallies(),
        waivers,
        adoptions(ledger),
        day,
        plan.notice_days,
    )
    members = workspace_counts(ledger)
    out: list[RegionReport] = []
    for region in sorted(set(plan.regions) | {r.region for r in records.values()}):
        in_plan = region in plan.regions
        region_anns = {k: a for k, a in anns.items() if a.region == region}
        planned = plan.changes(region) if in_plan else []
        statuses = [notice_status(c, region_anns, moment, plan.notice_days, held) for c in planned]
        reports = [_record(c, n, facts) for c, n in zip(planned, statuses, strict=True)]
        planned_ids = {c.change_id for c in planned}
        reports += [
            _orphan(r, region_anns.get(k), moment, facts)
            for k, r in records.items()
            if r.region == region and k not in planned_ids
        ]
        reports.sort(key=lambda r: (r.planned, r.action, r.ip, r.change_id))
        live = tuple(str(ip) for ip in published_addresses(plan, region, region_anns, day)) if in_plan else ()
        out.append(
            RegionReport(
                region=region,
                in_plan=in_plan,
                workspaces=members.get(region, 0),
                live=live,
                upcoming=tuple(r for r in reports if r.state == PENDING),
                changes=tuple(r for r in reports if since is None or _touches(r, since)),
            )
        )
    return Report(provenance, tuple(out))


def _touches(record: ChangeRecord, since: dt.date) -> bool:
    """Recorded, announced, effective (or, never announced, planned) on or after ``since``."""
    days: list[dt.date | None] = [record.planned]
    if record.announced_at:
        days = [record.announced_at.date(), record.effective]
    if record.recorded_at:
        days.append(record.recorded_at.date())
    return any(d is not None and d >= since for d in days)


def _record(change: Change, notice: Notice, facts: _Facts) -> ChangeRecord:
    base = _Identity(
        change_id=change.change_id,
        region=change.region,
        ip=change.ip,
        action=change.action,
        planned=change.effective,
        in_plan=True,
    )
    if notice.status is NoticeStatus.HELD:
        return _announced(base, notice, HELD, facts)
    if not notice.announced:
        return ChangeRecord(**base, notice_days=notice.notice_days, state=NOT_ANNOUNCED, flags=(NOT_ANNOUNCED,))
    if notice.adopted:
        return _announced(base, notice, ADOPTED, facts)
    return _announced(base, notice, IN_EFFECT if notice.status is NoticeStatus.IN_EFFECT else PENDING, facts)


def _orphan(record: Recorded, ann: Announcement | None, moment: dt.datetime, facts: _Facts) -> ChangeRecord:
    """A recorded change the plan no longer holds (its date moved, or it was withdrawn); ``ann``: its
    announcement, if it was told by ``moment``."""
    base = _Identity(
        change_id=record.change_id,
        region=record.region,
        ip=record.ip,
        action=record.action,
        planned=record.planned,
        in_plan=False,
    )
    notice = ann.notice(moment) if ann is not None else record.held_notice(moment)
    return _announced(base, notice, NOT_IN_PLAN, facts)


def _announced(base: _Identity, notice: Notice, state: str, facts: _Facts) -> ChangeRecord:
    """A recorded change's record: announced (told), or held (``notice.status`` HELD)."""
    record = facts.records[notice.change_id]
    batch = record.batch_id
    flags: list[str] = []
    if notice.late:
        flags.append(LATE_NOTICE)
    elif notice.short_notice_exception:
        flags.append(SHORT_NOTICE_EXCEPTION)
    if state == NOT_IN_PLAN:
        flags.append(NOT_IN_PLAN)
    tally = facts.counts.get(batch, DeliveryCounts(0, 0, 0, 0))
    if tally.failed:
        flags.append(DELIVERY_FAILED)
    notices = facts.tallies.get(batch, NoticeTally())
    if notices.undelivered and undelivered_matters(record.planned, facts.day, facts.notice_days):
        flags.append(NOTICES_UNDELIVERED)
    told = notice.announced
    return ChangeRecord(
        **base,
        notice_days=notice.notice_days if told else record.notice_days,
        state=state,
        announced_at=notice.announced_at,
        effective=notice.effective,
        lead_days=notice.lead_days if told and not notice.adopted else None,
        exception_reason=record.exception_reason,
        plan_sha256=facts.plan_hashes.get(notice.change_id),
        deliveries=tally,
        undelivered=tuple(facts.undelivered.get(batch, ())),
        flags=tuple(flags),
        recorded_at=record.recorded_at,
        batch_id=batch,
        notices=notices,
        waivers=tuple(facts.waivers.get(batch, ())),
        adopted=facts.adoptions.get(batch),
    )


__all__ = [
    "ADOPTED",
    "FLAGS",
    "HELD",
    "NOTICES_UNDELIVERED",
    "Adoption",
    "ChangeRecord",
    "DeliveryCounts",
    "RegionReport",
    "Report",
    "Summary",
    "Undelivered",
    "build_report",
]
