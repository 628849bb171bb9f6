"""The ledger: the record of facts. Which changes were announced when, and every notice delivery.

One database behind SQLAlchemy Core: an SQLite file by default (``.egress/egress.db`` in the project
folder, :mod:`smtp_egress.ledger_location`), PostgreSQL by URL. Its schema is versioned
(:mod:`smtp_egress.migrations`): opening a ledger refuses one whose schema revision is not the code's
(``egress ledger upgrade`` migrates it), and a missing one unless asked to create it (``create=True``:
``egress ledger init`` and ``egress workspaces import`` only). A ledger is real or a simulation
(``ledger_info``, fixed at creation; :mod:`smtp_egress.simulation`).
Every state change is its own committed transaction, so a run killed at any point (kill -9) leaves
the ledger consistent: an announcement is recorded together with one pending delivery per
(workspace, channel), and a delivery is marked sent only after the channel accepted it.

Which channels exist is not the ledger's business: a workspace has one target per channel it is reached
on (``workspace_targets``: an address, a URL), keyed by the channel's name, and every delivery names its
channel. A new channel (:mod:`smtp_egress.notices.channels`) needs no change here.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import sqlalchemy as sa

from .dates import UTC
from .errors import ConfigError, DuplicateAnnouncement, LedgerMissing
from .ledger_location import LedgerLocation, missing_message, sqlite_file
from .migrations import ensure_ready, masked
from .plan import Change
from .timeline import Announcement

REAL, SIMULATION = "real", "simulation"  # ledger_info.kind

metadata = sa.MetaData()

# What the ledger is (schema revision 0004): one row, id 1. ``kind`` is fixed at creation; ``clock`` is a
# simulation's latest recorded moment (smtp_egress.simulation).
ledger_info = sa.Table(
    "ledger_info",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("clock", sa.DateTime(timezone=True)),
)

workspaces = sa.Table(
    "workspaces",
    metadata,
    sa.Column("workspace_id", sa.String(200), primary_key=True),
    sa.Column("region", sa.String(64), nullable=False, index=True),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

# Where each channel reaches a workspace (schema revision 0002; before, email and webhook_url were columns).
workspace_targets = sa.Table(
    "workspace_targets",
    metadata,
    sa.Column("workspace_id", sa.String(200), sa.ForeignKey("workspaces.workspace_id"), primary_key=True),
    sa.Column("channel", sa.String(16), primary_key=True),
    sa.Column("target", sa.String(2000), nullable=False),
)

announcements = sa.Table(
    "announcements",
    metadata,
    sa.Column("change_id", sa.String(300), primary_key=True),
    sa.Column("region", sa.String(64), nullable=False, index=True),
    sa.Column("ip", sa.String(64), nullable=False),
    sa.Column("action", sa.String(8), nullable=False),
    sa.Column("planned", sa.Date, nullable=False),
    sa.Column("announced_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("notice_days", sa.Integer, nullable=False),
    sa.Column("exception_reason", sa.Text),
    sa.Column("plan_sha256", sa.String(64), nullable=False),
)

deliveries = sa.Table(
    "deliveries",
    metadata,
    sa.Column("change_id", sa.String(300), sa.ForeignKey("announcements.change_id"), primary_key=True),
    sa.Column("workspace_id", sa.String(200), primary_key=True),
    sa.Column("channel", sa.String(16), primary_key=True),
    sa.Column("target", sa.String(2000), nullable=False),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("message_id", sa.String(400), nullable=False),
    sa.Column("last_error", sa.Text),
    sa.Column("sent_at", sa.DateTime(timezone=True)),
)


@dataclasses.dataclass(frozen=True)
class Workspace:
    """A workspace to notify: its region and, per channel name, where that channel reaches it."""

    workspace_id: str
    region: str
    targets: Mapping[str, str]  # channel name -> target, e.g. {"email": "ops@customer.example"}


@dataclasses.dataclass(frozen=True)
class Delivery:
    change_id: str
    workspace_id: str
    channel: str  # a registered channel's name (smtp_egress.notices.channels), e.g. "email"
    target: str
    status: str  # "pending" | "sent" | "failed"
    attempts: int
    message_id: str
    last_error: str | None = None


def message_id(change_id: str, workspace_id: str, domain: str = "smtp-egress.invalid") -> str:
    """A deterministic Message-ID per (change, workspace): a resent notice carries the same one."""
    digest = hashlib.sha256(f"{change_id}\0{workspace_id}".encode()).hexdigest()[:32]
    return f"<ipchange.{digest}@{domain}>"


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    return None if value is None else _aware(value)


def _aware(value: dt.datetime) -> dt.datetime:
    """A time read from the database as an aware UTC datetime (SQLite hands it back naive)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def open_engine(url: str) -> sa.Engine:
    """The SQLAlchemy engine for a ledger URL (SQLite: WAL, foreign keys on); ConfigError if unusable."""
    try:
        engine = sa.create_engine(url)
    except (sa.exc.ArgumentError, ValueError, ImportError, sa.exc.NoSuchModuleError) as exc:
        raise ConfigError(f"EGRESS_DB {masked(url)!r} is not a usable SQLAlchemy URL: {exc}") from None
    if engine.dialect.name == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_pragmas)
    return engine


