"""The ledger's schema versions on SQLite and a real PostgreSQL: what opening a ledger does with each
state, the migrations against the code's tables, ``egress ledger init|status|upgrade [--sql]``."""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

import smtp_egress.migrations as schema
from smtp_egress.dates import UTC
from smtp_egress.errors import LedgerNotRecognised, LedgerTooNew, LedgerUpgradeNeeded
from smtp_egress.ledger import Ledger, Workspace, metadata
from smtp_egress.masking import mask_url
from smtp_egress.migrations import SCHEMA_REVISION, SCHEMA_REVISIONS
from smtp_egress.migrations.upgrade import RELEASE_COLUMNS, alembic_config, history, upgrade
from smtp_egress.scripts.cli import main

_spec = importlib.util.spec_from_file_location("ledger_release", Path(__file__).with_name("test_ledger_upgrade.py"))
release = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(release)  # build_release_ledger: release 0.1.0's ledger from the frozen files
NOW = dt.datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
PLAN = ["--plan", str(Path(__file__).parents[2] / "stacks" / "egress-ips.yaml")]
WORKSPACES_CSV = Path(__file__).parents[2] / "examples" / "workspaces.csv"


def describe(url: str) -> dict:
    """Every table's columns (name, type, nullable, default), primary key, foreign keys and indexes."""
    engine = sa.create_engine(url)
    inspector = sa.inspect(engine)
    out = {}
    for table in sorted(inspector.get_table_names()):
        out[table] = {
            "columns": [(c["name"], str(c["type"]), c["nullable"], c["default"]) for c in inspector.get_columns(table)],
            "pk": inspector.get_pk_constraint(table)["constrained_columns"],
            "fks": [
                (f["constrained_columns"], f["referred_table"], f["referred_columns"])
                for f in inspector.get_foreign_keys(table)
            ],
            "indexes": sorted(
                (i["name"], tuple(i["column_names"]), bool(i["unique"])) for i in inspector.get_indexes(table)
            ),
        }
    engine.dispose()
    return out


def execute(url: str, *statements: str) -> list:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        results = [conn.exec_driver_sql(s) for s in statements]
        results = [r.fetchall() if r.returns_rows else None for r in results]
    engine.dispose()
    return results


def wipe(url: str) -> None:
    engine = sa.create_engine(url)
    found = sa.MetaData()
    found.reflect(engine)
    found.drop_all(engine)
    engine.dispose()


def migrate(url: str, target: str) -> None:
    """Run the shipped migrations up to ``target`` on an empty database (Alembic only, no adoption logic)."""
    from alembic import command

    engine = sa.create_engine(url)
    with engine.begin() as conn:
        command.upgrade(alembic_config(url, connection=conn), target)
    engine.dispose()


def egress(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# The migrations and the code ----------------------------------------------------------------------


def test_the_code_knows_exactly_the_migrations_revisions():
    assert history() == list(SCHEMA_REVISIONS)
    assert history()[-1] == SCHEMA_REVISION


def test_revision_0001_is_exactly_the_release_schema(db_url):
    release.build_release_ledger(db_url)
    made_by_release = describe(db_url)
    wipe(db_url)
    migrate(db_url, "0001")
    migrated = describe(db_url)
    assert migrated.pop(schema.VERSION_TABLE)["pk"] == ["version_num"]
    assert migrated == made_by_release
    assert {t: tuple(c[0] for c in d["columns"]) for t, d in made_by_release.items()} == RELEASE_COLUMNS


def test_a_ledger_created_on_opening_is_the_one_the_migrations_make(db_url):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    upgrade(db_url)
    migrated = describe(db_url)
    engine = sa.create_engine(db_url)
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata) == []
    engine.dispose()
    wipe(db_url)
    Ledger(db_url, create=True).close()
    assert describe(db_url) == migrated
    assert execute(db_url, "SELECT version_num FROM alembic_version") == [[(SCHEMA_REVISION,)]]


