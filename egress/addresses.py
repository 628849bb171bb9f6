"""What each planned address should be on the gateways today, and the deploy guard.

The stacks ask this module, never the plan directly: an address is attached to the NAT gateways only
while it is in the published list (see :mod:`smtp_egress.timeline`), allocated but unattached while its
addition is planned or announced, and detached (but kept: protected, retained) once its announced
retirement has taken effect.

The guard compares the plan's intent with what announcements allow. When the plan says an address
should already be sending (or already be gone) but customers were not told in time, deploying would
break the promise: the guard refuses, naming the address and the dates, unless an emergency override
with a reason is given (and then it is recorded in the stack outputs).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Collection, Sequence
from typing import Literal

from .document import UpcomingEntry
from .errors import EgressError
from .plan import Change, Entry, Plan
from .timeline import Announcement, effective_day, last_moment_in_time, notice_status

State = Literal["live", "retiring", "announced", "planned", "retired"]
# live: in the published list and sending; retiring: live, removal announced; announced: addition
# announced, not yet effective; planned: addition not announced yet; retired: removal in effect.
ATTACHED_STATES = ("live", "retiring")


@dataclasses.dataclass(frozen=True)
class AddressState:
    entry: Entry
    state: State
    attach_from: dt.date | None  # when it is (or will be) attached; None: not scheduled
    detach_from: dt.date | None  # when it is (or will be) detached; None: not scheduled

    @property
    def ip(self) -> str:
        return str(self.entry.ip)

    @property
    def attached(self) -> bool:
        return self.state in ATTACHED_STATES


class GuardViolation(EgressError):
    """Deploying now would attach or detach an address before customers were told for long enough."""


def address_states(plan: Plan, region: str, anns: dict[str, Announcement], day: dt.date) -> list[AddressState]:
    out = []
    for e in plan.region(region):
        ip = str(e.ip)
        added = None if e.active_from is None else effective_day(Change(e.active_from, region, "add", ip), anns)
        removed = None if e.retire_on is None else effective_day(Change(e.retire_on, region, "remove", ip), anns)
        if e.active_from is not None and added is None:
            state: State = "planned"
        elif added is not None and day < added:
            state = "announced"
        elif removed is not None and removed <= day:
            state = "retired"
        elif removed is not None:
            state = "retiring"
        else:
            state = "live"
        out.append(AddressState(e, state, added if e.active_from else None, removed))
    return out


@dataclasses.dataclass(frozen=True)
class Violation:
    ip: str
    message: str


def guard_violations(plan: Plan, region: str, anns: dict[str, Announcement], now: dt.datetime) -> list[Violation]:
    """Where the plan wants an address attached or detached today but the notice does not allow it."""
    day = now.date()
    out = []
    for s in address_states(plan, region, anns, day):
        e = s.entry
        if e.active_from is not None and e.active_from <= day and s.state in ("planned", "announced"):
            told, allowed = _told(Change(e.active_from, region, "add", s.ip), plan, anns, now)
            out.append(
                Violation(
                    s.ip,
                    (
                        f"{region}: {s.ip} is planned to send from {e.active_from.isoformat()} but was {told}; with "
                        f"{plan.notice_days} days of notice it may be attached from {allowed.isoformat()}. "
                        f"Run the daily job (egress notify) and deploy then, or move active_from"
                    ),
                )
            )
        if e.retire_on is not None and e.retire_on <= day and s.state in ("live", "retiring"):
            told, allowed = _told(Change(e.retire_on, region, "remove", s.ip), plan, anns, now)
            out.append(
                Violation(
                    s.ip,
                    (
                        f"{region}: {s.ip} is planned to stop sending on {e.retire_on.isoformat()} but its removal was "
                        f"{told}; customers may rely on it until {allowed.isoformat()}, so it stays attached. "
                        f"Run the daily job (egress notify), or move retire_on"
                    ),
                )
            )
    return out


def _told(change: Change, plan: Plan, anns: dict[str, Announcement], now: dt.datetime) -> tuple[str, dt.date]:
    """How customers were told of ``change``, and the first day the notice lets it take effect: its
    effective day if announced, else the earliest compliant day if announced now."""
    notice = notice_status(change, anns, now, plan.notice_days)
    if notice.announced_at is None:
        return "never announced (or its notice did not reach every workspace yet)", notice.earliest_compliant
    return f"announced {notice.announced_at.date().isoformat()}", notice.effective or notice.earliest_compliant


def enforce_guard(
    plan: Plan, region: str, anns: dict[str, Announcement], now: dt.datetime, override_reason: str | None = None
) -> list[Violation]:
    """Raise GuardViolation unless there are none or an override reason is given; return them."""
    found = guard_violations(plan, region, anns, now)
    if found and not (override_reason or "").strip():
        raise GuardViolation(
            "the deploy guard refused (nothing was created or changed):\n  "
            + "\n  ".join(v.message for v in found)
            + "\n  In a real emergency set config 'smtp-egress:emergencyOverride' to the reason; "
            "it is recorded in the stack outputs"
        )
    return found


def should_attach(state: AddressState, day: dt.date, overridden: bool) -> bool:
    """Attached to the gateways today? The announced state; under an emergency override, the plan's."""
    return state.entry.is_live(day) if overridden else state.attached


def announcements_from_document(
    plan: Plan, region: str, addresses: Sequence[str], upcoming: Sequence[UpcomingEntry]
) -> dict[str, Announcement]:
    """What a published document says was announced, as ledger-shaped announcements (for the guard).

    A change listed in ``upcoming`` was announced at its ``announced_at``. A change already reflected in
    ``ip_addresses`` (an addition listed, a removal gone) took effect after due notice. Anything else
    counts as not announced, so the guard errs towards keeping the gateways as they are.
    """
    from .dates import parse_rfc3339

    listed = set(addresses)
    pending = {(u["ip"], u["action"]): u for u in upcoming}
    out: dict[str, Announcement] = {}
    for c in plan.changes(region):
        u = pending.get((c.ip, c.action))
        if u is not None:
            at = parse_rfc3339(u["announced_at"])
        elif (c.action == "add") == (c.ip in listed):
            at = last_moment_in_time(c.effective, plan.notice_days)
        else:
            continue
        out[c.change_id] = Announcement.of(c, at, plan.notice_days)
    return out


def listed_while_attached(
    anns: dict[str, Announcement], region: str, attached: Collection[str], day: dt.date
) -> dict[str, Announcement]:
    """The announcements to render the region's list from while ``attached`` (what its gateways hold now) may
    still send: a removal in effect on ``day`` of an address still attached is left out, so the address stays
    listed until it is detached (detach, then publish). Everything else, additions included, is as announced."""
    still = set(attached)
    return {
        k: a
        for k, a in anns.items()
        if not (a.region == region and a.action == "remove" and a.ip in still and a.in_effect_on(day))
    }
