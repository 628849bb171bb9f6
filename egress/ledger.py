"""The ledger: the record of facts. Which changes were recorded and told when, and every notice delivery.

One database behind SQLAlchemy Core: an SQLite file by default (``.egress/egress.db``), PostgreSQL by
URL. Its schema is versioned (:mod:`smtp_egress.migrations`; the tables are :mod:`smtp_egress.tables`):
opening a ledger creates it in an empty database and refuses one whose schema revision is not the code's
(``egress ledger upgrade`` migrates it). Every state change is its own committed transaction, so a run
killed at any point (kill -9) leaves the ledger consistent: a batch of changes is recorded together with
one pending delivery per (workspace, channel), a delivery is marked sent only after the channel accepted
it, and a batch counts as told only once its notices were delivered (:mod:`smtp_egress.batches`).

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
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from .batches import Batch, BatchRecord, Delivery, message_id
from .errors import ConfigError
from .migrations import ensure_ready, masked
from .tables import (
    announcements,
    batch_workspaces,
    batches,
    deliveries,
    metadata,
    workspace_targets,
    workspaces,
)
from .tallies import NoticeQueries, NoticeTally, Unsettled, Waiver

__all__ = [
    "Batch",
    "Delivery",
    "Ledger",
    "NoticeTally",
    "Unsettled",
    "Waiver",
    "Workspace",
    "announcements",
    "batch_workspaces",
    "batches",
    "database_url",
    "deliveries",
    "message_id",
    "metadata",
    "open_engine",
    "workspace_targets",
    "workspaces",
]

DEFAULT_DB = Path(".egress") / "egress.db"


@dataclasses.dataclass(frozen=True)
class Workspace:
    """A workspace to notify: its region and, per channel name, where that channel reaches it."""

    workspace_id: str
    region: str
    targets: Mapping[str, str]  # channel name -> target, e.g. {"email": "ops@customer.example"}


def database_url(value: str | None) -> str:
    """The SQLAlchemy URL to use: the given one, or the embedded SQLite file under the working dir."""
    if value:
        return value
    DEFAULT_DB.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{DEFAULT_DB}"


def open_engine(url: str) -> sa.Engine:
    """The SQLAlchemy engine for a ledger URL (SQLite: WAL, foreign keys on); ConfigError if unusable."""
    try:
        engine = sa.create_engine(url)
    except (sa.exc.ArgumentError, ValueError, ImportError, sa.exc.NoSuchModuleError) as exc:
        raise ConfigError(f"EGRESS_DB {masked(url)!r} is not a usable SQLAlchemy URL: {exc}") from None
    if engine.dialect.name == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_pragmas)
    return engine


class Ledger(BatchRecord, NoticeQueries):
    """The ledger at ``url``: created at the code's schema revision if the database is empty; a
    :class:`smtp_egress.errors.LedgerSchemaError` if it holds another revision (or is not a ledger)."""

    def __init__(self, url: str | None = None):
        self.url = database_url(url)
        self.engine = open_engine(self.url)
        try:
            ensure_ready(self.engine, metadata)
        except BaseException:
            self.engine.dispose()
            raise
        self._conn: sa.Connection | None = None

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
