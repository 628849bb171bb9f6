"""The ledger's side of branded tracking: which workspaces have domains, their stored state, and the history.

Each workspace's check is recorded in one transaction: a ``check`` row in ``domain_history`` (its status and a
JSON summary of every record: expected, status, found, diagnosis), a ``transition`` row when the state changed,
and the new ``domain_states`` row. A stored state is about the names it was checked for: when a workspace's
tracking or sending domain changed since, the workspace starts again with no state.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import sqlalchemy as sa

from ..tables import domain_history, domain_states, workspaces
from .expected import BrandedDomains
from .state import Advanced, DomainState

if TYPE_CHECKING:
    from ..ledger import Ledger
    from .records import DomainCheck

MAX_SUMMARY = 8000
IN_LIST = 500  # ids in one IN (...) list: SQLite bounds the parameters of a statement


def branded(ledger: Ledger, workspace_ids: Iterable[str] | None = None) -> list[BrandedDomains]:
    """The workspaces (of ``workspace_ids``; None: every one) that have branded domains, by id; a workspace
    without a bounce label gets one first (a ledger upgraded from before revision 0009)."""
    ids = None if workspace_ids is None else list(workspace_ids)
    ledger.assign_bounce_labels(ids)
    w = workspaces.c
    q = sa.select(w.workspace_id, w.region, w.sending_domain, w.tracking_domain, w.bounce_label).where(
        w.tracking_domain.is_not(None), w.sending_domain.is_not(None)
    )
    if ids is not None:
        q = q.where(w.workspace_id.in_(ids))
    with ledger.conn.begin():
        rows = ledger.conn.execute(q.order_by(w.workspace_id)).all()
    return [BrandedDomains(*row) for row in rows]


def workspace_by_domain(ledger: Ledger, names: Iterable[str]) -> dict[str, str]:
    """Tracking or sending domain (stored form) -> the workspace id, for the names some workspace has."""
    wanted = list(names)
    w = workspaces.c
    q = sa.select(w.workspace_id, w.tracking_domain, w.sending_domain).where(
        sa.or_(w.tracking_domain.in_(wanted), w.sending_domain.in_(wanted))
    )
    found: dict[str, str] = {}
    with ledger.conn.begin():
        for ws, tracking, sending in ledger.conn.execute(q.order_by(w.workspace_id)):
            for name in (tracking, sending):
                if name in wanted:
                    found.setdefault(name, ws)
    return found


def verified_tracking_domains(conn: sa.Connection, workspace_id: str | None = None) -> dict[str, str]:
    """Workspace id -> tracking domain, for the workspaces (``workspace_id``'s only, when given) whose stored state
    is "verified" for their current names: a state about a tracking or sending domain the workspace no longer
    has counts for nothing. What the tracker answers and the worker rewrites links on."""
    w, s = workspaces.c, domain_states.c
    q = (
        sa.select(w.workspace_id, w.tracking_domain)
        .join(domain_states, s.workspace_id == w.workspace_id)
        .where(s.state == "verified", s.tracking_domain == w.tracking_domain, s.sending_domain == w.sending_domain)
    )
    if workspace_id is not None:
        q = q.where(w.workspace_id == workspace_id)
    return {ws: domain for ws, domain in conn.execute(q) if domain}


def states(ledger: Ledger, domains: Iterable[BrandedDomains]) -> dict[str, DomainState]:
    """The stored state of each workspace of ``domains`` still about its current names, by workspace id."""
    by_id = {d.workspace_id: d for d in domains}
    ids = list(by_id)
    s = domain_states.c
    found: dict[str, DomainState] = {}
    with ledger.conn.begin():
        rows = [
            row
            for i in range(0, len(ids), IN_LIST)
            for row in ledger.conn.execute(sa.select(domain_states).where(s.workspace_id.in_(ids[i : i + IN_LIST])))
        ]
        for row in rows:
            d = by_id[row.workspace_id]
            if (row.tracking_domain, row.sending_domain) == (d.tracking_domain, d.sending_domain):
                since = _aware(row.since)
                assert since is not None
                found[row.workspace_id] = DomainState(row.state, since, _aware(row.failing_since))
    return found


Recorded = tuple["BrandedDomains", "DomainCheck", Advanced]  # one workspace's check and what it did


def record(ledger: Ledger, done: Sequence[Recorded]) -> None:
    """Record each workspace's check and what it did, all of ``done`` in one transaction (a bulk run records its
    outcomes in groups: a run killed in between loses only checks not yet recorded, never a state's consistency)."""
    if not done:
        return
    history_rows: list[dict[str, object]] = []
    state_rows: list[dict[str, object]] = []
    for domains, check, step in done:
        ws, at = domains.workspace_id, check.checked_at
        history_rows.append(_history(ws, at, "check", check.status, None, summary(check)))
        if step.transition is not None:
            t = step.transition
            said = f"{t.previous or 'no state'} -> {t.state} ({domains.tracking_domain})"
            history_rows.append(_history(ws, t.at, "transition", t.state, t.previous, said))
        if step.stored is not None:
            state_rows.append(
                {
                    "workspace_id": ws,
                    "tracking_domain": domains.tracking_domain,
                    "sending_domain": domains.sending_domain,
                    "state": step.stored.state,
                    "since": step.stored.since,
                    "failing_since": step.stored.failing_since,
                    "checked_at": at,
                }
            )
    ids = [domains.workspace_id for domains, _, _ in done]
    with ledger.conn.begin():
        ledger.conn.execute(domain_history.insert(), history_rows)
        for i in range(0, len(ids), IN_LIST):
            ledger.conn.execute(domain_states.delete().where(domain_states.c.workspace_id.in_(ids[i : i + IN_LIST])))
        if state_rows:
            ledger.conn.execute(domain_states.insert(), state_rows)


def _history(
    workspace_id: str, at: dt.datetime, kind: str, status: str, previous: str | None, said: str
) -> dict[str, object]:
    return {
        "workspace_id": workspace_id,
        "at": at,
        "kind": kind,
        "status": status,
        "previous": previous,
        "summary": said,
    }


def summary(check: DomainCheck) -> str:
    """The check's records as compact JSON: name, type, expected value, status, found, diagnosis."""
    items = [
        {
            "name": r.expected.name,
            "type": r.expected.type,
            "expected": r.expected.value,
            "status": r.status,
            "found": list(r.found)[:10],
            "diagnosis": r.diagnosis[:500],
        }
        for r in check.records
    ]
    return json.dumps(items, separators=(",", ":"), ensure_ascii=False)[:MAX_SUMMARY]


def history(ledger: Ledger, workspace_id: str) -> list[tuple[str, str, str | None, str]]:
    """(kind, status, previous, summary) of ``workspace_id``'s history, oldest first (tests, support)."""
    h = domain_history.c
    q = sa.select(h.kind, h.status, h.previous, h.summary).where(h.workspace_id == workspace_id)
    with ledger.conn.begin():
        return [tuple(row) for row in ledger.conn.execute(q.order_by(h.at, h.history_id))]


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    """SQLite hands back naive datetimes: they are UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value
