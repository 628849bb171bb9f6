"""Make before break: when a planned change really takes effect, given when it was announced.

The plan says when a change is *meant* to happen; the ledger says when customers were told. A change
takes effect on its planned day only if it was announced at least ``notice_days`` before (or recorded
as a reasoned short-notice exception). Announced late, it waits until the notice period is over;
never announced, it never takes effect: an unannounced addition is not published, an unannounced
removal stays published.

Announced means told, not recorded. The daily job records the changes it announces together as one
*batch*, with one notice per workspace; :func:`told_at` says when a batch counts as told (every workspace
that existed when it was recorded heard of it through one of its channels, or a human accepted it
undelivered), and its changes are announced at that moment. Until then they are *held*: not announced,
so held back exactly as a late announcement is (an addition is not published, a removal stays), and not
announced again either (the ledger knows they are recorded).

An *adopted* change (``egress ledger adopt``) is one the ledger found already in effect when it began to
track a region: a past-dated change of the plan that the list published before (by another system) already
reflects. It was told before the ledger existed, so its notice is not this ledger's to judge: recorded at
the adoption (its moment, by the real clock, is its ``announced_at``), it takes effect on its planned day,
never late and never a short-notice exception, and the report shows it as the adopted baseline.

The notice rule lives here and nowhere else: :func:`earliest_compliant_day` says when notice given at a
moment is over, :func:`gives_notice` is the one "enough notice?" comparison, :func:`told_at` the one
"when were they told?" rule, and :func:`notice_status` answers, for a planned change, the ledger and a
moment, whether the change is due to be announced, too close to announce in time, recorded but held,
announced late (so delayed), announced and upcoming, or in effect. The published document, the daily
job's diff, the allowlists, the deploy guard and the compliance report all ask these functions; none
compares a lead with a notice period itself.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from collections.abc import Collection, Iterable, Mapping

from .dates import ONE_DAY, UTC, lead_days, start_of
from .plan import Change, IPAddress, Plan, sort_addresses


def earliest_compliant_day(announced_at: dt.datetime, notice_days: int) -> dt.date:
    """The first day on which a change announced at ``announced_at`` may take effect: the first UTC day that
    starts no earlier than ``notice_days`` whole days after the announcement."""
    moment = (announced_at + dt.timedelta(days=notice_days)).astimezone(UTC)
    day = moment.date()
    if moment > start_of(day):
        day += ONE_DAY
    return day


def gives_notice(announced_at: dt.datetime, planned: dt.date, notice_days: int) -> bool:
    """Does an announcement at ``announced_at`` give ``notice_days`` of notice for a change on ``planned``?

    The one "enough notice?" comparison (the same as ``lead_days(announced_at, planned) >= notice_days``)."""
    return earliest_compliant_day(announced_at, notice_days) <= planned


def last_moment_in_time(planned: dt.date, notice_days: int) -> dt.datetime:
    """The latest midnight (UTC) at which announcing a change planned for ``planned`` still gives notice."""
    at = start_of(planned)
    while not gives_notice(at, planned, notice_days):
        at -= ONE_DAY
    return at


class NoticeStatus(enum.Enum):
    """Where a planned change stands with its notice at a moment."""

    DUE = "due"  # not announced; announcing it now gives enough notice
    SHORT = "short"  # not announced; too close: announced now, it could not take effect as planned
    HELD = "held"  # recorded, but not every workspace was told yet: not announced, never announced again
    LATE = "late"  # announced with too little notice and no exception: waits past its planned day
    UPCOMING = "upcoming"  # announced in time (or as an exception); takes effect on its planned day, later
    IN_EFFECT = "in_effect"  # announced, and its effective day has come


@dataclasses.dataclass(frozen=True)
class Notice:
    """A change's notice status at a moment, and the facts behind it."""

    change_id: str
    planned: dt.date
    status: NoticeStatus
    notice_days: int  # the promise: the announcement's, or (not announced) the plan's
    lead_days: int  # whole days of notice given, or (not announced) that announcing at the moment would give
    earliest_compliant: dt.date  # the first day that notice allows the change to take effect
    in_time: bool  # that notice covers notice_days before the planned day
    announced_at: dt.datetime | None = None
    exception_reason: str | None = None
    effective: dt.date | None = None  # None while not announced: it never takes effect
    adopted: bool = False  # the adopted baseline: in effect before the ledger tracked the region

    @property
    def announced(self) -> bool:
        return self.announced_at is not None

    @property
    def late(self) -> bool:
        """Announced with too little notice and no exception, so it takes effect after its planned day."""
        return self.announced and not self.in_time and not self.exception_reason and not self.adopted

    @property
    def short_notice_exception(self) -> bool:
        """Announced with too little notice and taken as planned: a recorded, reasoned exception."""
        return self.announced and not self.in_time and bool(self.exception_reason)


