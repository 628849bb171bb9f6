"""Diff the published document against the plan and the ledger; decide what the daily job must do.

Which changes to announce is the notice rule's call (:func:`smtp_egress.timeline.notice_status`); this
module sorts its answers and compares the published list with what plan + ledger expect.

The result says, for one region on one day:
- ``missing``: addresses that must be published today but are not. A list that shrank by more than
  the plan explains is never read as "addresses removed": the caller treats it as a bad document.
- ``unexpected``: published addresses that the plan and ledger do not put in today's list (drift).
- ``due``: unrecorded changes far enough away to announce now (status ``DUE``). A change recorded but not
  told yet (status ``HELD``: its notices are still being delivered) is neither announced nor due: it is
  not in today's list (an addition) or still in it (a removal), and it is not recorded again.
- ``short``: unrecorded changes closer than ``notice_days`` (status ``SHORT``), each with the earliest
  compliant day.
- With ``publish_follows`` (the daily task publishes right after this diff, ``egress daily``), the list may
  still be the one published the day before: an address counts as missing only if yesterday's list held it too,
  and as unexpected only if yesterday's did not hold it either (today's changes are published next).
- ``blocked``: due removals that would leave the published list empty (their replacement is not
  announced): make before break, so they are not announced either.
- ``stale_upcoming``: announced changes the published document does not list yet (re-publish);
  ``overdue_upcoming``: those of them announced :data:`PUBLISH_WITHIN` or longer ago. A publication that has not
  picked an announcement up by then is broken: customers who read ``upcoming`` were not shown the change (an
  alert, exit 5, where a fresh one is only a note: the next publication may simply not have run yet).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Collection, Sequence

from .dates import ONE_DAY, start_of
from .document import UpcomingEntry
from .plan import Change, Plan
from .timeline import Announcement, NoticeStatus, first_empty_day, notice_status, published_addresses, upcoming
from .wording import count, span

PUBLISH_WITHIN = dt.timedelta(days=1)  # an announcement not in the published document after this: an alert


@dataclasses.dataclass(frozen=True)
class ShortNotice:
    change: Change
    lead_days: int  # whole days (rounded down) from the run's moment to the start of the planned day
    earliest_compliant: dt.date
    lead: dt.timedelta | None = None  # the exact time from the run's moment to the start of the planned day

    def describe(self, notice_days: int) -> str:
        c = self.change
        verb = "addition of" if c.action == "add" else "removal of"
        lead = self.lead if self.lead is not None else dt.timedelta(days=self.lead_days)
        when = f"{span(lead)} away" if lead >= dt.timedelta(0) else f"{span(lead)} overdue"
        field = "active_from" if c.action == "add" else "retire_on"
        return (
            f"{c.region}: {verb} {c.ip} planned for {c.effective.isoformat()} is {when}; customers need "
            f"{count(notice_days, 'day')} of notice. Nothing was sent for it. Move its {field} to "
            f"{self.earliest_compliant.isoformat()} or later (the earliest compliant date if announced now), "
            f"or rerun with --allow-short-notice --reason TEXT to announce it anyway as a recorded exception"
        )


@dataclasses.dataclass(frozen=True)
class DiffResult:
    region: str
    day: dt.date
    expected: tuple[str, ...]
    published: tuple[str, ...]
    missing: tuple[str, ...]
    unexpected: tuple[str, ...]
    due: tuple[Change, ...]
    short: tuple[ShortNotice, ...]
    stale_upcoming: tuple[str, ...]
    blocked: tuple[tuple[Change, dt.date], ...] = ()
    overdue_upcoming: tuple[str, ...] = ()  # of stale_upcoming, those announced PUBLISH_WITHIN or longer ago

    @property
    def drift(self) -> bool:
        return bool(self.missing or self.unexpected)


def diff(
    plan: Plan,
    region: str,
    anns: dict[str, Announcement],
    published: list[str],
    now: dt.datetime,
    published_upcoming: Sequence[UpcomingEntry] | None = None,
    held: Collection[str] = frozenset(),
    publish_follows: bool = False,
) -> DiffResult:
    """Compare ``published`` (addresses as strings) with what plan + ledger expect at ``now``; ``anns`` are the
    announced (told) changes, ``held`` the ids of those recorded but not told yet."""
    day = now.date()
    expected = [str(ip) for ip in published_addresses(plan, region, anns, day)]
    pub_set, exp_set = set(published), set(expected)
    before = {str(ip) for ip in published_addresses(plan, region, anns, day - ONE_DAY)} if publish_follows else None
    due: list[Change] = []
    short: list[ShortNotice] = []
    for change in plan.changes(region):
        notice = notice_status(change, anns, now, plan.notice_days, held)
        if notice.status is NoticeStatus.DUE:
            due.append(change)
        elif notice.status is NoticeStatus.SHORT:
            lead = start_of(change.effective) - now
            short.append(ShortNotice(change, notice.lead_days, notice.earliest_compliant, lead))
    due, blocked = _unblocked(plan, region, anns, due, now)
    listed = {(u.get("ip"), u.get("action"), u.get("effective")) for u in (published_upcoming or [])}
    missing_upcoming = [
        u for u in upcoming(plan, region, anns, day) if (u.ip, u.action, u.effective.isoformat()) not in listed
    ]
    stale = [f"{u.action} {u.ip} on {u.effective.isoformat()}" for u in missing_upcoming]
    overdue = [s for s, u in zip(stale, missing_upcoming, strict=True) if now - u.announced_at >= PUBLISH_WITHIN]
    return DiffResult(
        region=region,
        day=day,
        expected=tuple(expected),
        published=tuple(published),
        missing=tuple(ip for ip in expected if ip not in pub_set and (before is None or ip in before)),
        unexpected=tuple(ip for ip in published if ip not in exp_set and (before is None or ip not in before)),
        due=tuple(due),
        short=tuple(short),
        stale_upcoming=tuple(stale),
        blocked=tuple(blocked),
        overdue_upcoming=tuple(overdue),
    )


def _unblocked(
    plan: Plan, region: str, anns: dict[str, Announcement], due: list[Change], now: dt.datetime
) -> tuple[list[Change], list[tuple[Change, dt.date]]]:
    """Split due changes: additions always go; a removal goes only if the list stays non-empty."""
    tentative = dict(anns)
    ok: list[Change] = []
    blocked: list[tuple[Change, dt.date]] = []
    for c in sorted(due, key=lambda c: (c.action != "add", c.effective)):
        trial = {**tentative, c.change_id: Announcement.of(c, now, plan.notice_days)}
        empty = first_empty_day(plan, region, trial) if c.action == "remove" else None
        if empty is None:
            tentative = trial
            ok.append(c)
        else:
            blocked.append((c, empty))
    return sorted(ok), blocked
