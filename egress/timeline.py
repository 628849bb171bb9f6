"""Make before break: when a planned change really takes effect, given when it was announced.

The plan says when a change is *meant* to happen; the ledger says when customers were told. A change
takes effect on its planned day only if it was announced at least ``notice_days`` before (or recorded
as a reasoned short-notice exception). Announced late, it waits until the notice period is over;
never announced, it never takes effect: an unannounced addition is not published, an unannounced
removal stays published. The published document, the daily job, the allowlists and the deploy guard
all ask these functions, so the rule lives in one place.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from .dates import earliest_compliant_day, lead_days
from .plan import Change, IPAddress, Plan, sort_addresses


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

    @property
    def lead(self) -> int:
        return lead_days(self.announced_at, self.planned)

    @property
    def effective(self) -> dt.date:
        """The day the change takes effect: the planned day, or later if the notice came late."""
        if self.exception_reason:
            return self.planned
        return max(self.planned, earliest_compliant_day(self.announced_at, self.notice_days))


@dataclasses.dataclass(frozen=True)
class Upcoming:
    ip: str
    action: str
    effective: dt.date
    announced_at: dt.datetime


def effective_day(change: Change, announcements: dict[str, Announcement]) -> dt.date | None:
    """When ``change`` takes effect, or None if it has not been announced (so never, yet)."""
    ann = announcements.get(change.change_id)
    return ann.effective if ann else None


def published_addresses(plan: Plan, region: str, announcements: dict[str, Announcement], day: dt.date) -> list[IPAddress]:
    """The addresses a region's published list must hold on ``day``.

    An address is listed from its effective addition (always, if it has no ``active_from``) until its
    effective removal (never, while the removal is unannounced).
    """
    out = []
    for entry in plan.region(region):
        if entry.active_from is not None:
            added = effective_day(Change(entry.active_from, region, "add", str(entry.ip)), announcements)
            if added is None or day < added:
                continue
        if entry.retire_on is not None:
            removed = effective_day(Change(entry.retire_on, region, "remove", str(entry.ip)), announcements)
            if removed is not None and removed <= day:
                continue
        out.append(entry.ip)
    return sort_addresses(out)


def upcoming(plan: Plan, region: str, announcements: dict[str, Announcement], day: dt.date) -> list[Upcoming]:
    """Announced changes of the region that take effect after ``day``, soonest first."""
    out = []
    for change in plan.changes(region):
        ann = announcements.get(change.change_id)
        if ann is not None and ann.effective > day:
            out.append(Upcoming(change.ip, change.action, ann.effective, ann.announced_at))
    return sorted(out, key=lambda u: (u.effective, u.action, u.ip))


def unannounced(plan: Plan, region: str, announcements: dict[str, Announcement]) -> list[Change]:
    """Planned changes of the region that have not been announced yet."""
    return [c for c in plan.changes(region) if c.change_id not in announcements]


def first_empty_day(plan: Plan, region: str, announcements: dict[str, Announcement]) -> dt.date | None:
    """The first day an announced removal would leave the region's published list empty, if any."""
    days = sorted({a.effective for a in announcements.values() if a.region == region and a.action == "remove"})
    for day in days:
        if not published_addresses(plan, region, announcements, day):
            return day
    return None
