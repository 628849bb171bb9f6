"""The ledger's workspaces: who is notified, where each channel reaches them, and removing one.

:class:`WorkspaceRecord` is the part of :class:`smtp_egress.ledger.Ledger` that reads and writes the
``workspaces`` and ``workspace_targets`` tables.

Removing a workspace (``egress workspaces remove``) deletes it and its targets, so no later batch goes to it,
and records, for every batch whose notice it has not received, that the batch counts as told without it (a
decision like ``egress notify --accept-undelivered``: who, when, why): its pending notices are never sent, and
it no longer holds a batch back (:func:`smtp_egress.timeline.told_at`). The notices it did receive, and the
decisions, stay in the record.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping

import sqlalchemy as sa

from .errors import InputError
from .tables import batch_workspaces, deliveries, workspace_targets, workspaces


@dataclasses.dataclass(frozen=True)
class Workspace:
    """A workspace to notify: its region and, per channel name, where that channel reaches it."""

    workspace_id: str
    region: str
    targets: Mapping[str, str]  # channel name -> target, e.g. {"email": "ops@customer.example"}


@dataclasses.dataclass(frozen=True)
class Imported:
    """What an import did: workspaces added, changed (region or targets), and found exactly as they were."""

    added: int
    updated: int
    unchanged: int


@dataclasses.dataclass(frozen=True)
class Removed:
    """A removed workspace, and the batches whose notice now counts as told without it."""

    workspace_id: str
    region: str
    batches: tuple[str, ...]


class UnknownWorkspace(InputError):
    """No workspace of that id (in that region) in the ledger: nothing was removed."""


class WorkspaceRecord:
    """Workspaces and their targets (a part of :class:`smtp_egress.ledger.Ledger`)."""

    @property
    def conn(self) -> sa.Connection:
        raise NotImplementedError  # the Ledger's connection

    def upsert_workspaces(self, rows: Iterable[Workspace], now: dt.datetime) -> Imported:
        """Insert or update workspaces, each with exactly the targets given, in one transaction. A target missing
        from a workspace's row is removed (the file is the truth); a workspace whose region and targets are
        already exactly those given is left as it was (its ``updated_at`` too) and counted unchanged."""
        latest = {w.workspace_id: w for w in rows}
        with self.conn.begin():
            stored = self._stored(self.conn)
            added = [w for w in latest.values() if w.workspace_id not in stored]
            updated = [w for w in latest.values() if w.workspace_id in stored and stored[w.workspace_id] != w]
            if added:
                self.conn.execute(_INSERT_WORKSPACE, [_values(w, now) for w in added])
            if updated:
                self.conn.execute(_UPDATE_WORKSPACE, [_values(w, now) for w in updated])
                self.conn.execute(_DELETE_TARGETS, [{"k_workspace_id": w.workspace_id} for w in updated])
            targets = [
                {"workspace_id": w.workspace_id, "channel": channel, "target": target}
                for w in [*added, *updated]
                for channel, target in sorted(w.targets.items())
            ]
            if targets:
                self.conn.execute(workspace_targets.insert(), targets)
        return Imported(len(added), len(updated), len(latest) - len(added) - len(updated))

    def workspaces(self, region: str | None = None) -> list[Workspace]:
        """The workspaces (of ``region``; None: of every region) with their targets, by region and id."""
        with self.conn.begin():
            found = self._stored(self.conn, region)
        return sorted(found.values(), key=lambda w: (w.region, w.workspace_id))

    def region_of(self, workspace_id: str) -> str | None:
        """The region of ``workspace_id``, None when there is no such workspace."""
        with self.conn.begin():
            q = sa.select(workspaces.c.region).where(workspaces.c.workspace_id == workspace_id)
            return self.conn.execute(q).scalar()

    def remove_workspace(
        self, workspace_id: str, region: str | None, by: str, reason: str, now: dt.datetime
    ) -> Removed:
        """Remove ``workspace_id`` (which must be of ``region`` when given) and record that every batch whose
        notice it has not received counts as told without it (``by``, ``reason``, at ``now``), in one
        transaction. Settle the region's batches next. :class:`UnknownWorkspace` if there is no such workspace."""
        bw, d = batch_workspaces.c, deliveries.c
        with self.conn.begin():
            found = self.conn.execute(
                sa.select(workspaces.c.region).where(workspaces.c.workspace_id == workspace_id)
            ).scalar()
            if found is None or (region is not None and found != region):
                where = f" in region {region!r}" if region is not None else ""
                raise UnknownWorkspace(
                    f"no workspace {workspace_id[:200]!r}{where} in the ledger (egress workspaces list shows them); "
                    "nothing was removed"
                )
            sent = sa.exists().where(d.batch_id == bw.batch_id, d.workspace_id == bw.workspace_id, d.status == "sent")
            which = (bw.workspace_id == workspace_id, bw.waived_at.is_(None), ~sent)
            batches = list(self.conn.execute(sa.select(bw.batch_id).where(*which).order_by(bw.batch_id)).scalars())
            if batches:
                self.conn.execute(
                    batch_workspaces.update().where(*which).values(waived_at=now, waived_by=by, waiver_reason=reason)
                )
            self.conn.execute(_DELETE_TARGETS, [{"k_workspace_id": workspace_id}])
            self.conn.execute(workspaces.delete().where(workspaces.c.workspace_id == workspace_id))
        return Removed(workspace_id, found, tuple(batches))

    @staticmethod
    def _stored(conn: sa.Connection, region: str | None = None) -> dict[str, Workspace]:
        """The workspaces (of ``region``) as stored, by id."""
        w, t = workspaces.c, workspace_targets.c
        ids = sa.select(w.workspace_id, w.region)
        targets = sa.select(t.workspace_id, t.channel, t.target).join(workspaces, w.workspace_id == t.workspace_id)
        if region is not None:
            ids, targets = ids.where(w.region == region), targets.where(w.region == region)
        regions = dict(conn.execute(ids).all())
        found: dict[str, dict[str, str]] = {ws: {} for ws in regions}
        for workspace_id, channel, target in conn.execute(targets):
            found[workspace_id][channel] = target
        return {ws: Workspace(ws, regions[ws], found[ws]) for ws in regions}


def _values(w: Workspace, now: dt.datetime) -> dict[str, object]:
    return {"k_workspace_id": w.workspace_id, "v_region": w.region, "v_updated_at": now}


_INSERT_WORKSPACE = workspaces.insert().values(
    workspace_id=sa.bindparam("k_workspace_id"),
    region=sa.bindparam("v_region"),
    updated_at=sa.bindparam("v_updated_at", type_=workspaces.c.updated_at.type),
)
_UPDATE_WORKSPACE = (
    workspaces.update()
    .where(workspaces.c.workspace_id == sa.bindparam("k_workspace_id"))
    .values(
        region=sa.bindparam("v_region"), updated_at=sa.bindparam("v_updated_at", type_=workspaces.c.updated_at.type)
    )
)
_DELETE_TARGETS = workspace_targets.delete().where(workspace_targets.c.workspace_id == sa.bindparam("k_workspace_id"))