class Ledger:
    """The ledger at ``where`` (a :class:`LedgerLocation`, or a URL a program passes itself).

    A missing ledger (no SQLite file, an empty database) is :class:`~smtp_egress.errors.LedgerMissing`, and
    nothing is created, unless ``create``: then it is created at the code's schema revision, a simulation
    when ``simulation`` (an existing ledger is opened as it is: :attr:`kind` says which it is). A database
    holding another revision (or not a ledger) is a :class:`~smtp_egress.errors.LedgerSchemaError`."""

    def __init__(self, where: LedgerLocation | str, *, create: bool = False, simulation: bool = False):
        self.location = where if isinstance(where, LedgerLocation) else LedgerLocation(where)
        self.url = self.location.url
        path = sqlite_file(self.url)
        if path is not None and not path.is_file():
            if not create:
                raise LedgerMissing(missing_message(self.location, masked(self.url), "the file does not exist"))
            path.parent.mkdir(parents=True, exist_ok=True)
        self.engine = open_engine(self.url)
        kind = SIMULATION if simulation else REAL
        try:
            found = ensure_ready(self.engine, metadata, (lambda conn: _first_info(conn, kind)) if create else None)
        except BaseException:
            self.engine.dispose()
            raise
        if found == "missing":
            self.engine.dispose()
            raise LedgerMissing(missing_message(self.location, masked(self.url), "the database holds no tables"))
        self.created = found == "created"
        self._conn: sa.Connection | None = None
        self._kind: str | None = None

    @property
    def kind(self) -> str:
        """``real`` or ``simulation`` (read once; a ledger without the row is real)."""
        if self._kind is None:
            with self.conn.begin():
                found = self.conn.execute(sa.select(ledger_info.c.kind).where(ledger_info.c.id == 1)).scalar()
            self._kind = SIMULATION if found == SIMULATION else REAL
        return self._kind

    @property
    def simulation(self) -> bool:
        """A simulation ledger (tests, demos): everything made from it says so."""
        return self.kind == SIMULATION

    @property
    def conn(self) -> sa.Connection:
        if self._conn is None:
            self._conn = self.engine.connect()
        return self._conn

    @contextlib.contextmanager
    def lock(self, name: str) -> Iterator[None]:
        """Hold an exclusive, non-blocking lock named ``name`` for this ledger (one notify run per region).

        SQLite: an flock on a file beside the database; PostgreSQL: a session advisory lock. Released
        by the operating system or the server if the process dies, so a killed run never blocks the next.
        """
        busy = ConfigError(
            f"another 'egress {name.split('-')[0]}' run holds the lock {name!r} on {self.engine.url!r}; "
            "wait for it to finish (a killed run releases it at once)"
        )
        dialect = self.engine.dialect.name
        if dialect == "sqlite" and self.engine.url.database not in (None, "", ":memory:"):
            import fcntl

            with open(f"{self.engine.url.database}.{name}.lock", "a") as handle:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    raise busy from None
                yield
            return
        if dialect == "postgresql":
            key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
            with self.conn.begin():
                got = self.conn.execute(sa.select(sa.func.pg_try_advisory_lock(key))).scalar()
            if not got:
                raise busy
            try:
                yield
            finally:
                with self.conn.begin():
                    self.conn.execute(sa.select(sa.func.pg_advisory_unlock(key)))
            return
        yield

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self.engine.dispose()

    # Workspaces ---------------------------------------------------------------------------------

    def upsert_workspaces(self, rows: Iterable[Workspace], now: dt.datetime) -> tuple[int, int]:
        """Insert or update workspaces, each with exactly the targets given, in one transaction; returns
        (added, updated). A target missing from a workspace's row is removed (the file is the truth)."""
        added: list[dict[str, object]] = []
        updated: list[dict[str, object]] = []
        latest: dict[str, Workspace] = {}
        with self.conn.begin():
            seen = {r[0] for r in self.conn.execute(sa.select(workspaces.c.workspace_id))}
            for w in rows:
                values = {"k_workspace_id": w.workspace_id, "v_region": w.region, "v_updated_at": now}
                (updated if w.workspace_id in seen else added).append(values)
                seen.add(w.workspace_id)
                latest[w.workspace_id] = w
            if added:
                self.conn.execute(_INSERT_WORKSPACE, added)
            if updated:
                self.conn.execute(_UPDATE_WORKSPACE, updated)
                self.conn.execute(_DELETE_TARGETS, [{"k_workspace_id": v["k_workspace_id"]} for v in updated])
            targets = [
                {"workspace_id": w.workspace_id, "channel": channel, "target": target}
                for w in latest.values()
                for channel, target in sorted(w.targets.items())
            ]
            if targets:
                self.conn.execute(workspace_targets.insert(), targets)
        return len(added), len(updated)

    def workspaces(self, region: str) -> list[Workspace]:
        """The workspaces of ``region`` with their targets, by workspace_id."""
        ids = (
            sa.select(workspaces.c.workspace_id)
            .where(workspaces.c.region == region)
            .order_by(workspaces.c.workspace_id)
        )
        t = workspace_targets
        q = (
            sa.select(t.c.workspace_id, t.c.channel, t.c.target)
            .join(workspaces, workspaces.c.workspace_id == t.c.workspace_id)
            .where(workspaces.c.region == region)
            .order_by(t.c.workspace_id, t.c.channel)
        )
        with self.conn.begin():
            found: dict[str, dict[str, str]] = {w: {} for w in self.conn.execute(ids).scalars()}
            for workspace_id, channel, target in self.conn.execute(q):
                found[workspace_id][channel] = target
        return [Workspace(w, region, targets) for w, targets in found.items()]

    # Announcements ------------------------------------------------------------------------------

    def announcements(self, region: str | None = None) -> dict[str, Announcement]:
        q = sa.select(announcements)
        if region:
            q = q.where(announcements.c.region == region)
        with self.conn.begin():
            rows = self.conn.execute(q).mappings().all()
        return {
            r["change_id"]: Announcement(
                r["change_id"],
                r["region"],
                r["ip"],
                r["action"],
                r["planned"],
                _aware(r["announced_at"]),
                r["notice_days"],
                r["exception_reason"],
            )
            for r in rows
        }

    def announce(
        self,
        change: Change,
        now: dt.datetime,
        notice_days: int,
        plan_sha256: str,
        targets: list[Workspace],
        exception_reason: str | None = None,
    ) -> Announcement:
        """Record the announcement and one pending delivery per (workspace, channel), atomically.

        DuplicateAnnouncement if the change was already announced: the first record stands, unchanged."""
        try:
            with self.conn.begin():
                self.conn.execute(
                    announcements.insert().values(
                        change_id=change.change_id,
                        region=change.region,
                        ip=change.ip,
                        action=change.action,
                        planned=change.effective,
                        announced_at=now,
                        notice_days=notice_days,
                        exception_reason=exception_reason,
                        plan_sha256=plan_sha256,
                    )
                )
                self._enqueue(change.change_id, targets, existing=set())
        except sa.exc.IntegrityError:
            first = self.announcements().get(change.change_id)
            if first is None:
                raise  # not the announcement's key: a bug, keep the traceback
            raise DuplicateAnnouncement(change.change_id, first.announced_at.isoformat()) from None
        return Announcement(
            change.change_id,
            change.region,
            change.ip,
            change.action,
            change.effective,
            now,
            notice_days,
            exception_reason,
        )

    def enqueue_missing(self, change_id: str, targets: list[Workspace]) -> int:
        """Add pending deliveries for workspaces that joined after ``change_id`` was announced."""
        with self.conn.begin():
            q = sa.select(deliveries.c.workspace_id, deliveries.c.channel).where(deliveries.c.change_id == change_id)
            existing = {(w, c) for w, c in self.conn.execute(q)}
            return self._enqueue(change_id, targets, existing)

    def _enqueue(self, change_id: str, targets: list[Workspace], existing: set[tuple[str, str]]) -> int:
        """One pending delivery per (workspace, channel) the workspace has a target for, unless it exists."""
        rows = []
        for w in targets:
            for channel, target in sorted(w.targets.items()):
                if (w.workspace_id, channel) not in existing:
                    rows.append(
                        dict(
                            change_id=change_id,
                            workspace_id=w.workspace_id,
                            channel=channel,
                            target=target,
                            status="pending",
                            attempts=0,
                            message_id=message_id(change_id, w.workspace_id),
                        )
                    )
        if rows:
            self.conn.execute(deliveries.insert(), rows)
        return len(rows)

    # Deliveries ---------------------------------------------------------------------------------

    def retarget_unsent(self) -> int:
        """Point deliveries not yet sent at their workspace's current target for their channel.

        A customer who fixes a bouncing address gets the pending notice at the new one on the next run;
        a sent delivery keeps the target it went to (it is part of the record); a delivery whose channel
        the workspace no longer has keeps its target. One statement, whatever the number of workspaces
        or channels.
        """
        t = workspace_targets
        same = sa.and_(t.c.workspace_id == deliveries.c.workspace_id, t.c.channel == deliveries.c.channel)
        current = sa.select(t.c.target).where(same).scalar_subquery()
        moved = sa.exists().where(same, t.c.target != deliveries.c.target)
        with self.conn.begin():
            result = self.conn.execute(
                deliveries.update().where(deliveries.c.status != "sent", moved).values(target=current)
            )
        return result.rowcount

    def unsent(self, region: str | None = None) -> list[Delivery]:
        """Deliveries not yet accepted by their channel, in a stable order."""
        q = sa.select(
            deliveries.c.change_id,
            deliveries.c.workspace_id,
            deliveries.c.channel,
            deliveries.c.target,
            deliveries.c.status,
            deliveries.c.attempts,
            deliveries.c.message_id,
            deliveries.c.last_error,
        )
        q = q.where(deliveries.c.status != "sent")
        if region:
            q = q.join(announcements, announcements.c.change_id == deliveries.c.change_id).where(
                announcements.c.region == region
            )
        q = q.order_by(deliveries.c.change_id, deliveries.c.channel, deliveries.c.workspace_id)
        with self.conn.begin():
            return [Delivery(*r) for r in self.conn.execute(q)]

    def mark_sent(self, d: Delivery, now: dt.datetime) -> None:
        with self.conn.begin():
            self.conn.execute(_MARK_SENT, {**_key(d), "v_sent_at": now})

    def mark_failed(self, d: Delivery, error: str) -> None:
        with self.conn.begin():
            self.conn.execute(_MARK_FAILED, {**_key(d), "v_last_error": error[:2000]})

    def delivery_counts(self, change_id: str) -> dict[str, int]:
        q = (
            sa.select(deliveries.c.status, sa.func.count())
            .where(deliveries.c.change_id == change_id)
            .group_by(deliveries.c.status)
        )
        with self.conn.begin():
            return dict(self.conn.execute(q).all())  # a list of (status, count) rows


