"""Make before break: when a planned change really takes effect, given when it was announced.

The plan says when a change is *meant* to happen; the ledger says when customers were told. A change
takes effect on its planned day only if it was announced at least ``notice_days`` before (or recorded
as a reasoned short-notice exception). Announced late, it waits until the notice period is over;
never announced, it never takes effect: an unannounced addition is not published, an unannounced
removal stays published.

The notice rule lives here and nowhere else: :func:`earliest_compliant_day` says when notice given at a
moment is over, :func:`gives_notice` is the one "enough notice?" comparison, and :func:`notice_status`
answers, for a planned change, the ledger and a moment, whether the change is due to be announced, too
close to announce in time, announced late (so delayed), announced and upcoming, or in effect. The
published document, the daily job's diff, the allowlists, the deploy guard and the compliance report all
ask these functions; none compares a lead with a notice period itself.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from collections.abc import Mapping

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

    @property
    def announced(self) -> bool:
        return self.announced_at is not None

    @property
    def late(self) -> bool:
        """Announced with too little notice and no exception, so it takes effect after its planned day."""
        return self.announced and not self.in_time and not self.exception_reason

    @property
    def short_notice_exception(self) -> bool:
        """Announced with too little notice and taken as planned: a recorded, reasoned exception."""
        return self.announced and not self.in_time and bool(self.exception_reason)


@dataclasses.dataclass(frozen=True)
class Announcement:
    """The ledger's record that a change was announced to the region's customers."""

    change_id: str
    region: str
    ip: str
    action: str
    planned: dt.date
    announced_at: dt.datetime
    notice_days: int
    exception_reason: str | None = None

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
        """Too little notice and no exception: the change waits until the notice period is over."""
        return not self.in_time and not self.exception_reason

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
    change: Change, announcements: Mapping[str, Announcement], at: dt.datetime, notice_days: int
) -> Notice:
    """Where ``change`` stands at ``at``: its announcement's status, or (not announced) whether announcing it
    at ``at`` with ``notice_days`` of notice would be in time (due) or not (short)."""
    ann = announcements.get(change.change_id)
    if ann is not None:
        return ann.notice(at)
    would = Announcement.of(change, at, notice_days)
    return _notice(would, NoticeStatus.DUE if would.in_time else NoticeStatus.SHORT, announced=False)


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
