"""What the compliance record reads from the ledger beyond the announcements: per batch, its deliveries
counted by status and the ones not accepted (yet), and for an adopted baseline where its list was read; per
change, the plan it was announced from; per region, its workspaces."""

from __future__ import annotations

import dataclasses
import datetime as dt

import sqlalchemy as sa

from ..batches import aware
from ..ledger import Ledger, announcements, batches, deliveries, workspaces


@dataclasses.dataclass(frozen=True)
class DeliveryCounts:
    workspaces_notified: int  # distinct workspaces with at least one sent notice
    sent: int
    failed: int
    pending: int


@dataclasses.dataclass(frozen=True)
class Undelivered:
    """A notice delivery that was not accepted (yet): who, which channel, how often it was tried, why."""

    workspace_id: str
    channel: str
    status: str  # "failed" | "pending"
    attempts: int
    last_error: str | None


def delivery_facts(
    ledger: Ledger, batch_ids: set[str]
) -> tuple[dict[str, DeliveryCounts], dict[str, list[Undelivered]]]:
    """Per batch (of ``batch_ids``): delivery counts by status, distinct workspaces notified, and the undelivered
    rows."""
    d = deliveries.c
    by_status = sa.select(d.batch_id, d.status, sa.func.count(), sa.func.count(sa.distinct(d.workspace_id))).group_by(
        d.batch_id, d.status
    )
    not_sent = (
        sa.select(d.batch_id, d.workspace_id, d.channel, d.status, d.attempts, d.last_error)
        .where(d.status != "sent")
        .order_by(d.batch_id, d.workspace_id, d.channel)
    )
    with ledger.conn.begin():
        grouped = ledger.conn.execute(by_status).all()
        rows = ledger.conn.execute(not_sent).all()
    tallies: dict[str, dict[str, tuple[int, int]]] = {}
    for batch_id, status, n, distinct_ws in grouped:
        tallies.setdefault(batch_id, {})[status] = (n, distinct_ws)
    counts = {
        bid: DeliveryCounts(
            workspaces_notified=t.get("sent", (0, 0))[1],
            sent=t.get("sent", (0, 0))[0],
            failed=t.get("failed", (0, 0))[0],
            pending=t.get("pending", (0, 0))[0],
        )
        for bid, t in tallies.items()
        if bid in batch_ids
    }
    undelivered: dict[str, list[Undelivered]] = {}
    for batch_id, workspace_id, channel, status, attempts, last_error in rows:
        if batch_id in batch_ids:
            undelivered.setdefault(batch_id, []).append(
                Undelivered(workspace_id, channel, status, attempts, last_error)
            )
    return counts, undelivered


@dataclasses.dataclass(frozen=True)
class Adoption:
    """An adopted baseline (``egress ledger adopt``): the list read, and when it was recorded (told then)."""

    batch_id: str
    source: str  # the list's URL or file, credentials masked
    sha256: str  # of the bytes read
    at: dt.datetime


def adoptions(ledger: Ledger) -> dict[str, Adoption]:
    """The adopted baselines, by batch id."""
    b = batches.c
    q = sa.select(b.batch_id, b.adopted_from, b.adopted_sha256, b.recorded_at).where(b.adopted_sha256.is_not(None))
    with ledger.conn.begin():
        rows = ledger.conn.execute(q).all()
    return {batch: Adoption(batch, source or "", sha, aware(at)) for batch, source, sha, at in rows}


def announced_plans(ledger: Ledger) -> dict[str, str]:
    """The sha256 of the plan each announcement was made from."""
    q = sa.select(announcements.c.change_id, announcements.c.plan_sha256)
    with ledger.conn.begin():
        # not dict(result) as C416 suggests: a Result has keys(), so dict() would read it as a mapping
        return {change_id: sha for change_id, sha in ledger.conn.execute(q)}  # noqa: C416


def workspace_counts(ledger: Ledger) -> dict[str, int]:
    q = sa.select(workspaces.c.region, sa.func.count()).group_by(workspaces.c.region)
    with ledger.conn.begin():
        return {region: n for region, n in ledger.conn.execute(q)}  # noqa: C416 (see announced_plans)
