"""``egress workspaces``: import (unchanged rows said so), list (every region by default), remove (its notices are
not sent and it no longer holds a batch back), with real files and a real SQLite ledger."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest

from smtp_egress.dates import UTC
from smtp_egress.ledger import Ledger
from smtp_egress.plan import load_plan
from smtp_egress.scripts.cli import main

EXAMPLE_PLAN = Path(__file__).resolve().parents[1] / "data" / "example-plan.yaml"
CSV = "workspace_id,region,email\nws-1,us,ops@one.example\nws-2,us,admin@two.example\nws-3,eu,it@three.example\n"


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("EGRESS_DB", raising=False)
    monkeypatch.delenv("EGRESS_PLAN", raising=False)
    shutil.copy(EXAMPLE_PLAN, "plan.yaml")
    Path("ws.csv").write_text(CSV)
    db = f"sqlite:///{tmp_path}/ledger.db"
    common = ["--plan", "plan.yaml", "--db", db]
    assert main(["ledger", "init", "--simulation", *common]) == 0
    return {"db": db, "common": common, "tmp": tmp_path}


def egress(capsys, env, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main([*argv, *env["common"]])
    out, err = capsys.readouterr()
    return code, out, err


def test_reimporting_identical_rows_reports_them_unchanged_not_updated(env, capsys):
    code, out, _ = egress(capsys, env, "workspaces", "import", "ws.csv")
    assert code == 0 and "ws.csv: 3 workspaces (3 added, 0 updated, 0 unchanged)" in out
    code, out, _ = egress(capsys, env, "workspaces", "import", "ws.csv")
    assert code == 0 and "ws.csv: 3 workspaces (0 added, 0 updated, 3 unchanged)" in out
    Path("one.csv").write_text("workspace_id,region,email\nws-1,us,new@one.example\n")
    code, out, _ = egress(capsys, env, "workspaces", "import", "one.csv", "--json")
    assert json.loads(out) | {"file": None} == {
        "file": None,
        "added": 0,
        "updated": 1,
        "unchanged": 0,
        "total": 1,
        "created_ledger": False,
    }
    code, out, _ = egress(capsys, env, "workspaces", "import", "one.csv")
    assert "one.csv: 1 workspace (0 added, 0 updated, 1 unchanged)" in out  # one, singular


def test_list_without_region_lists_every_region(env, capsys):
    assert egress(capsys, env, "workspaces", "import", "ws.csv")[0] == 0
    code, out, _ = egress(capsys, env, "workspaces", "list")
    assert code == 0
    assert [line.split("\t")[:2] for line in out.splitlines()] == [["ws-3", "eu"], ["ws-1", "us"], ["ws-2", "us"]]
    code, out, _ = egress(capsys, env, "workspaces", "list", "--region", "eu", "--json")
    assert [w["workspace_id"] for w in json.loads(out)] == ["ws-3"]
    code, _, err = egress(capsys, env, "workspaces", "list", "--region", "ap")
    assert code == 2 and "--region" in err and "'ap'" in err


def held_batch(env) -> str:
    """A batch of the us addition recorded for ws-1 and ws-2 (as egress notify records it); ws-1 heard of it."""
    plan = load_plan("plan.yaml")
    change = next(c for c in plan.changes("us") if c.action == "add")
    at = dt.datetime(2026, 11, 20, 9, tzinfo=UTC)
    ledger = Ledger(env["db"])
    try:
        batch = ledger.announce(change, at, plan.notice_days, plan.sha256, ledger.workspaces("us"))
        (first,) = [d for d in ledger.unsent() if d.workspace_id == "ws-1"]
        ledger.mark_sent(first, at)
    finally:
        ledger.close()
    return batch.batch_id


def test_remove_drops_its_pending_notices_and_tells_the_batch_it_held_back(env, capsys):
    assert egress(capsys, env, "workspaces", "import", "ws.csv")[0] == 0
    batch = held_batch(env)
    code, _, err = egress(capsys, env, "workspaces", "remove", "ws-2", "--region", "eu", "--at", "2026-11-21")
    assert code == 2 and "no workspace 'ws-2' in region 'eu'" in err and "nothing was removed" in err
    code, out, err = egress(
        capsys, env, "workspaces", "remove", "ws-2", "--reason", "left custom SMTP", "--by", "ops", "--at", "2026-11-21"
    )
    assert code == 0, err
    assert "removed workspace ws-2 (region us): no later notice goes to it" in out
    assert "1 batch it had not heard of no longer wait for it" in out and batch in out
    assert f"batch {batch} told: every other workspace heard of it" in out and "2026-11-21T00:00:00Z" in out
    ledger = Ledger(env["db"])
    try:
        assert ledger.unsent() == []  # its notice is never sent
        assert [w.workspace_id for w in ledger.workspaces()] == ["ws-3", "ws-1"]
        (waiver,) = ledger.waivers("us")
        assert (waiver.workspace_id, waiver.waived_by) == ("ws-2", "ops")
        assert waiver.reason.endswith(": left custom SMTP")
        (announced,) = ledger.announcements("us").values()
        assert announced.announced_at == dt.datetime(2026, 11, 21, tzinfo=UTC)
    finally:
        ledger.close()
    code, out, _ = egress(capsys, env, "report", "--format", "md", "--at", "2026-11-22")
    assert "left custom SMTP" in out  # the decision is in the compliance record
    code, _, err = egress(capsys, env, "workspaces", "remove", "ws-2", "--at", "2026-11-22")
    assert code == 2 and "no workspace 'ws-2' in the ledger" in err


def test_remove_is_refused_on_a_real_ledger_with_a_date_and_json_says_what_it_did(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("EGRESS_DB", raising=False)
    shutil.copy(EXAMPLE_PLAN, "plan.yaml")
    Path("ws.csv").write_text(CSV)
    env = {"common": ["--plan", "plan.yaml", "--db", f"sqlite:///{tmp_path}/real.db"]}
    assert egress(capsys, env, "workspaces", "import", "ws.csv")[0] == 0  # a real ledger
    code, _, err = egress(capsys, env, "workspaces", "remove", "ws-1", "--at", "2026-11-21")
    assert code == 2 and "--at 2026-11-21 is refused" in err
    code, out, _ = egress(capsys, env, "workspaces", "remove", "ws-1", "--json")
    assert code == 0 and json.loads(out)["removed"] == "ws-1" and json.loads(out)["batches"] == []
