"""The adopted baseline: which past-dated changes of the plan a list published elsewhere already reflects.

A team that adopts smtp-egress has a list out already (the classic ``{"ip_addresses": [...]}``, served by
another system) and a plan that may carry its history: additions and removals dated in the past. The ledger
has no record of those, so without a baseline the daily job would call every past-dated change short notice
(it was never announced here) and expect the list without the past additions. :func:`fit` compares the list
with the plan on a day and says what ``egress ledger adopt`` may record and what it must refuse:

- ``adopt``: the past-dated changes (on or before the day) the list reflects: every past addition (its
  address is listed, or was also removed in the past and is gone) and every past removal whose address is
  gone. They were told before the ledger existed; recorded as the baseline they are in effect as planned.
- ``overdue``: past removals whose address is still listed. Customers were not told it stopped (their
  allowlists still hold it, harmlessly): not adopted, so the daily job asks for notice as for any change.
- ``future``: changes after the day, left to the daily job, which announces them as usual.
- ``unknown`` (listed, not in the plan's region) and ``early`` (listed, but the plan starts it later):
  adopting would hide an address the plan does not know as sending: refused.
- ``unpublished``: live on the day per the plan, not listed: the plan says it sends but customers were
  never told: refused.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable

from .plan import Change, Plan, parse_address, sort_addresses


@dataclasses.dataclass(frozen=True)
class BaselineFit:
    """How a published list fits the plan of ``region`` on ``day`` (see the module's docstring)."""

    region: str
    day: dt.date
    published: tuple[str, ...]  # sorted
    adopt: tuple[Change, ...]
    overdue: tuple[Change, ...]
    future: tuple[Change, ...]
    unknown: tuple[str, ...]
    early: tuple[tuple[str, dt.date], ...]  # (address, its active_from)
    unpublished: tuple[str, ...]


def fit(plan: Plan, region: str, published: Iterable[str], day: dt.date) -> BaselineFit:
    """Compare ``published`` (addresses, any spelling) with ``region``'s plan on ``day``."""
    listed = [str(ip) for ip in sort_addresses({parse_address(a) for a in published})]
    listed_set = set(listed)
    by_ip = {e.ip: e for e in plan.region(region)}
    entries = {str(ip): by_ip[ip] for ip in sort_addresses(by_ip)}  # in the canonical order
    adopt: list[Change] = []
    overdue: list[Change] = []
    future: list[Change] = []
    for change in plan.changes(region):
        if change.effective > day:
            future.append(change)
        elif change.action == "add" or change.ip not in listed_set:
            adopt.append(change)
        else:
            overdue.append(change)
    return BaselineFit(
        region=region,
        day=day,
        published=tuple(listed),
        adopt=tuple(adopt),
        overdue=tuple(overdue),
        future=tuple(future),
        unknown=tuple(a for a in listed if a not in entries),
        early=tuple(
            (ip, e.active_from)
            for ip, e in entries.items()
            if ip in listed_set and e.active_from is not None and e.active_from > day
        ),
        unpublished=tuple(ip for ip, e in entries.items() if e.is_live(day) and ip not in listed_set),
    )