@dataclasses.dataclass(frozen=True)
class Announcement:
    """That a change was announced to the region's customers: ``announced_at`` is when they were told (its
    batch's :func:`told_at`), the start of its notice; ``recorded_at`` when the daily job recorded it."""

    change_id: str
    region: str
    ip: str
    action: str
    planned: dt.date
    announced_at: dt.datetime
    notice_days: int
    exception_reason: str | None = None
    recorded_at: dt.datetime | None = None  # None: not recorded in a ledger (a trial, or read from a document)
    batch_id: str | None = None
    adopted: bool = False  # the adopted baseline (egress ledger adopt): in effect as planned, never late

    @classmethod
    def of(cls, change: Change, at: dt.datetime, notice_days: int, exception_reason: str | None = None) -> Announcement:
        """``change`` announced at ``at`` with ``notice_days`` promised (what the ledger records, or would)."""
        return cls(
            change.change_id,
            change.region,
            change.ip,
            change.action,
            change.effective,
            at,
            notice_days,
            exception_reason,
        )

    @property
    def lead(self) -> int:
        return lead_days(self.announced_at, self.planned)

    @property
    def in_time(self) -> bool:
        return gives_notice(self.announced_at, self.planned, self.notice_days)

    @property
    def late(self) -> bool:
        """Too little notice, no exception, not adopted: the change waits until the notice period is over."""
        return not self.in_time and not self.exception_reason and not self.adopted

    @property
    def effective(self) -> dt.date:
        """The day the change takes effect: the planned day, or later if the notice came late."""
        return earliest_compliant_day(self.announced_at, self.notice_days) if self.late else self.planned

    def in_effect_on(self, day: dt.date) -> bool:
        return self.effective <= day

    def notice(self, at: dt.datetime) -> Notice:
        """This announcement's notice status at ``at`` (also for one whose change has left the plan)."""
        status = (
            NoticeStatus.IN_EFFECT
            if self.in_effect_on(at.date())
            else NoticeStatus.LATE
            if self.late
            else NoticeStatus.UPCOMING
        )
        return _notice(self, status, announced=True)


def notice_status(
    change: Change,
    announcements: Mapping[str, Announcement],
    at: dt.datetime,
    notice_days: int,
    held: Collection[str] = frozenset(),
) -> Notice:
    """Where ``change`` stands at ``at``: its announcement's status; recorded but not told yet (its id in
    ``held``): held; else (not recorded) whether announcing it at ``at`` with ``notice_days`` of notice would
    be in time (due) or not (short). A held change's other facts are those of being told at ``at``."""
    ann = announcements.get(change.change_id)
    if ann is not None:
        return ann.notice(at)
    would = Announcement.of(change, at, notice_days)
    if change.change_id in held:
        return _notice(would, NoticeStatus.HELD, announced=False)
    return _notice(would, NoticeStatus.DUE if would.in_time else NoticeStatus.SHORT, announced=False)


# Told means delivered -------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class WorkspaceNotice:
    """One workspace's part in a batch's notice."""

    holds: bool  # the workspace existed when the batch was recorded (one added later gets it, holds nothing)
    delivered_at: dt.datetime | None  # when the first of its channels accepted the notice
    waived_at: dt.datetime | None = None  # when a human accepted it undelivered (egress notify --accept-undelivered)


def told_at(recorded_at: dt.datetime, workspaces: Iterable[WorkspaceNotice]) -> dt.datetime | None:
    """When a batch recorded at ``recorded_at`` counts as told, or None while it does not: the rule.

    A workspace is told when one of its channels accepted the notice (an SMTP server's 250, a webhook's
    2xx, the Maildir file written). A batch is told once every workspace that existed when it was recorded
    is told or was accepted undelivered by a human; at the last of those moments, rounded up to the whole
    second (a notice is never taken to start earlier than it did, and the published ``announced_at``, whole
    seconds, is that moment exactly). A batch recorded when the region had no workspace is told when recorded.
    """
    moments = [recorded_at]
    for w in workspaces:
        if not w.holds:
            continue
        settled = [t for t in (w.delivered_at, w.waived_at) if t is not None]
        if not settled:
            return None
        moments.append(min(settled))
    last = max(moments)
    return last if not last.microsecond else last.replace(microsecond=0) + dt.timedelta(seconds=1)