# The per-delivery updates are built once with bound parameters: the fan-out marks each delivery in its
# own transaction, and building and cache-keying a fresh UPDATE for every row cost ~3x the SQL itself.
_WHERE_KEY = (
    deliveries.c.change_id == sa.bindparam("k_change_id"),
    deliveries.c.workspace_id == sa.bindparam("k_workspace_id"),
    deliveries.c.channel == sa.bindparam("k_channel"),
)
_MARK_SENT = (
    deliveries.update()
    .where(*_WHERE_KEY)
    .values(
        status="sent",
        attempts=deliveries.c.attempts + 1,
        last_error=None,
        sent_at=sa.bindparam("v_sent_at", type_=deliveries.c.sent_at.type),
    )
)
_MARK_FAILED = (
    deliveries.update()
    .where(*_WHERE_KEY)
    .values(
        status="failed",
        attempts=deliveries.c.attempts + 1,
        last_error=sa.bindparam("v_last_error", type_=deliveries.c.last_error.type),
    )
)


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


def _first_info(conn: sa.Connection, kind: str) -> None:
    conn.execute(ledger_info.insert().values(id=1, kind=kind, clock=None))


def _key(d: Delivery) -> dict[str, str]:
    return {"k_change_id": d.change_id, "k_workspace_id": d.workspace_id, "k_channel": d.channel}


def _sqlite_pragmas(dbapi_conn: Any, _record: object) -> None:  # a DB-API connection
    # WAL + NORMAL: a commit survives the process being killed (kill -9); only power loss can lose the
    # last transactions. busy_timeout lets a second run wait rather than fail on a locked file.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA busy_timeout=10000")
    _journal_mode_wal(cur)
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _journal_mode_wal(cur: Any, attempts: int = 200) -> None:  # a DB-API cursor
    """Switch to WAL. A new file's switch needs an exclusive lock that SQLite does not wait for (it fails
    at once with "database is locked" while another process makes the same switch): retry for ~10 s."""
    import sqlite3
    import time

    for attempt in range(attempts):
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == attempts - 1:
                raise
            time.sleep(0.05)