def test_opening_a_current_ledger_costs_one_query_and_never_imports_alembic(db_url):
    Ledger(db_url, create=True).close()
    code = (
        "import sqlalchemy as sa, sys, smtp_egress.ledger as m\n"
        "seen = []\norig = m.open_engine\n"
        "def spy(url, *where):\n    e = orig(url, *where)\n"
        "    sa.event.listen(e, 'before_cursor_execute', lambda c, cur, st, *a: seen.append(st))\n    return e\n"
        "m.open_engine = spy\nm.Ledger(sys.argv[1]).close()\n"
        "print(seen, 'alembic' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code, db_url], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["['SELECT", "alembic_version.version_num", "\\nFROM", "alembic_version']", "False"]


# What opening does with each state ------------------------------------------------------------------


def test_a_ledger_from_a_newer_smtp_egress_is_refused_never_downgraded(db_url, capsys):
    Ledger(db_url, create=True).close()
    execute(db_url, "UPDATE alembic_version SET version_num = '0042_future'")
    with pytest.raises(LedgerTooNew, match="has schema revision '0042_future', which this smtp-egress"):
        Ledger(db_url)
    for argv in (
        ["workspaces", "list", "--region", "us", *PLAN],
        ["ledger", "upgrade"],
        ["ledger", "upgrade", "--sql"],
        ["ledger", "init"],
    ):
        code, out, err = egress(capsys, *argv, "--db", db_url)
        assert code == 2 and "a newer smtp-egress wrote it" in err and "never downgrade" in err, (argv, err)
        assert out == ""
    code, out, err = egress(capsys, "ledger", "status", "--db", db_url, "--json")
    status = json.loads(out)
    assert code == 2 and (status["state"], status["revision"], status["usable"], status["upgrade_needed"]) == (
        "ahead",
        "0042_future",
        False,
        False,
    )
    assert execute(db_url, "SELECT version_num FROM alembic_version") == [[("0042_future",)]]


def test_a_ledger_behind_the_code_names_the_upgrade(db_url, monkeypatch):
    Ledger(db_url, create=True).close()
    newer = f"{int(SCHEMA_REVISION) + 1:04}"
    monkeypatch.setattr(schema, "SCHEMA_REVISIONS", (*SCHEMA_REVISIONS, newer))
    monkeypatch.setattr(schema, "SCHEMA_REVISION", newer)
    with pytest.raises(LedgerUpgradeNeeded) as caught:
        Ledger(db_url)
    where = mask_url(db_url)
    assert str(caught.value) == (
        f"the ledger at {where!r} has schema revision {SCHEMA_REVISION!r}; this smtp-egress needs schema revision "
        f"{newer!r}. Back the database up, then run: egress ledger upgrade --db {where} (--sql prints the DDL to "
        "review first)"
    )


@pytest.mark.parametrize(
    "tables, needle",
    [
        (["CREATE TABLE customers (id INTEGER PRIMARY KEY)"], "it holds other tables ('customers')"),
        (
            ["CREATE TABLE workspaces (workspace_id VARCHAR(200) PRIMARY KEY)"],
            "a half-made ledger: it holds 'workspaces' but not 'announcements', 'deliveries'",
        ),
    ],
)
def test_a_database_that_is_not_a_ledger_is_refused_and_left_alone(db_url, tables, needle):
    execute(db_url, *tables)
    before = describe(db_url)
    with pytest.raises(LedgerNotRecognised, match=re.escape(needle)):
        Ledger(db_url)
    assert describe(db_url) == before


def test_processes_opening_one_empty_database_at_once_all_succeed(db_url):
    start = time.time() + 3  # every process imports first, then opens at the same moment
    code = (
        "import sys, time\nfrom smtp_egress.ledger import Ledger\n"
        "time.sleep(max(0, float(sys.argv[2]) - time.time()))\nLedger(sys.argv[1], create=True).close()\n"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code, db_url, str(start)], stderr=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    errors = [p.communicate(timeout=60)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, errors
    assert execute(db_url, "SELECT version_num FROM alembic_version") == [[(SCHEMA_REVISION,)]]
    assert set(describe(db_url)) == {*metadata.tables, schema.VERSION_TABLE}


# egress ledger init | status | upgrade ----------------------------------------------------------------


def test_init_creates_once_and_status_follows(db_url, capsys):
    code, out, _ = egress(capsys, "ledger", "status", "--db", db_url, "--json")
    status = json.loads(out)
    assert code == 2 and status == {
        "url": db_url,
        "state": "empty",
        "kind": None,
        "revision": None,
        "head": SCHEMA_REVISION,
        "usable": False,
        "upgrade_needed": False,
        "action": status["action"],
    }
    assert status["action"].startswith(f"no ledger at {db_url!r} (from --db): ") and "egress ledger init" in out
    code, out, _ = egress(capsys, "ledger", "init", "--db", db_url)
    assert (code, out) == (0, f"created a new real ledger at {db_url} (schema revision {SCHEMA_REVISION})\n")
    code, out, _ = egress(capsys, "ledger", "init", "--db", db_url, "--json")
    assert code == 0 and json.loads(out) == {
        "url": db_url,
        "created": False,
        "revision": SCHEMA_REVISION,
        "kind": "real",
    }
    code, out, _ = egress(capsys, "ledger", "status", "--db", db_url)
    assert (code, out) == (
        0,
        f"{db_url}: a real ledger, schema revision {SCHEMA_REVISION}, this smtp-egress's: ready\n",
    )
    code, out, _ = egress(capsys, "ledger", "upgrade", "--db", db_url, "--json")
    assert code == 0 and json.loads(out) == {
        "url": db_url,
        "found": "current",
        "from": SCHEMA_REVISION,
        "to": SCHEMA_REVISION,
        "changed": False,
    }


def test_the_default_ledger_is_the_projects_whatever_the_current_directory(tmp_path, capsys, monkeypatch):
    """The default ledger is .egress/egress.db in the project folder (the one holding Pulumi.yaml above the
    plan), found from the plan, not from the current directory; status and upgrade never create it."""
    project = tmp_path / "project"
    (project / "stacks").mkdir(parents=True)
    (project / "Pulumi.yaml").write_text("name: smtp-egress\n")
    plan = ["--plan", str(project / "stacks" / "egress-ips.yaml")]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.delenv("EGRESS_DB", raising=False)
    default = project / ".egress" / "egress.db"
    code, out, _ = egress(capsys, "ledger", "status", *plan)
    assert (
        code == 2
        and "no ledger yet" in out
        and f"(the default: .egress/egress.db in the project folder {project})" in out
    )
    code, _, err = egress(capsys, "ledger", "upgrade", *plan)
    assert (
        code == 2 and f"no ledger at 'sqlite:///{default}' (the default: " in err and "the file does not exist" in err
    )
    assert not (project / ".egress").exists() and list(elsewhere.iterdir()) == []
    assert egress(capsys, "ledger", "init", *plan)[0] == 0 and default.is_file()
    monkeypatch.chdir(project / "stacks")  # another current directory, the same ledger
    code, out, _ = egress(capsys, "ledger", "status", "--plan", "egress-ips.yaml")
    assert code == 0 and out.startswith(f"sqlite:///{default}: a real ledger")
    assert list(elsewhere.iterdir()) == [] and not (project / "stacks" / ".egress").exists()


def test_upgrade_sql_on_an_empty_postgresql_database_makes_a_ledger_the_code_accepts(pg_url, capsys):
    code, sql, err = egress(capsys, "ledger", "upgrade", "--sql", "--db", pg_url)
    assert code == 0 and f"creates the ledger at {pg_url}, schema revision" in err and "Nothing was changed" in err
    assert sql.startswith("BEGIN;") and sql.rstrip().endswith("COMMIT;") and "CREATE TABLE deliveries" in sql
    assert describe(pg_url) == {}  # --sql changed nothing
    url = sa.make_url(pg_url)
    psql = subprocess.run(
        [
            "psql",
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            url.host,
            "-p",
            str(url.port),
            "-U",
            url.username,
            "-d",
            url.database,
        ],
        input=sql,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert psql.returncode == 0, psql.stderr
    ledger = Ledger(pg_url)
    ledger.upsert_workspaces([Workspace("ws-1", "us", {"email": "a@one.example"})], NOW)
    ledger.close()
    code, out, _ = egress(capsys, "ledger", "status", "--db", pg_url)
    assert code == 0 and out.endswith("this smtp-egress's: ready\n")
    code, sql, err = egress(capsys, "ledger", "upgrade", "--sql", "--db", pg_url)
    assert (code, sql, err) == (0, f"-- The ledger is at revision {SCHEMA_REVISION}, the head: nothing to do\n", "")


def test_passwords_never_appear_in_any_output(pg_url, capsys):
    url = sa.make_url(pg_url).set(password="s3cret-pw")  # the test server trusts local connections
    text = url.render_as_string(hide_password=False)
    outputs = [
        egress(capsys, "ledger", *verb, "--db", text)
        for verb in (
            ["status"],
            ["upgrade", "--sql"],
            ["upgrade"],
            ["upgrade", "--json"],
            ["init"],
            ["status", "--json"],
        )
    ]
    execute(text, "UPDATE alembic_version SET version_num = '0042_future'")
    outputs += [egress(capsys, "ledger", verb, "--db", text) for verb in ("status", "upgrade", "init")]
    said = "".join(out + err for _, out, err in outputs)
    assert "s3cret-pw" not in said and said.count(":***@") >= 9


def test_a_new_sqlite_file_switches_to_wal_while_another_connection_writes(tmp_path):
    """SQLite does not wait for the lock that switching a file to WAL needs when another connection holds a
    write lock (it would deadlock): opening retries instead of failing with "database is locked"."""
    import sqlite3
    import threading

    from smtp_egress.ledger import open_engine

    path = tmp_path / "busy.db"
    writer = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    writer.execute("CREATE TABLE t (a INTEGER)")
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO t VALUES (1)")
    threading.Timer(0.5, writer.commit).start()
    engine = open_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    engine.dispose()
    writer.close()


def test_a_database_user_without_the_right_to_create_tables_gets_a_clear_error(pg_url, capsys):
    url = sa.make_url(pg_url)
    execute(
        pg_url,
        "DROP ROLE IF EXISTS egress_reader",
        "CREATE ROLE egress_reader LOGIN",
        f'GRANT CONNECT ON DATABASE "{url.database}" TO egress_reader',
    )  # PostgreSQL 15+: no CREATE on public
    reader = url.set(username="egress_reader").render_as_string(hide_password=False)
    try:
        for argv in (["ledger", "init"], ["workspaces", "import", str(WORKSPACES_CSV), *PLAN]):
            code, _, err = egress(capsys, *argv, "--db", reader)
            assert code == 2 and "may not change the ledger's schema (permission denied" in err, err
            assert "egress ledger upgrade --sql" in err and "Traceback" not in err
        for argv in (["ledger", "upgrade"], ["workspaces", "list", "--region", "us", *PLAN]):  # they never create
            code, _, err = egress(capsys, *argv, "--db", reader)
            assert code == 2 and "the database holds no tables" in err and "Traceback" not in err, err
        assert describe(pg_url) == {}
    finally:
        execute(pg_url, f'REVOKE ALL ON DATABASE "{url.database}" FROM egress_reader', "DROP ROLE egress_reader")


@pytest.mark.parametrize(
    "url, shown",
    [
        ("nosuchdriver://u:pw-1@h/x", "nosuchdriver://u:***@h/x"),
        ("not a url u:pw-1@h", "not a url u:***@h"),
        ("post gres://u:pw-1@h/x", "post gres:***@h/x"),
        ("postgresql://u:pw-1@h:port/x", "postgresql://u:***@h:port/x"),
        ("postgresql://u:pw/1@h:port/x", "postgresql://u:***@h:port/x"),
        ("postgres://u:pw-1@h/x", "postgres://u:***@h/x"),
        ("mysql://u:pw-1@h/x", "mysql://u:***@h/x"),
    ],
)
def test_an_unusable_url_is_named_without_its_password(url, shown, capsys):
    code, _, err = egress(capsys, "ledger", "status", "--db", url)
    assert code == 2 and f"the ledger URL {shown!r} (from --db) is not a usable SQLAlchemy URL" in err  # as used
    assert "pw-1" not in err
