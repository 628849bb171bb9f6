"""Migrate a ledger to the code's schema revision with Alembic, or write the DDL that would (``--sql``).

The migrations are this package's ``versions/``, run from code (``script_location`` is this folder: an
installed wheel needs no alembic.ini). Everything happens in one transaction holding the schema lock:
the migrations, and for a ledger made before the schema was versioned (release 0.1.0), the check that
its tables are that release's and the stamp of revision 0001 that adopts it. On any error nothing is
changed. A ledger is never downgraded.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TextIO

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from ..errors import LedgerNotRecognised
from ..ledger import open_engine
from ..masking import mask_url
from . import SchemaState, catalog_state, connect, refusal, schema_transaction, stamp

MIGRATIONS = Path(__file__).resolve().parent

# The columns of release 0.1.0's tables (revision 0001): an unversioned database is adopted only if its
# ledger tables have exactly these. A test checks them against what revision 0001 creates.
RELEASE_COLUMNS: dict[str, tuple[str, ...]] = {
    "workspaces": ("workspace_id", "region", "email", "webhook_url", "updated_at"),
    "announcements": (
        "change_id",
        "region",
        "ip",
        "action",
        "planned",
        "announced_at",
        "notice_days",
        "exception_reason",
        "plan_sha256",
    ),
    "deliveries": (
        "change_id",
        "workspace_id",
        "channel",
        "target",
        "status",
        "attempts",
        "message_id",
        "last_error",
        "sent_at",
    ),
}


@dataclasses.dataclass(frozen=True)
class UpgradeResult:
    url: str  # password masked
    found: str  # the state before: "empty" | "unversioned" | "behind" | "current"
    from_revision: str | None  # None: the database had no schema revision
    to_revision: str

    @property
    def changed(self) -> bool:
        return self.found != "current"


def alembic_config(
    url: str,
    script_location: Path = MIGRATIONS,
    *,
    output: TextIO | None = None,
    connection: sa.Connection | None = None,
) -> Config:
    """Alembic's configuration, built in code; env.py reads the URL and the connection from its attributes."""
    config = Config(output_buffer=output) if output is not None else Config()
    config.set_main_option("script_location", str(script_location).replace("%", "%%"))
    config.attributes.update(url=url, connection=connection)
    return config


def history(script_location: Path = MIGRATIONS) -> list[str]:
    """Every revision of the migrations, oldest first (one line of history: no branches)."""
    script = ScriptDirectory.from_config(alembic_config("", script_location))
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]


def upgrade(url: str, script_location: Path = MIGRATIONS) -> UpgradeResult:
    """Migrate (or adopt, or create) the ledger at ``url`` to the migrations' head."""
    engine = open_engine(url)
    try:
        with schema_transaction(engine, foreign_keys=False) as conn:
            state, revisions = _upgradable(conn, engine.url, script_location)
            if state.kind == "unversioned":
                stamp(conn, revisions[0])
            command.upgrade(alembic_config(url, script_location, connection=conn), "head")
    finally:
        engine.dispose()
    return _result(url, state, revisions)


def upgrade_sql(url: str, out: TextIO, script_location: Path = MIGRATIONS) -> UpgradeResult:
    """Write to ``out`` the SQL that takes the ledger from its revision to the head; change nothing."""
    engine = open_engine(url)
    try:
        with connect(engine) as conn, conn.begin():
            state, revisions = _upgradable(conn, engine.url, script_location)
    finally:
        engine.dispose()
    head = revisions[-1]
    config = alembic_config(url, script_location, output=out)
    start = state.revision
    if state.kind == "unversioned":
        out.write(f"-- Adopt the unversioned ledger (release 0.1.0's tables, checked) as revision {revisions[0]}\n")
        command.stamp(config, revisions[0], sql=True)
        start = revisions[0]
    if start == head:
        out.write(f"-- The ledger is at revision {head}, the head: nothing to do\n")
    else:
        command.upgrade(config, f"{start}:head" if start else "head", sql=True)
    return _result(url, state, revisions)


def _result(url: str, state: SchemaState, revisions: list[str]) -> UpgradeResult:
    found = state.kind if state.revision is None else "current" if state.revision == revisions[-1] else "behind"
    return UpgradeResult(mask_url(url), found, state.revision, revisions[-1])


def _upgradable(conn: sa.Connection, url: sa.URL, script_location: Path) -> tuple[SchemaState, list[str]]:
    """The database's state and the migrations' revisions; an error for a state that cannot be upgraded."""
    state = catalog_state(conn)
    revisions = history(script_location)
    if state.kind in ("partial", "foreign"):
        raise refusal(state, url)
    if state.revision is not None and state.revision not in revisions:
        raise refusal(dataclasses.replace(state, kind="ahead"), url)
    if state.kind == "unversioned":
        check_release_tables(conn, url)
    return state, revisions


def check_release_tables(conn: sa.Connection, url: sa.URL) -> None:
    """LedgerNotRecognised unless the ledger tables have exactly release 0.1.0's columns."""
    inspector = sa.inspect(conn)
    problems = []
    for table, expected in RELEASE_COLUMNS.items():
        found = [c["name"] for c in inspector.get_columns(table)]
        missing = [c for c in expected if c not in found]
        extra = [c for c in found if c not in expected]
        if missing or extra:
            problems.append(
                f"{table}: "
                + "; ".join(
                    part
                    for part in (
                        f"missing {', '.join(missing)}" if missing else "",
                        f"unexpected {', '.join(extra)}" if extra else "",
                    )
                    if part
                )
            )
    if problems:
        raise LedgerNotRecognised(
            f"the unversioned database at {mask_url(url)!r} does not hold release 0.1.0's ledger tables "
            f"({'; '.join(problems)}), so it cannot be adopted; nothing was changed. Restore the ledger's backup, "
            "or point --db (or EGRESS_DB) at the right database"
        )
