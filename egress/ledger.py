"""The ledger: the record of facts. Which changes were recorded and told when, and every notice delivery.

One database behind SQLAlchemy Core: an SQLite file by default (``.egress/egress.db`` in the project
folder, :mod:`smtp_egress.ledger_location`), PostgreSQL by URL. Its schema is versioned
(:mod:`smtp_egress.migrations`; the tables are :mod:`smtp_egress.tables`): opening a ledger refuses one whose
schema revision is not the code's (``egress ledger upgrade`` migrates it), and a missing one unless asked to
create it (``create=True``: ``egress ledger init`` and ``egress workspaces import`` only). A ledger is real or
a simulation (``ledger_info``, fixed at creation; :mod:`smtp_egress.simulation`). Every state change is its
own committed transaction, so a run killed at any point (kill -9) leaves the ledger consistent: a batch of
changes is recorded together with one pending delivery per (workspace, channel), a delivery is marked sent
only after the channel accepted it, and a batch counts as told only once its notices were delivered
(:mod:`smtp_egress.batches`).

Which channels exist is not the ledger's business: a workspace has one target per channel it is reached
on (``workspace_targets``: an address, a URL; :mod:`smtp_egress.workspace_records`), keyed by the channel's
name, and every delivery names its channel. A new channel (:mod:`smtp_egress.notices.channels`) needs no
change here.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa

from .batches import Batch, BatchRecord, Delivery, message_id
from .errors import ConfigError, LedgerMissing
from .heartbeats import Heartbeat, HeartbeatRecord
from .ledger_location import LedgerLocation, missing_message, sqlite_file
from .masking import excerpt, mask_url, unencoded_at
from .migrations import ensure_ready
from .tables import (
    announcements,
    batch_workspaces,
    batches,
    deliveries,
    heartbeats,
    ledger_info,
    metadata,
    workspace_targets,
    workspaces,
)
from .tallies import NoticeQueries, NoticeTally, Unsettled, Waiver
from .workspace_records import Imported, Removed, UnknownWorkspace, Workspace, WorkspaceRecord

__all__ = [
    "Batch",
    "Delivery",
    "Heartbeat",
    "Imported",
    "Ledger",
    "NoticeTally",
    "Removed",
    "UnknownWorkspace",
    "Unsettled",
    "Waiver",
    "Workspace",
    "announcements",
    "batch_workspaces",
    "batches",
    "deliveries",
    "heartbeats",
    "ledger_info",
    "message_id",
    "metadata",
    "open_engine",
    "workspace_targets",
    "workspaces",
]

REAL, SIMULATION = "real", "simulation"  # ledger_info.kind


def open_engine(url: str, where: LedgerLocation | None = None) -> sa.Engine:
    """The SQLAlchemy engine for a ledger URL (SQLite: WAL, foreign keys on); ConfigError if unusable, naming
    where the URL came from (``where``: --db, EGRESS_DB, the default)."""
    shown = (where or LedgerLocation(url)).describe(mask_url(url))
    if unencoded_at(url):
        raise ConfigError(
            f"the ledger URL {shown} has an unencoded '@' in its password: write it as %40 (a parser would "
            "take the rest of the password for the host name); nothing was connected to"
        )
    try:
        engine = sa.create_engine(url)
    except (sa.exc.ArgumentError, ValueError, ImportError, sa.exc.NoSuchModuleError) as exc:
        raise ConfigError(f"the ledger URL {shown} is not a usable SQLAlchemy URL: {_unusable(url, exc)}") from None
    if engine.dialect.name == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _unusable(url: str, exc: Exception) -> str:
    """Why SQLAlchemy refused ``url``, in our words: its own message may quote a piece of the password (a
    password holding an unencoded ``/``, ``#``, ``?`` or ``@`` is cut there by the URL parser)."""
    try:
        dialect = sa.make_url(url).drivername
    except (sa.exc.ArgumentError, ValueError):
        return (
            "it does not parse (write dialect+driver://user:password@host:port/database, e.g. "
            "postgresql+psycopg://..., with / # ? @ % : in the password percent-encoded)"
        )
    if isinstance(exc, ImportError | sa.exc.NoSuchModuleError):
        return f"its dialect {excerpt(dialect, 40)} is not available (use sqlite:/// or postgresql+psycopg://)"
    return "one of its parts is invalid (is the port a number? percent-encode / # ? @ % : in the password)"


class Ledger(BatchRecord, NoticeQueries, WorkspaceRecord, HeartbeatRecord):
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
                raise LedgerMissing(missing_message(self.location, mask_url(self.url), "the file does not exist"))
            path.parent.mkdir(parents=True, exist_ok=True)
        self.engine = open_engine(self.url, self.location)
        kind = SIMULATION if simulation else REAL
        try:
            found = ensure_ready(self.engine, metadata, (lambda conn: _first_info(conn, kind)) if create else None)
        except ConfigError as exc:  # unreachable, or not this code's schema: say where the URL came from
            self.engine.dispose()
            if self.location.chosen_by and self.location.chosen_by not in str(exc):
                exc.args = (f"{exc} (the ledger URL is {self.location.chosen_by})",)
            raise
        except BaseException:
            self.engine.dispose()
            raise
        if found == "missing":
            self.engine.dispose()
            raise LedgerMissing(missing_message(self.location, mask_url(self.url), "the database holds no tables"))
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


def _first_info(conn: sa.Connection, kind: str) -> None:
    conn.execute(ledger_info.insert().values(id=1, kind=kind, clock=None))


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
