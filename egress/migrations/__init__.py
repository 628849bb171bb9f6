"""The ledger's schema version: which revision a database holds, and what the code does about it.

The schema is versioned with Alembic (the migrations are this package's ``versions/``, run by
:mod:`smtp_egress.migrations.upgrade`). Opening a ledger must stay cheap, so this module never imports
Alembic: the code's revisions are listed in :data:`SCHEMA_REVISIONS` (a test checks they are the
migrations' history) and a database's revision is read with one query on ``alembic_version``.

What opening a ledger does with each state (:func:`ensure_ready`):

- ``empty`` (no tables at all): only a command that creates a ledger on purpose (``egress ledger init``,
  ``egress workspaces import``) creates it at the code's revision, under a lock, so two processes
  initialising one database at once do not collide; every other command is told it is missing;
- ``current``: use it;
- ``behind`` (an older revision) or ``unversioned`` (the tables of release 0.1.0, made before the
  schema was versioned): refuse, naming ``egress ledger upgrade``;
- ``ahead`` (a revision this code does not know): refuse, a newer smtp-egress wrote it;
- ``partial`` (some of the ledger's tables) or ``foreign`` (other tables): refuse, it is not a ledger.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import shlex
from collections.abc import Callable, Iterator, Sequence
from typing import Literal

import sqlalchemy as sa

from ..errors import ConfigError, LedgerNotRecognised, LedgerSchemaError, LedgerTooNew, LedgerUpgradeNeeded
from ..masking import mask_url, scrub

# Every revision of the migrations, oldest first; the last one is the schema this code reads and writes.
SCHEMA_REVISIONS: tuple[str, ...] = ("0001", "0002", "0003", "0004", "0005", "0006", "0007", "0008", "0009", "0010")
SCHEMA_REVISION = SCHEMA_REVISIONS[-1]
LEDGER_TABLES = ("announcements", "deliveries", "workspaces")  # the tables of every revision so far
VERSION_TABLE = "alembic_version"

# Alembic's own version table, so that a ledger created here is one Alembic upgrades.
version_table = sa.Table(
    VERSION_TABLE,
    sa.MetaData(),
    sa.Column("version_num", sa.String(32), nullable=False),
    sa.PrimaryKeyConstraint("version_num", name="alembic_version_pkc"),
)
_SELECT_VERSION = sa.select(version_table.c.version_num)
# One key for every process that creates or migrates a ledger (PostgreSQL transaction-level advisory lock).
_SCHEMA_LOCK_KEY = int.from_bytes(hashlib.sha256(b"smtp-egress ledger schema").digest()[:8], "big", signed=True)


@dataclasses.dataclass(frozen=True)
class SchemaState:
    """What a database holds: ``kind`` (see the module's docstring) and its recorded revision, if any."""

    kind: str  # "empty" | "current" | "behind" | "ahead" | "unversioned" | "partial" | "foreign"
    revision: str | None = None
    tables: tuple[str, ...] = ()  # the tables found, when the catalog was read

    @property
    def needs_upgrade(self) -> bool:
        """``egress ledger upgrade`` makes it usable."""
        return self.kind in ("behind", "unversioned")

    @property
    def usable(self) -> bool:
        """Every command may use it: at the code's revision (an empty database is a missing ledger)."""
        return self.kind == "current"


def classify(tables: Sequence[str] | None, revisions: Sequence[str]) -> SchemaState | None:
    """The state from the catalog (``tables``; None: not read) and the rows of ``alembic_version``.

    None when the rows alone cannot tell (no recorded revision and the catalog not read)."""
    found = tuple(sorted(tables)) if tables is not None else ()
    if len(revisions) == 1:
        (revision,) = revisions
        if revision == SCHEMA_REVISION:
            return SchemaState("current", revision, found)
        return SchemaState("behind" if revision in SCHEMA_REVISIONS else "ahead", revision, found)
    if tables is None:
        return None
    if len(revisions) > 1:
        return SchemaState("foreign", ", ".join(sorted(revisions)), found)
    ours = set(found) - {VERSION_TABLE}
    if not ours:
        return SchemaState("empty", None, found)
    if ours.issuperset(LEDGER_TABLES):
        return SchemaState("unversioned", None, found)
    return SchemaState("partial" if ours & set(LEDGER_TABLES) else "foreign", None, found)


def read_state(engine: sa.Engine) -> SchemaState:
    """The database's state: one query (``SELECT version_num FROM alembic_version``) for a versioned ledger."""
    with connect(engine) as conn:
        try:
            with conn.begin():
                state = classify(None, conn.execute(_SELECT_VERSION).scalars().all())
        except sa.exc.DBAPIError:  # no version table: an empty, unversioned or foreign database
            state = None
        if state is not None:
            return state
        try:
            with conn.begin():
                return catalog_state(conn)
        except sa.exc.DBAPIError as exc:
            raise ConfigError(
                f"cannot read the ledger database {mask_url(engine.url)!r}: {_said(engine.url, exc)}"
            ) from None


def catalog_state(conn: sa.Connection) -> SchemaState:
    """The state from the catalog: never a failing query, so it can run inside a PostgreSQL transaction."""
    tables = sa.inspect(conn).get_table_names()
    revisions = conn.execute(_SELECT_VERSION).scalars().all() if VERSION_TABLE in tables else []
    state = classify(tables, revisions)
    assert state is not None
    return state


@contextlib.contextmanager
def connect(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A connection, or a ConfigError naming the (masked) URL when the database cannot be reached."""
    try:
        conn = engine.connect()
    except sa.exc.DBAPIError as exc:
        raise ConfigError(
            f"cannot open the ledger database {mask_url(engine.url)!r}: {_said(engine.url, exc)}"
        ) from None
    with conn:
        yield conn


@contextlib.contextmanager
def schema_transaction(engine: sa.Engine, *, foreign_keys: bool = True) -> Iterator[sa.Connection]:
    """One transaction that holds the ledger's schema lock: DDL and data commit together or not at all.

    SQLite: ``BEGIN IMMEDIATE`` (the database's write lock; DDL is transactional once a transaction is
    open); ``foreign_keys=False`` turns the checks off first, as rebuilding a table (batch migration)
    needs, and checks every reference before committing. PostgreSQL: a transaction-level advisory lock.
    A second process waits for the first, then sees what it committed.
    """
    with connect(engine) as conn:
        sqlite = engine.dialect.name == "sqlite"
        if sqlite and not foreign_keys:
            _pragma(conn, "foreign_keys=OFF")
        try:
            with conn.begin(), _no_privilege_is_a_config_error(engine.url):
                _lock_schema(conn)
                yield conn
                if sqlite and not foreign_keys:
                    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        table, rowid, parent = broken[0][:3]
                        raise LedgerSchemaError(
                            f"the migration would leave {len(broken)} rows referring to rows that no longer exist "
                            f"(first: {table} row {rowid} -> {parent}); nothing was changed: report this as a bug"
                        )
        finally:
            if sqlite and not foreign_keys:
                _pragma(conn, "foreign_keys=ON")


@contextlib.contextmanager
def _no_privilege_is_a_config_error(url: sa.URL) -> Iterator[None]:
    """A database user not allowed to create or alter the tables gets a ConfigError saying what to do."""
    try:
        yield
    except sa.exc.ProgrammingError as exc:
        if getattr(exc.orig, "sqlstate", None) != "42501":  # insufficient_privilege
            raise
        raise ConfigError(
            f"the database user of {mask_url(url)!r} may not change the ledger's schema ({_said(url, exc)}); "
            "run this with a user that owns the schema, or have a DBA run the SQL of "
            "'egress ledger upgrade --sql'; nothing was changed"
        ) from None


def _lock_schema(conn: sa.Connection) -> None:
    """Take the schema lock for the transaction just begun (PostgreSQL waits for it as long as it takes)."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_SCHEMA_LOCK_KEY)))
    elif conn.dialect.name == "sqlite":
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except sa.exc.OperationalError as exc:
            raise ConfigError(
                f"the ledger {mask_url(conn.engine.url)!r} stayed locked by another process for the "
                f"whole busy timeout ({_said(conn.engine.url, exc)}); try again when it has finished"
            ) from None


def _pragma(conn: sa.Connection, setting: str) -> None:
    """An SQLite PRAGMA that has no effect inside a transaction: run and committed on its own."""
    conn.exec_driver_sql(f"PRAGMA {setting}")
    conn.commit()


def stamp(conn: sa.Connection, revision: str) -> None:
    """Record ``revision`` as the database's schema revision (creating Alembic's version table if needed)."""
    version_table.create(conn, checkfirst=True)
    conn.execute(version_table.delete())
    conn.execute(version_table.insert().values(version_num=revision))


# Fills a new ledger's first rows (its ledger_info), in the transaction that creates its tables.
Populate = Callable[[sa.Connection], None]


def create_at_head(engine: sa.Engine, metadata: sa.MetaData, populate: Populate) -> SchemaState:
    """Create the ledger at :data:`SCHEMA_REVISION` if the database is still empty.

    Returns the state found under the schema lock, before any change: ``empty`` means this call created
    the ledger. Of two processes creating one ledger at once, the first creates it, the second finds it
    ``current``.
    """
    with schema_transaction(engine) as conn:
        state = catalog_state(conn)
        if state.kind != "empty":
            return state
        metadata.create_all(conn)
        populate(conn)
        stamp(conn, SCHEMA_REVISION)
    return state


def ensure_ready(
    engine: sa.Engine, metadata: sa.MetaData, populate: Populate | None
) -> Literal["ready", "created", "missing"]:
    """Let the code open this ledger; refuse any revision but its own.

    An empty database is a ``missing`` ledger (nothing is created) unless ``populate`` is given: then the
    ledger is ``created`` at the code's revision (``populate`` fills its first rows)."""
    state = read_state(engine)
    if state.kind == "empty":
        if populate is None:
            return "missing"
        state = create_at_head(engine, metadata, populate)
        if state.kind == "empty":
            return "created"  # by this process
    if state.kind != "current":
        raise refusal(state, engine.url)
    return "ready"


def refusal(state: SchemaState, url: sa.URL) -> LedgerSchemaError:
    """The error for a ledger the code must not use: what was found, what is needed, the command to run."""
    from .. import __version__

    where = mask_url(url)
    command = f"egress ledger upgrade --db {shlex.quote(where)} ("
    if url.password:
        command += "with the real password in place of ***, or EGRESS_DB set; "
    if state.kind in ("behind", "unversioned"):
        found = (
            f"has schema revision {state.revision!r}"
            if state.kind == "behind"
            else "has no schema revision (smtp-egress 0.1.0 made it, before the schema was versioned)"
        )
        return LedgerUpgradeNeeded(
            f"the ledger at {where!r} {found}; this smtp-egress needs schema revision {SCHEMA_REVISION!r}. Back the "
            f"database up, then run: {command}--sql prints the DDL to review first)"
        )
    if state.kind == "ahead":
        return LedgerTooNew(
            f"the ledger at {where!r} has schema revision {state.revision!r}, which this smtp-egress ({__version__}, "
            f"schema revision {SCHEMA_REVISION!r}) does not know: a newer smtp-egress wrote it. Use that version or a "
            "later one (pip install -U smtp-egress); never downgrade a ledger"
        )
    what = ", ".join(repr(t) for t in state.tables[:8]) + (" ..." if len(state.tables) > 8 else "")
    if state.kind == "partial":
        missing = ", ".join(repr(t) for t in LEDGER_TABLES if t not in state.tables)
        detail = f"a half-made ledger: it holds {what} but not {missing}"
    elif state.revision:
        detail = f"its {VERSION_TABLE} holds several revisions ({state.revision})"
    else:
        detail = f"it holds other tables ({what})"
    return LedgerNotRecognised(
        f"the database at {where!r} is not an smtp-egress ledger: {detail}; nothing was changed. Point --db "
        "(or EGRESS_DB) at the ledger, or at an empty database to start a new one, or restore the ledger's backup"
    )


def _said(url: sa.URL, exc: sa.exc.DBAPIError) -> str:
    """What the database driver said, without any secret of ``url`` (a driver may quote its connection string)."""
    return scrub(" ".join(str(exc.orig).split())[:500], url.render_as_string(hide_password=False))
