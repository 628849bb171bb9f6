"""Upgrading a real ledger of release 0.1.0 (commit 2b9d1c1), made before the schema was versioned.

The release's ledger is rebuilt from frozen files in tests/data/ledger-0.1.0/ (never from git at test
time): ``schema-<dialect>.sql`` holds the statements that release's ``metadata.create_all`` ran, and
``rows.json`` the rows it wrote for the sample of tests/egress/test_report_model.py (workspaces with and
without a webhook; an announcement in time, a late one, a short-notice exception, one whose change left
the plan; deliveries sent, failed and pending), with ``plan.yaml``, the plan they were announced from.
Every command refuses that ledger until ``egress ledger upgrade`` adopts it and migrates it to the head;
then every fact is still there (the workspaces' email and webhook_url columns became their targets of
revision 0002; each announcement became a batch of its own in revision 0003, told when it was recorded, its
deliveries keeping their Message-IDs), ``egress report --json`` says what the report of revision 0002 said
(``report-0002.json``, frozen from that code) plus the facts revision 0003 adds, and ``egress notify``
delivers the pending notices to the addresses they were pending for, with the same Message-IDs.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import mailbox
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa

from smtp_egress.dates import UTC
from smtp_egress.ledger import Ledger
from smtp_egress.migrations import SCHEMA_REVISION, VERSION_TABLE
from smtp_egress.notices.channels.base import mask_secret_url
from smtp_egress.scripts.cli import main

RELEASE = Path(__file__).parents[1] / "data" / "ledger-0.1.0"
ROWS = json.loads((RELEASE / "rows.json").read_text())
REPORT_0002 = json.loads((RELEASE / "report-0002.json").read_text())  # at AT, by the code of revision 0002
PLAN = RELEASE / "plan.yaml"
AT = "2026-12-22"
TABLES = ("workspaces", "announcements", "deliveries")  # parents first


def _typed(column: str, value):
    """rows.json keeps datetimes and days as ISO text."""
    if value is None:
        return None
    if column.endswith("_at"):
        return dt.datetime.fromisoformat(value)
    return dt.date.fromisoformat(value) if column == "planned" else value


def build_release_ledger(url: str) -> None:
    """The ledger release 0.1.0 left behind: its DDL for this dialect, then its rows, no alembic_version."""
    engine = sa.create_engine(url)
    lines = (RELEASE / f"schema-{engine.dialect.name}.sql").read_text().splitlines()
    ddl = "\n".join(line for line in lines if not line.startswith("--"))
    with engine.begin() as conn:
        for statement in filter(None, (part.strip() for part in ddl.split(";"))):
            conn.exec_driver_sql(statement)
        reflected = sa.MetaData()
        reflected.reflect(conn)
        for table in TABLES:
            rows = [{k: _typed(k, v) for k, v in row.items()} for row in ROWS[table]]
            conn.execute(reflected.tables[table].insert(), rows)
    engine.dispose()


def dump(url: str) -> dict[str, list[dict]]:
    """Every fact of the ledger, in rows.json's form (release 0.1.0's columns), whatever its revision: from
    revision 0002 on, a workspace's email and webhook_url are its targets of the channels "email" and "webhook";
    from revision 0003 on, an announcement's announced_at is its batch's recorded_at, and a delivery's
    change is its batch's (one change per batch here)."""

    def text(value):
        if isinstance(value, dt.datetime):
            return (value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)).isoformat()
        return value.isoformat() if isinstance(value, dt.date) else value

    engine = sa.create_engine(url)
    found = sa.MetaData()
    found.reflect(engine)
    with engine.connect() as conn:
        out = {}
        batched = "batches" in found.tables
        for name in TABLES:
            table = found.tables[name]
            columns = [c for c in table.columns if c.name in ROWS[name][0]]  # release 0.1.0's (a test adds one)
            q = sa.select(*columns)
            if batched and name == "announcements":
                b = found.tables["batches"]
                q = q.add_columns(b.c.recorded_at.label("announced_at")).join(b, b.c.batch_id == table.c.batch_id)
            if batched and name == "deliveries":
                a = found.tables["announcements"]
                q = q.add_columns(a.c.change_id).join(a, a.c.batch_id == table.c.batch_id)
            rows = conn.execute(q.order_by(*table.primary_key.columns)).mappings().all()
            out[name] = [{k: text(v) for k, v in row.items()} for row in rows]
        if "workspace_targets" in found.tables:
            targets: dict[str, dict[str, str]] = {}
            for workspace_id, channel, target in conn.execute(sa.select(found.tables["workspace_targets"])):
                targets.setdefault(workspace_id, {})[channel] = target
            for row in out["workspaces"]:
                mine = targets.pop(row["workspace_id"], {})
                row.update(email=mine.pop("email", None), webhook_url=mine.pop("webhook", None))
                assert not mine, f"unexpected targets {mine}"
            assert not targets, f"targets of no workspace: {targets}"
    engine.dispose()
    return out