@dataclasses.dataclass(frozen=True)
class Recorded:
    """A change as the ledger recorded it, in a batch: announced once the batch is told (``told_at``)."""

    change_id: str
    region: str
    ip: str
    action: str
    planned: dt.date
    notice_days: int
    exception_reason: str | None
    batch_id: str
    recorded_at: dt.datetime
    told_at: dt.datetime | None  # None: held (not every workspace told yet)
    adopted: bool = False  # the adopted baseline: told when recorded, with no notice of this ledger's

    @property
    def held(self) -> bool:
        return self.told_at is None

    def held_notice(self, at: dt.datetime) -> Notice:
        """Its status at ``at`` while its batch is not told: held, its other facts as if told at ``at``."""
        would = Announcement(
            self.change_id, self.region, self.ip, self.action, self.planned, at, self.notice_days, self.exception_reason
        )
        return _notice(would, NoticeStatus.HELD, announced=False)

    def announcement(self, at: dt.datetime | None = None) -> Announcement | None:
        """The announcement: told at its batch's moment; held, as it would be if told at ``at`` (None without)."""
        moment = self.told_at or at
        if moment is None:
            return None
        return Announcement(
            self.change_id,
            self.region,
            self.ip,
            self.action,
            self.planned,
            moment,
            self.notice_days,
            self.exception_reason,
            self.recorded_at,
            self.batch_id,
            self.adopted,
        )


def announced(records: Mapping[str, Recorded]) -> dict[str, Announcement]:
    """The recorded changes whose batch is told, as announcements (what every reader of the ledger uses)."""
    out = {}
    for change_id, r in records.items():
        ann = r.announcement()
        if ann is not None:
            out[change_id] = ann
    return out


def held(records: Mapping[str, Recorded]) -> frozenset[str]:
    """The recorded changes whose batch is not told yet."""
    return frozenset(k for k, r in records.items() if r.held)


def undelivered_matters(planned: dt.date, day: dt.date, notice_days: int) -> bool:
    """Do undelivered notices of a change planned for ``planned`` need a human on ``day``? Once the change is
    planned within ``notice_days`` (or its day has passed), a workspace not told holds it back or was never
    told of a change in effect: the report flags it and ``egress notify`` exits 6 until it is delivered or
    accepted undelivered."""
    return planned <= day + dt.timedelta(days=notice_days)


def _notice(ann: Announcement, status: NoticeStatus, *, announced: bool) -> Notice:
    """The facts of ``ann`` (a real announcement, or one that would be made now if not ``announced``)."""
    return Notice(
        change_id=ann.change_id,
        planned=ann.planned,
        status=status,
        notice_days=ann.notice_days,
        lead_days=ann.lead,
        earliest_compliant=earliest_compliant_day(ann.announced_at, ann.notice_days),
        in_time=ann.in_time,
        announced_at=ann.announced_at if announced else None,
        exception_reason=ann.exception_reason,
        effective=ann.effective if announced else None,
        adopted=ann.adopted,
    )


@dataclasses.dataclass(frozen=True)
class Upcoming:
    ip: str
    action: str
    effective: dt.date
    announced_at: dt.datetime


def effective_day(change: Change, announcements: Mapping[str, Announcement]) -> dt.date | None:
    """When ``change`` takes effect, or None if it has not been announced (so never, yet)."""
    ann = announcements.get(change.change_id)
    return ann.effective if ann else None


def in_effect(change: Change, announcements: Mapping[str, Announcement], day: dt.date) -> bool:
    """Announced, and in effect on ``day``."""
    ann = announcements.get(change.change_id)
    return ann is not None and ann.in_effect_on(day)


def published_addresses(
    plan: Plan, region: str, announcements: Mapping[str, Announcement], day: dt.date
) -> list[IPAddress]:
    """The addresses a region's published list must hold on ``day``.

    An address is listed from its effective addition (always, if it has no ``active_from``) until its
    effective removal (never, while the removal is unannounced).
    """
    out: list[IPAddress] = []
    for entry in plan.region(region):
        ip = str(entry.ip)
        if entry.active_from is not None and not in_effect(
            Change(entry.active_from, region, "add", ip), announcements, day
        ):
            continue
        if entry.retire_on is not None and in_effect(Change(entry.retire_on, region, "remove", ip), announcements, day):
            continue
        out.append(entry.ip)
    return sort_addresses(out)


def upcoming(plan: Plan, region: str, announcements: Mapping[str, Announcement], day: dt.date) -> list[Upcoming]:
    """Announced changes of the region that take effect after ``day``, soonest first."""
    out = []
    for change in plan.changes(region):
        ann = announcements.get(change.change_id)
        if ann is not None and not ann.in_effect_on(day):
            out.append(Upcoming(change.ip, change.action, ann.effective, ann.announced_at))
    return sorted(out, key=lambda u: (u.effective, u.action, u.ip))


def unannounced(plan: Plan, region: str, announcements: Mapping[str, Announcement]) -> list[Change]:
    """Planned changes of the region that have not been announced yet."""
    return [c for c in plan.changes(region) if c.change_id not in announcements]


def first_empty_day(plan: Plan, region: str, announcements: Mapping[str, Announcement]) -> dt.date | None:
    """The first day an announced removal would leave the region's published list empty, if any."""
    days = sorted({a.effective for a in announcements.values() if a.region == region and a.action == "remove"})
    for day in days:
        if not published_addresses(plan, region, announcements, day):
            return day
    return None
