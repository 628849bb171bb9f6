"""How each batch's notice stands, by workspace: the ledger's answers for the report and the daily job.

Per batch, its workspaces counted as told (a channel accepted the notice), accepted undelivered (a human's
recorded decision), failed (a delivery failed) or pending; the workspaces neither told nor accepted; and the
decisions with who took them, when and why. :class:`NoticeQueries` is a part of
:class:`smtp_egress.ledger.Ledger`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Collection

import sqlalchemy as sa

from .batches import aware
from .tables import batch_workspaces, batches, deliveries


@dataclasses.dataclass(frozen=True)
class NoticeTally:
    """How a batch's notice stands, counted by workspace: told (one channel accepted it), accepted undelivered
    by a human, or neither (failed: a delivery failed; pending: none tried or all still pending)."""

    delivered: int = 0
    pending: int = 0
    failed: int = 0
    waived: int = 0

    @property
    def undelivered(self) -> int:
        """Workspaces neither told nor accepted undelivered."""
        return self.pending + self.failed


@dataclasses.dataclass(frozen=True)
class Unsettled:
    """A workspace of a batch that was not told and not accepted undelivered."""

    batch_id: str
    workspace_id: str
    status: str  # "failed" (a delivery failed) | "pending"


@dataclasses.dataclass(frozen=True)
class Waiver:
    """A human's decision that a batch counts as told without one workspace (who, when, why)."""

    batch_id: str
    workspace_id: str
    waived_at: dt.datetime
    waived_by: str
    reason: str


class NoticeQueries:
    """Tallies, undelivered workspaces and decisions (a part of :class:`smtp_egress.ledger.Ledger`)."""

    @property
    def conn(self) -> sa.Connection:
        raise NotImplementedError  # the Ledger's connection

    def tallies(self, region: str | None = None, only: Collection[str] | None = None) -> dict[str, NoticeTally]:
        """Per batch (of ``region``; of ``only`` these batches when given), its workspaces counted by how its
        notice stands."""
        per = self._per_workspace(region, only).subquery()
        state = sa.case(
            (per.c.sent > 0, "delivered"),
            (per.c.waived_at.is_not(None), "waived"),
            (per.c.failed > 0, "failed"),
            else_="pending",
        )
        states = sa.select(per.c.batch_id, state.label("state")).subquery()
        q = sa.select(states.c.batch_id, states.c.state, sa.func.count()).group_by(states.c.batch_id, states.c.state)
        found: dict[str, dict[str, int]] = {}
        with self.conn.begin():
            for batch, kind, n in self.conn.execute(q):
                found.setdefault(batch, {})[kind] = n
        return {batch: NoticeTally(**counts) for batch, counts in found.items()}

    def unsettled(self, region: str | None = None) -> list[Unsettled]:
        """The workspaces (of ``region``'s batches) neither told nor accepted undelivered, by batch and workspace."""
        per = self._per_workspace(region).subquery()
        q = (
            sa.select(per.c.batch_id, per.c.workspace_id, per.c.failed)
            .where(per.c.sent == 0, per.c.waived_at.is_(None))
            .order_by(per.c.batch_id, per.c.workspace_id)
        )
        with self.conn.begin():
            return [Unsettled(b, w, "failed" if failed else "pending") for b, w, failed in self.conn.execute(q)]

    def waivers(self, region: str | None = None) -> list[Waiver]:
        """Every recorded decision to accept a workspace undelivered (of ``region``), oldest first."""
        bw = batch_workspaces.c
        q = sa.select(bw.batch_id, bw.workspace_id, bw.waived_at, bw.waived_by, bw.waiver_reason).where(
            bw.waived_at.is_not(None)
        )
        if region:
            q = q.join(batches, batches.c.batch_id == bw.batch_id).where(batches.c.region == region)
        with self.conn.begin():
            rows = self.conn.execute(q.order_by(bw.waived_at, bw.batch_id, bw.workspace_id)).all()
        return [Waiver(b, w, aware(at), by or "", why or "") for b, w, at, by, why in rows]

    def with_unsent(self, region: str) -> set[str]:
        """The batches of ``region`` with a delivery not sent (pending or failed): the only ones that can have a
        workspace not told. One look-up of the deliveries' status index, however many were sent."""
        d = deliveries.c
        q = (
            sa.select(d.batch_id)
            .where(d.status != "sent")
            .where(d.batch_id.in_(sa.select(batches.c.batch_id).where(batches.c.region == region)))
            .distinct()
        )
        with self.conn.begin():
            return set(self.conn.execute(q).scalars())

    def _per_workspace(
        self, region: str | None, only: Collection[str] | None = None
    ) -> sa.Select[tuple[str, str, dt.datetime | None, int, int]]:
        """Per (batch, workspace): when it was waived, and how many of its deliveries were sent and failed."""
        bw, d = batch_workspaces.c, deliveries.c
        on = sa.and_(d.batch_id == bw.batch_id, d.workspace_id == bw.workspace_id)
        q = (
            sa.select(
                bw.batch_id,
                bw.workspace_id,
                bw.waived_at,
                sa.func.coalesce(sa.func.sum(sa.case((d.status == "sent", 1), else_=0)), 0).label("sent"),
                sa.func.coalesce(sa.func.sum(sa.case((d.status == "failed", 1), else_=0)), 0).label("failed"),
            )
            .select_from(batch_workspaces.outerjoin(deliveries, on))
            .group_by(bw.batch_id, bw.workspace_id, bw.waived_at)
        )
        if region:
            q = q.where(bw.batch_id.in_(sa.select(batches.c.batch_id).where(batches.c.region == region)))
        if only is not None:
            q = q.where(bw.batch_id.in_(sorted(only)))
        return q
