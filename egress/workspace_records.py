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

from .domains.names import new_bounce_label
from .errors import InputError
from .tables import batch_workspaces, deliveries, domain_states, workspace_targets, workspaces


@dataclasses.dataclass(frozen=True)
class Workspace:
    """A workspace to notify: its region and, per channel name, where that channel reaches it; its branded
    tracking domains when it has them (A-labels, both or neither: :mod:`smtp_egress.domains`)."""

    workspace_id: str
    region: str
    targets: Mapping[str, str]  # channel name -> target, e.g. {"email": "ops@customer.example"}
    sending_domain: str | None = None
    tracking_domain: str | None = None


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
        already exactly those given is left as it was (its ``updated_at`` too) and counted unchanged. Every workspace
        of ``rows`` without a bounce label gets one (:meth:`assign_bounce_labels`)."""
        latest = {w.workspace_id: w for w in rows}
        with self.conn.begin():
            stored = self._stored(self.conn)
            _refuse_taken_tracking_domains(latest, stored)
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
            _assign_labels(self.conn, list(latest))
        return Imported(len(added), len(updated), len(latest) - len(added) - len(updated))

    def workspaces(self, region: str | None = None) -> list[Workspace]:
        """The workspaces (of ``region``; None: of every region) with their targets, by region and id."""
        with self.conn.begin():
            found = self._stored(self.conn, region)
        return sorted(found.values(), key=lambda w: (w.region, w.workspace_id))

    def assign_bounce_labels(self, workspace_ids: Iterable[str] | None = None) -> int:
        """Give each workspace (of ``workspace_ids``; None: every one) that has no bounce label a new one, once:
        a label, once assigned, never changes. Returns how many were assigned."""
        with self.conn.begin():
            return _assign_labels(self.conn, None if workspace_ids is None else list(workspace_ids))

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
            self.conn.execute(domain_states.delete().where(domain_states.c.workspace_id == workspace_id))
            self.conn.execute(workspaces.delete().where(workspaces.c.workspace_id == workspace_id))
        return Removed(workspace_id, found, tuple(batches))

    @staticmethod
    def _stored(conn: sa.Connection, region: str | None = None) -> dict[str, Workspace]:
        """The workspaces (of ``region``) as stored, by id."""
        w, t = workspaces.c, workspace_targets.c
        ids = sa.select(w.workspace_id, w.region, w.sending_domain, w.tracking_domain)
        targets = sa.select(t.workspace_id, t.channel, t.target).join(workspaces, w.workspace_id == t.workspace_id)
        if region is not None:
            ids, targets = ids.where(w.region == region), targets.where(w.region == region)
        rows = {row[0]: row for row in conn.execute(ids)}
        found: dict[str, dict[str, str]] = {ws: {} for ws in rows}
        for workspace_id, channel, target in conn.execute(targets):
            found[workspace_id][channel] = target
        return {ws: Workspace(ws, row[1], found[ws], row[2], row[3]) for ws, row in rows.items()}


def _refuse_taken_tracking_domains(latest: Mapping[str, Workspace], stored: Mapping[str, Workspace]) -> None:
    """InputError when a workspace's tracking domain is another stored workspace's (one the import leaves as is):
    the tracker tells workspaces apart by that name."""
    owners = {w.tracking_domain: w.workspace_id for w in stored.values() if w.workspace_id not in latest}
    for w in latest.values():
        if w.tracking_domain is not None and w.tracking_domain in owners:
            raise InputError(
                f"tracking_domain {w.tracking_domain!r} of workspace {w.workspace_id[:200]!r} is already the tracking "
                f"domain of workspace {owners[w.tracking_domain][:200]!r} in the ledger; each workspace needs its own "
                "(change one of them); nothing was imported"
            )


def _assign_labels(conn: sa.Connection, workspace_ids: list[str] | None) -> int:
    """Give every workspace of ``workspace_ids`` (None: all) lacking a bounce label a new random one."""
    w = workspaces.c
    missing = list(conn.execute(sa.select(w.workspace_id).where(w.bounce_label.is_(None))).scalars())
    if workspace_ids is not None:  # filtered here: an IN list of every imported id could exceed SQLite's bound
        wanted = set(workspace_ids)
        missing = [ws for ws in missing if ws in wanted]
    if missing:
        conn.execute(
            workspaces.update()
            .where(w.workspace_id == sa.bindparam("k_workspace_id"), w.bounce_label.is_(None))
            .values(bounce_label=sa.bindparam("v_label")),
            [{"k_workspace_id": ws, "v_label": new_bounce_label()} for ws in missing],
        )
    return len(missing)


def _values(w: Workspace, now: dt.datetime) -> dict[str, object]:
    return {
        "k_workspace_id": w.workspace_id,
        "v_region": w.region,
        "v_updated_at": now,
        "v_sending": w.sending_domain,
        "v_tracking": w.tracking_domain,
    }


_INSERT_WORKSPACE = workspaces.insert().values(
    workspace_id=sa.bindparam("k_workspace_id"),
    region=sa.bindparam("v_region"),
    updated_at=sa.bindparam("v_updated_at", type_=workspaces.c.updated_at.type),
    sending_domain=sa.bindparam("v_sending"),
    tracking_domain=sa.bindparam("v_tracking"),
)
_UPDATE_WORKSPACE = (
    workspaces.update()
    .where(workspaces.c.workspace_id == sa.bindparam("k_workspace_id"))
    .values(
        region=sa.bindparam("v_region"),
        updated_at=sa.bindparam("v_updated_at", type_=workspaces.c.updated_at.type),
        sending_domain=sa.bindparam("v_sending"),
        tracking_domain=sa.bindparam("v_tracking"),
    )
)
_DELETE_TARGETS = workspace_targets.delete().where(workspace_targets.c.workspace_id == sa.bindparam("k_workspace_id"))