def has_version_table(url: str) -> bool:
    engine = sa.create_engine(url)
    try:
        return VERSION_TABLE in sa.inspect(engine).get_table_names()
    finally:
        engine.dispose()


def egress(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def report_json(capsys, url: str) -> dict:
    code, out, err = egress(capsys, "report", "--plan", str(PLAN), "--db", url, "--json", "--at", AT)
    assert code == 0, err
    doc = json.loads(out)
    del doc["provenance"]
    return doc


ADDED_IN_0003 = ("recorded_at", "batch_id", "notices", "waivers", "adopted")  # adopted: revision 0005


def as_of_0002(doc: dict) -> dict:
    """The report without what revisions 0003 and 0005 added (the keys, and the flag ``notices_undelivered``)."""
    doc = copy.deepcopy(doc)
    changes = []
    for region in doc["regions"]:
        for key in ("changes", "upcoming", "exceptions"):
            for change in region[key]:
                for added in ADDED_IN_0003:
                    del change[added]
                change["flags"] = [f for f in change["flags"] if f != "notices_undelivered"]
        changes += region["changes"]
    summary = doc["summary"]
    summary["flags"] -= summary["flags_by_kind"].pop("notices_undelivered")
    summary["flagged_changes"] = sum(1 for c in changes if c["flags"])
    return doc


def commands(url: str, tmp: Path) -> dict[str, list[str]]:
    """Every command that opens the ledger, with arguments that get it that far (synth reads EGRESS_DB)."""
    (tmp / "ws.csv").write_text("workspace_id,region,email\nws-z,us,z@z.example\n")
    plan = ["--plan", str(PLAN), "--db", url]
    return {
        "workspaces import": ["workspaces", "import", str(tmp / "ws.csv"), *plan],
        "workspaces list": ["workspaces", "list", "--region", "us", *plan],
        "notify": [
            "notify",
            "--region",
            "us",
            "--published",
            str(tmp / "none.json"),
            "--today",
            AT,
            "--outbox",
            str(tmp / "outbox"),
            *plan,
        ],
        "publish": ["publish", "--region", "us", "--at", AT, *plan],
        "allowlist": ["allowlist", "--region", "us", "--format", "txt", "--at", AT, *plan],
        "report": ["report", "--at", AT, *plan],
        "serve": ["serve", "--port", "0", "--quiet", *plan],
        "synth": ["synth", "--stack", "us", "--today", AT, "--plan", str(PLAN), "--out", str(tmp / "plan.json")],
        "ledger init": ["ledger", "init", "--db", url],
        "ledger status": ["ledger", "status", "--db", url],
    }


def test_every_command_refuses_the_release_ledger_until_upgrade_adopts_it(db_url, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("EGRESS_DB", db_url)
    build_release_ledger(db_url)
    for name, argv in commands(db_url, tmp_path).items():
        code, out, err = egress(capsys, *argv)
        said = out + err
        assert code == 2, f"{name}: {code} {said}"
        assert "has no schema revision" in said and f"egress ledger upgrade --db {db_url}" in said, name
        assert "Traceback" not in said
    assert not has_version_table(db_url) and dump(db_url) == ROWS  # refusing changed nothing
    code, out, _ = egress(capsys, "ledger", "status", "--db", db_url, "--json")
    status = json.loads(out)
    assert code == 2 and (status["state"], status["upgrade_needed"], status["head"]) == (
        "unversioned",
        True,
        SCHEMA_REVISION,
    )

    code, out, err = egress(capsys, "ledger", "upgrade", "--db", db_url)
    assert code == 0, err
    assert out == (
        f"adopted the unversioned ledger of smtp-egress 0.1.0 at {db_url} (its tables checked) as schema "
        f"revision {SCHEMA_REVISION}\n"
    )
    assert dump(db_url) == ROWS
    code, out, err = egress(capsys, "ledger", "status", "--db", db_url, "--json")
    assert code == 0 and json.loads(out)["state"] == "current"

    upgraded = report_json(capsys, db_url)
    expected = copy.deepcopy(REPORT_0002)
    del expected["provenance"]
    assert as_of_0002(upgraded) == expected  # each announcement told when recorded: nothing moved
    assert upgraded["summary"]["exceptions"] == 1 and upgraded["summary"]["flags_by_kind"]["delivery_failed"] == 1
    changes = {c["change_id"]: c for region in upgraded["regions"] for c in region["changes"]}
    assert {k: (c["batch_id"], c["recorded_at"], c["announced_at"]) for k, c in changes.items() if c["batch_id"]} == {
        a["change_id"]: (
            a["change_id"],
            a["announced_at"].replace("+00:00", "Z"),
            a["announced_at"].replace("+00:00", "Z"),
        )
        for a in ROWS["announcements"]
    }
    eu = changes["eu/add/203.0.113.21/2026-12-18"]  # in effect, and ws-d never heard of it: flagged now
    assert eu["notices"] == {"delivered": 1, "pending": 1, "failed": 0, "waived": 0}
    assert eu["flags"] == ["short_notice_exception", "notices_undelivered"]
    removal = changes["us/remove/198.51.100.12/2026-12-20"]  # ws-a's webhook failed, its email arrived: told
    assert removal["notices"] == {"delivered": 2, "pending": 0, "failed": 0, "waived": 0}
    assert upgraded["summary"]["flags_by_kind"]["notices_undelivered"] == 1

    code, out, err = egress(capsys, "workspaces", "list", "--region", "us", "--plan", str(PLAN), "--db", db_url)
    assert code == 0 and out.splitlines()[0].split("\t")[:4] == [
        "ws-a",
        "us",
        "ops@a.example",
        mask_secret_url("https://hooks.a.example/ip"),
    ]  # a URL is a credential


def test_the_upgraded_release_ledger_delivers_its_pending_notices_to_the_same_addresses(db_url, tmp_path, capsys):
    build_release_ledger(db_url)
    assert egress(capsys, "ledger", "upgrade", "--db", db_url)[0] == 0
    code, out, _ = egress(capsys, "ledger", "status", "--db", db_url, "--json")
    assert code == 0 and json.loads(out)["kind"] == "real"  # an upgraded ledger is a real one: the safe side
    # Its facts are dated 2026: rehearse on it as on a simulation ledger, so that the run can be dated (on a
    # real ledger a run that records takes the real time only).
    engine = sa.create_engine(db_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE ledger_info SET kind = 'simulation'")
    engine.dispose()
    plan = ["--plan", str(PLAN), "--db", db_url]
    published = str(tmp_path / "published-eu.json")
    assert egress(capsys, "publish", "--region", "eu", "--at", "2026-12-16", "--out", published, *plan)[0] == 0
    code, out, err = egress(
        capsys,
        "notify",
        "--region",
        "eu",
        "--published",
        published,
        "--today",
        "2026-12-16",
        "--outbox",
        str(tmp_path / "outbox"),
        *plan,
    )
    assert code == 0, out + err
    (message,) = mailbox.Maildir(str(tmp_path / "outbox"), create=False)
    (pending,) = [d for d in ROWS["deliveries"] if d["change_id"].startswith("eu/") and d["status"] == "pending"]
    assert (
        (message["To"], message["Message-ID"])
        == (pending["target"], pending["message_id"])
        == ("d@d.example", "<ipchange.c8ca205e9361d59c32a1a2532bb5bd2d@smtp-egress.invalid>")
    )
    after = dump(db_url)
    (sent,) = [d for d in after["deliveries"] if (d["change_id"], d["workspace_id"]) == (pending["change_id"], "ws-d")]
    assert after["deliveries"] == [
        {**d, "status": "sent", "attempts": 1, "sent_at": sent["sent_at"]} if d is pending else d
        for d in ROWS["deliveries"]
    ]  # the rest unchanged, targets included
    assert after["workspaces"] == ROWS["workspaces"]


def test_the_sql_for_a_release_ledger_adopts_and_migrates_it_when_run(db_url, capsys):
    build_release_ledger(db_url)
    code, sql, err = egress(capsys, "ledger", "upgrade", "--sql", "--db", db_url)
    assert code == 0, err
    assert "Adopt the unversioned ledger" in sql and "INSERT INTO alembic_version (version_num) VALUES ('0001')" in sql
    assert "INSERT INTO workspace_targets" in sql and f"version_num='{SCHEMA_REVISION}'" in sql
    assert not has_version_table(db_url)  # --sql changes nothing
    engine = sa.create_engine(db_url)
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":  # as the sqlite3 shell runs a file (foreign keys off)
            conn.connection.executescript(sql)
        else:
            conn.exec_driver_sql(sql)
    engine.dispose()
    Ledger(db_url).close()
    assert dump(db_url) == ROWS
    assert as_of_0002(report_json(capsys, db_url)) == {k: v for k, v in REPORT_0002.items() if k != "provenance"}


@pytest.mark.parametrize(
    "damage, needle",
    [
        ("DROP TABLE deliveries", "a half-made ledger: it holds 'announcements', 'workspaces' but not 'deliveries'"),
        ("ALTER TABLE workspaces DROP COLUMN webhook_url", "workspaces: missing webhook_url"),
        ("ALTER TABLE announcements ADD COLUMN extra INTEGER", "announcements: unexpected extra"),
    ],
)
def test_a_half_made_or_altered_release_ledger_is_not_adopted_and_not_changed(db_url, capsys, damage, needle):
    build_release_ledger(db_url)
    engine = sa.create_engine(db_url)
    with engine.begin() as conn:
        conn.exec_driver_sql(damage)
    engine.dispose()
    before = sa.inspect(sa.create_engine(db_url)).get_table_names()
    for argv in (["ledger", "upgrade"], ["ledger", "upgrade", "--sql"]):
        code, out, err = egress(capsys, *argv, "--db", db_url)
        assert code == 2 and needle in err and "nothing was changed" in err, err
        assert out == ""
    assert sa.inspect(sa.create_engine(db_url)).get_table_names() == before


NEXT = f"{int(SCHEMA_REVISION) + 1:04}"  # a revision after the shipped head


def with_next_revision(tmp_path: Path, body: list[str]) -> Path:
    """A copy of the shipped migrations plus a revision NEXT whose upgrade() runs ``body``."""
    from smtp_egress.migrations.upgrade import MIGRATIONS

    scripts = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, scripts, ignore=shutil.ignore_patterns("__pycache__"))
    (scripts / "versions" / f"{NEXT}_test.py").write_text(
        f'import sqlalchemy as sa\nfrom alembic import op\n\nrevision = "{NEXT}"\ndown_revision = "{SCHEMA_REVISION}"\n'
        "branch_labels = depends_on = None\n\n\ndef upgrade():\n" + "".join(f"    {line}\n" for line in body)
    )
    return scripts


def test_a_new_revision_reaches_an_existing_ledger_with_its_data(db_url, tmp_path, capsys):
    """The mechanism the next schema changes use: a throwaway revision NEXT in a copy of the migrations.

    On SQLite it rebuilds the batches table (batch mode's copy-and-move, as most ALTERs need there)
    while announcements, members and deliveries reference its rows: the upgrade turns foreign-key checks
    off for the rebuild and checks every reference before it commits."""
    from smtp_egress.migrations.upgrade import upgrade

    build_release_ledger(db_url)
    assert egress(capsys, "ledger", "upgrade", "--db", db_url)[0] == 0
    scripts = with_next_revision(
        tmp_path,
        [
            'recreate = "always" if op.get_context().dialect.name == "sqlite" else "auto"',
            'with op.batch_alter_table("batches", recreate=recreate) as batch:',
            '    batch.add_column(sa.Column("note", sa.Text, nullable=True))',
            "op.execute(\"UPDATE batches SET note = 'migrated'\")",
        ],
    )

    result = upgrade(db_url, scripts)
    assert (result.found, result.from_revision, result.to_revision) == ("behind", SCHEMA_REVISION, NEXT)
    assert dump(db_url) == ROWS
    engine = sa.create_engine(db_url)
    with engine.connect() as conn:
        notes = conn.execute(sa.text("SELECT DISTINCT note FROM batches")).scalars().all()
        version = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one()
        fks = sa.inspect(conn).get_foreign_keys("deliveries")
    engine.dispose()
    assert notes == ["migrated"] and version == NEXT
    assert [(f["constrained_columns"], f["referred_table"]) for f in fks] == [(["batch_id"], "batches")]
    assert upgrade(db_url, scripts).changed is False
    code, _, err = egress(capsys, "report", "--plan", str(PLAN), "--db", db_url)  # this code does not know NEXT
    assert code == 2 and f"schema revision {NEXT!r}" in err and "a newer smtp-egress wrote it" in err


def test_a_migration_that_would_break_references_on_sqlite_changes_nothing(tmp_path, capsys):
    from smtp_egress.errors import LedgerSchemaError
    from smtp_egress.migrations.upgrade import upgrade

    url = f"sqlite:///{tmp_path}/ledger.db"
    build_release_ledger(url)
    assert egress(capsys, "ledger", "upgrade", "--db", url)[0] == 0
    scripts = with_next_revision(tmp_path, ["op.execute(\"DELETE FROM batches WHERE region = 'eu'\")"])
    broken = r"would leave 5 rows referring to rows that no longer exist \(first: \w+ row \d+ -> batches\)"
    with pytest.raises(LedgerSchemaError, match=broken):
        upgrade(url, scripts)
    assert dump(url) == ROWS
    assert egress(capsys, "ledger", "status", "--db", url)[0] == 0  # still the shipped head
