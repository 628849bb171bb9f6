"""The worker's rows in the ledger (schema revision 0008): per-recipient outcomes and dead letters.

A batch of outcomes is one transaction (an upsert per row): ``delivered`` and ``failed`` are final, so a job
handled again after a crash never turns a delivered recipient back into deferred; a ``deferred`` row is
replaced by the next attempt's outcome. Recording the same final outcome twice changes nothing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from ..tables import worker_dead_letters, worker_outcomes

FINAL = ("delivered", "failed")


@dataclasses.dataclass(frozen=True)
class OutcomeRow:
    job_id: str
    recipient: str
    workspace_id: str
    state: str  # delivered | deferred | failed
    code: int | None
    reply: str
    server: str | None
    attempts: int
    archive_key: str | None


@dataclasses.dataclass(frozen=True)
class DeadLetterRow:
    job_id: str
    workspace_id: str
    reason: str


def _upsert(conn: sa.Connection, table: sa.Table, keys: list[str], final_only: bool) -> Any:
    from sqlalchemy.dialects import postgresql, sqlite

    dialect = conn.dialect.name
    stmt: Any = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
    if not final_only:
        return stmt.on_conflict_do_nothing(index_elements=keys)
    updated = {c.name: stmt.excluded[c.name] for c in table.columns if c.name not in keys}
    return stmt.on_conflict_do_update(index_elements=keys, set_=updated, where=table.c.state == "deferred")


def record(
    conn: sa.Connection, outcomes: Sequence[OutcomeRow], dead: Sequence[DeadLetterRow], now: dt.datetime
) -> None:
    """Record ``outcomes`` and ``dead`` letters in one committed transaction."""
    with conn.begin():
        if outcomes:
            rows = [{**dataclasses.asdict(o), "updated_at": now} for o in outcomes]
            conn.execute(_upsert(conn, worker_outcomes, ["job_id", "recipient"], True), rows)
        if dead:
            rows = [{**dataclasses.asdict(d), "dead_at": now} for d in dead]
            conn.execute(_upsert(conn, worker_dead_letters, ["job_id"], False), rows)


def final_states(conn: sa.Connection, job_ids: Sequence[str]) -> dict[str, dict[str, str]]:
    """Per job of ``job_ids``: its recipients whose outcome is final (never tried again), with that outcome."""
    o = worker_outcomes.c
    found: dict[str, dict[str, str]] = {}
    with conn.begin():
        for start in range(0, len(job_ids), 500):
            chunk = list(job_ids[start : start + 500])
            q = sa.select(o.job_id, o.recipient, o.state).where(o.job_id.in_(chunk), o.state.in_(FINAL))
            for job_id, recipient, state in conn.execute(q):
                found.setdefault(job_id, {})[recipient] = state
    return found


@dataclasses.dataclass(frozen=True)
class Tally:
    delivered: int
    deferred: int
    failed: int
    dead_letters: int


def tally(conn: sa.Connection) -> Tally:
    """How many recipients are in each state, and how many jobs were dead-lettered."""
    o = worker_outcomes.c
    with conn.begin():
        rows = conn.execute(sa.select(o.state, sa.func.count()).group_by(o.state)).all()
        by_state: dict[str, int] = {str(state): int(n) for state, n in rows}
        dead = conn.execute(sa.select(sa.func.count()).select_from(worker_dead_letters)).scalar_one()
    return Tally(by_state.get("delivered", 0), by_state.get("deferred", 0), by_state.get("failed", 0), dead)


def dead_letters(conn: sa.Connection, limit: int = 100) -> list[DeadLetterRow]:
    d = worker_dead_letters.c
    with conn.begin():
        rows = conn.execute(sa.select(d.job_id, d.workspace_id, d.reason).order_by(d.dead_at.desc()).limit(limit))
        return [DeadLetterRow(*row) for row in rows]
