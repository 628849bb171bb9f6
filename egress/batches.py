"""The ledger's record of announcements: batches, their notices, and when each batch was told.

A batch is what one ``egress notify`` run records for a region: its changes, the workspaces of the region
at that moment and one pending delivery per (workspace, channel), in one committed transaction. Every
later state change is its own committed transaction too, so a run killed at any point (kill -9) leaves the
ledger consistent: a delivery is marked sent only after its channel accepted it, and a batch is marked
told (:meth:`BatchRecord.settle`, by the rule :func:`smtp_egress.timeline.told_at`) only from the sent
deliveries and waivers recorded; a run killed before settling leaves the batch held until the next run
settles it, at the same moment (the facts decide it).

:class:`BatchRecord` is the part of :class:`smtp_egress.ledger.Ledger` that reads and writes these tables.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING

import sqlalchemy as sa

from . import outcomes
from .dates import UTC, rfc3339
from .errors import DuplicateAnnouncement
from .tables import announcements, batch_workspaces, batches, deliveries
from .timeline import Announcement, Recorded, WorkspaceNotice, announced, told_at

if TYPE_CHECKING:
    from .ledger import Workspace
    from .plan import Change


@dataclasses.dataclass(frozen=True)
class Delivery:
    """One notice of a batch to one workspace on one channel."""

    batch_id: str
    workspace_id: str
    channel: str  # a registered channel's name (smtp_egress.notices.channels), e.g. "email"
    target: str
    status: str  # "pending" | "sent" | "failed"
    attempts: int
    message_id: str
    last_error: str | None = None


@dataclasses.dataclass(frozen=True)
class Batch:
    """A recorded batch: its changes and the workspaces its notice goes to."""

    batch_id: str
    region: str
    recorded_at: dt.datetime
    told_at: dt.datetime | None
    changes: tuple[Recorded, ...]
    workspaces: int


def message_id(batch_id: str, workspace_id: str, domain: str = "smtp-egress.invalid") -> str:
    """A deterministic Message-ID per (batch, workspace): a resent notice carries the same one. (A batch
    adopted from schema revision 0002 has its change's id, so its notices keep the Message-IDs they had.)"""
    digest = hashlib.sha256(f"{batch_id}\0{workspace_id}".encode()).hexdigest()[:32]
    return f"<ipchange.{digest}@{domain}>"


def new_batch_id(region: str, at: dt.datetime, change_ids: Sequence[str]) -> str:
    """``<region>/<recorded, RFC 3339>/<12 hex digits of the SHA-256 of its change ids>``."""
    digest = hashlib.sha256("\n".join(sorted(change_ids)).encode()).hexdigest()[:12]
    return f"{region}/{rfc3339(at)}/{digest}"


class BatchRecord:
    """Batches, deliveries and waivers (a part of :class:`smtp_egress.ledger.Ledger`)."""

    @property
    def conn(self) -> sa.Connection:
        raise NotImplementedError  # the Ledger's connection

    # Recording ----------------------------------------------------------------------------------

    def record(
        self,
        region: str,
        changes: Sequence[tuple[Change, str | None]],
        now: dt.datetime,
        notice_days: int,
        plan_sha256: str,
        targets: Sequence[Workspace],
    ) -> Batch:
        """Record ``changes`` (each with its short-notice reason, or None) as one batch of ``region``, with a
        member and one pending delivery per (workspace, channel) of ``targets``, atomically.

        DuplicateAnnouncement if one of the changes was already recorded: the first record stands, unchanged."""
        return self._record(region, changes, now, notice_days, plan_sha256, targets)

    def record_adopted(
        self,
        region: str,
        changes: Sequence[Change],
        now: dt.datetime,
        notice_days: int,
        plan_sha256: str,
        source: str,
        sha256: str,
    ) -> Batch:
        """Record ``changes`` as the adopted baseline of ``region`` (``egress ledger adopt``): one batch told when
        recorded, with no workspace and no delivery, marked with the published list's ``source`` (credentials
        masked by the caller) and the ``sha256`` of what was read. DuplicateAnnouncement as :meth:`record`."""
        adopted = {"adopted_from": source[:2000], "adopted_sha256": sha256}
        # Recorded and told at ``now``'s whole second, not rounded up as a notice is (told_at): a baseline starts
        # no notice, and a list published right after the adoption must already hold it (``now`` is taken before
        # the list is read, so it is never later than the commit that makes the baseline visible).
        at = now.replace(microsecond=0)
        return self._record(region, [(c, None) for c in changes], at, notice_days, plan_sha256, [], adopted)

    def _record(
        self,
        region: str,
        changes: Sequence[tuple[Change, str | None]],
        now: dt.datetime,
        notice_days: int,
        plan_sha256: str,
        targets: Sequence[Workspace],
        adopted: dict[str, str] | None = None,
    ) -> Batch:
        ids = [c.change_id for c, _ in changes]
        batch = new_batch_id(region, now, ids)
        told = None if targets else now if adopted else told_at(now, [])
        row = dict(batch_id=batch, region=region, recorded_at=now, told_at=told, **(adopted or {}))
        try:
            with self.conn.begin():
                self.conn.execute(batches.insert().values(**row))
                self.conn.execute(
                    announcements.insert(),
                    [
                        dict(
                            change_id=c.change_id,
                            batch_id=batch,
                            region=c.region,
                            ip=c.ip,
                            action=c.action,
                            planned=c.effective,
                            notice_days=notice_days,
                            exception_reason=reason,
                            plan_sha256=plan_sha256,
                        )
                        for c, reason in changes
                    ],
                )
                self._enqueue(batch, targets, existing=set(), members=set(), holds=True)
        except sa.exc.IntegrityError:
            first = self.recorded()
            dup = next((i for i in ids if i in first), None)
            if dup is None:
                raise  # not an announcement's key: a bug, keep the traceback
            raise DuplicateAnnouncement(dup, first[dup].recorded_at.isoformat()) from None
        recorded = tuple(
            Recorded(
                c.change_id, c.region, c.ip, c.action, c.effective, notice_days, reason, batch, now, told, bool(adopted)
            )
            for c, reason in changes
        )
        return Batch(batch, region, now, told, recorded, len(targets))

    def announce(
        self,
        change: Change,
        now: dt.datetime,
        notice_days: int,
        plan_sha256: str,
        targets: Sequence[Workspace],
        exception_reason: str | None = None,
    ) -> Batch:
        """Record ``change`` alone as a batch (see :meth:`record`)."""
        return self.record(change.region, [(change, exception_reason)], now, notice_days, plan_sha256, targets)

    def enqueue_missing(self, batch_id: str, targets: Sequence[Workspace]) -> int:
        """Add the workspaces that joined after ``batch_id`` was recorded (they get it, but hold nothing back),
        and deliveries for channels a workspace gained; returns the deliveries added."""
        with self.conn.begin():
            q = sa.select(deliveries.c.workspace_id, deliveries.c.channel).where(deliveries.c.batch_id == batch_id)
            existing = {(w, c) for w, c in self.conn.execute(q)}
            m = sa.select(batch_workspaces.c.workspace_id).where(batch_workspaces.c.batch_id == batch_id)
            members = set(self.conn.execute(m).scalars())
            return self._enqueue(batch_id, targets, existing, members, holds=False)

    def _enqueue(
        self,
        batch_id: str,
        targets: Sequence[Workspace],
        existing: set[tuple[str, str]],
        members: set[str],
        *,
        holds: bool,
    ) -> int:
        """Members for workspaces not yet in the batch; one pending delivery per (workspace, channel) not there."""
        joined = [dict(batch_id=batch_id, workspace_id=w.workspace_id, holds=holds) for w in targets]
        joined = [row for row in joined if row["workspace_id"] not in members]
        rows = [
            dict(
                batch_id=batch_id,
                workspace_id=w.workspace_id,
                channel=channel,
                target=target,
                status="pending",
                attempts=0,
                message_id=message_id(batch_id, w.workspace_id),
            )
            for w in targets
            for channel, target in sorted(w.targets.items())
            if (w.workspace_id, channel) not in existing
        ]
        if joined:
            self.conn.execute(batch_workspaces.insert(), joined)
        if rows:
            self.conn.execute(deliveries.insert(), rows)
        return len(rows)

    # Reading ------------------------------------------------------------------------------------

    def recorded(self, region: str | None = None) -> dict[str, Recorded]:
        """Every recorded change (of ``region``), told or held, by change id."""
        a, b = announcements.c, batches.c
        q = sa.select(
            a.change_id,
            a.region,
            a.ip,
            a.action,
            a.planned,
            a.notice_days,
            a.exception_reason,
            a.batch_id,
            b.recorded_at,
            b.told_at,
            b.adopted_sha256,
        ).join(batches, b.batch_id == a.batch_id)
        if region:
            q = q.where(a.region == region)
        with self.conn.begin():
            rows = self.conn.execute(q).all()
        return {
            r.change_id: Recorded(
                *r[:8],
                recorded_at=aware(r.recorded_at),
                told_at=_utc(r.told_at),
                adopted=r.adopted_sha256 is not None,
            )
            for r in rows
        }

    def announcements(self, region: str | None = None) -> dict[str, Announcement]:
        """The announced changes (of ``region``): recorded, and their batch told; announced when it was told."""
        return announced(self.recorded(region))

    # Deliveries ---------------------------------------------------------------------------------

    def retarget_unsent(self) -> int:
        """Point deliveries not yet sent at their workspace's current target for their channel.

        A customer who fixes a bouncing address gets the pending notice at the new one on the next run;
        a sent delivery keeps the target it went to (it is part of the record); a delivery whose channel
        the workspace no longer has keeps its target. One statement, whatever the number of workspaces
        or channels.
        """
        from .tables import workspace_targets as t

        same = sa.and_(t.c.workspace_id == deliveries.c.workspace_id, t.c.channel == deliveries.c.channel)
        current = sa.select(t.c.target).where(same).scalar_subquery()
        moved = sa.exists().where(same, t.c.target != deliveries.c.target)
        with self.conn.begin():
            result = self.conn.execute(
                deliveries.update().where(deliveries.c.status != "sent", moved).values(target=current)
            )
        return result.rowcount

    def unsent(self, region: str | None = None) -> list[Delivery]:
        """Deliveries not yet accepted by their channel, except those of workspaces accepted undelivered, in a
        stable order (by batch, channel, workspace)."""
        d, bw = deliveries.c, batch_workspaces.c
        waived = sa.exists().where(
            bw.batch_id == d.batch_id, bw.workspace_id == d.workspace_id, bw.waived_at.is_not(None)
        )
        q = sa.select(d.batch_id, d.workspace_id, d.channel, d.target, d.status, d.attempts, d.message_id, d.last_error)
        q = q.where(d.status != "sent", ~waived)
        if region:
            q = q.join(batches, batches.c.batch_id == d.batch_id).where(batches.c.region == region)
        q = q.order_by(d.batch_id, d.channel, d.workspace_id)
        with self.conn.begin():
            return [Delivery(*r) for r in self.conn.execute(q)]

    def mark_sent(self, d: Delivery, now: dt.datetime) -> None:
        self.record_outcomes([(d, now)], [])

    def mark_failed(self, d: Delivery, error: str) -> None:
        self.record_outcomes([], [(d, error)])

    def record_outcomes(
        self, sent: Sequence[tuple[Delivery, dt.datetime]], failed: Sequence[tuple[Delivery, str]]
    ) -> None:
        """Mark ``sent`` deliveries sent (each at its moment: when its channel accepted it) and ``failed`` ones
        failed (with the error), in one transaction. The fan-out records its outcomes in groups this way."""
        with self.conn.begin():
            outcomes.record(self.conn, sent, failed)

    def delivery_counts(self, batch_id: str) -> dict[str, int]:
        q = (
            sa.select(deliveries.c.status, sa.func.count())
            .where(deliveries.c.batch_id == batch_id)
            .group_by(deliveries.c.status)
        )
        with self.conn.begin():
            return dict(self.conn.execute(q).all())  # a list of (status, count) rows

    # Told ---------------------------------------------------------------------------------------

    def settle(self, region: str | None = None) -> dict[str, dt.datetime]:
        """Mark told every held batch (of ``region``) that the facts now say is told (:func:`told_at`), in one
        transaction; returns those batches and their moment."""
        b, bw, d = batches.c, batch_workspaces.c, deliveries.c
        held = [b.told_at.is_(None), *([b.region == region] if region else [])]
        with self.conn.begin():
            open_batches = dict(self.conn.execute(sa.select(b.batch_id, b.recorded_at).where(*held)).all())
            if not open_batches:
                return {}
            first_sent = (
                sa.select(d.batch_id, d.workspace_id, sa.func.min(d.sent_at))
                .join(batches, b.batch_id == d.batch_id)
                .where(d.status == "sent", *held)
                .group_by(d.batch_id, d.workspace_id)
            )
            sent = {(batch, ws): aware(at) for batch, ws, at in self.conn.execute(first_sent)}
            members = sa.select(bw.batch_id, bw.workspace_id, bw.holds, bw.waived_at).join(
                batches, b.batch_id == bw.batch_id
            )
            notices: dict[str, list[WorkspaceNotice]] = {batch: [] for batch in open_batches}
            for batch, ws, holds, waived_at in self.conn.execute(members.where(*held)):
                notices[batch].append(WorkspaceNotice(bool(holds), sent.get((batch, ws)), _utc(waived_at)))
            told = {}
            for batch, recorded_at in open_batches.items():
                moment = told_at(aware(recorded_at), notices[batch])
                if moment is not None:
                    told[batch] = moment
                    self.conn.execute(
                        batches.update().where(b.batch_id == batch, b.told_at.is_(None)).values(told_at=moment)
                    )
        return told

    def accept_undelivered(self, region: str, workspace_id: str, by: str, reason: str, now: dt.datetime) -> list[str]:
        """Record that every batch of ``region`` whose notice ``workspace_id`` has not received counts as told
        without it (who, why, when); its notices are not tried again. Returns those batches; settle them next."""
        bw, d = batch_workspaces.c, deliveries.c
        sent = sa.exists().where(d.batch_id == bw.batch_id, d.workspace_id == bw.workspace_id, d.status == "sent")
        of_region = bw.batch_id.in_(sa.select(batches.c.batch_id).where(batches.c.region == region))
        which = (bw.workspace_id == workspace_id, bw.waived_at.is_(None), ~sent, of_region)
        with self.conn.begin():
            ids = list(self.conn.execute(sa.select(bw.batch_id).where(*which).order_by(bw.batch_id)).scalars())
            if ids:
                self.conn.execute(
                    batch_workspaces.update().where(*which).values(waived_at=now, waived_by=by, waiver_reason=reason)
                )
        return ids


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    return None if value is None else aware(value)


def aware(value: dt.datetime) -> dt.datetime:
    """A time read from the database as an aware UTC datetime (SQLite hands it back naive)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
