"""A published document that has not picked up an announcement a day after it was made: the publication is
broken, and the daily job alerts (exit 5), where a fresh one is only a note."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest

from smtp_egress.dates import UTC
from smtp_egress.diff import PUBLISH_WITHIN, diff
from smtp_egress.errors import DRIFT
from smtp_egress.plan import load_plan
from smtp_egress.scripts.cli import main
from smtp_egress.timeline import Announcement

EXAMPLE_PLAN = Path(__file__).resolve().parents[1] / "data" / "example-plan.yaml"
CHANGES = ["us/add/198.51.100.11/2026-12-10", "us/remove/198.51.100.12/2026-12-20"]


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for var in ("EGRESS_SMTP_URL", "EGRESS_DB", "EGRESS_OUTBOX", "EGRESS_FROM", "EGRESS_WEBHOOK_SECRET"):
        monkeypatch.delenv(var, raising=False)
    shutil.copy(EXAMPLE_PLAN, tmp_path / "plan.yaml")
    (tmp_path / "ws.csv").write_text("workspace_id,region,email\nws-1,us,ops@one.example\n")
    common = ["--plan", "plan.yaml", "--db", f"sqlite:///{tmp_path}/l.db"]
    assert main(["ledger", "init", "--simulation", *common]) == 0
    assert main(["workspaces", "import", "ws.csv", *common]) == 0
    assert main(["publish", "--region", "us", "--at", "2026-11-26", "--out", "old.json", *common]) == 0
    return common


def notify(common, day: str, published: str = "old.json", *extra: str) -> list[str]:
    return ["notify", "--region", "us", "--published", published, "--at", day, "--outbox", "outbox", *common, *extra]


def test_a_publication_that_lags_a_day_behind_an_announcement_exits_5(env, capsys):
    assert main(notify(env, "2026-11-26")) == 0  # announced (and told) at 2026-11-26T00:00:00Z
    capsys.readouterr()
    assert main(notify(env, "2026-11-26")) == 0  # the same day: the next publication may not have run yet
    out, err = capsys.readouterr()
    assert "note: the published document does not list announced change(s) yet" in out and "ACTION" not in err

    assert main(notify(env, "2026-11-27")) == DRIFT == 5
    out, err = capsys.readouterr()
    assert "ACTION NEEDED: the published document at old.json still does not list change(s) announced a day" in err
    assert "add 198.51.100.11 on 2026-12-10; remove 198.51.100.12 on 2026-12-20" in err
    assert "The publication is broken" in err and "note:" not in out
    assert main(notify(env, "2026-11-28", "old.json", "--json")) == 5
    summary = json.loads(capsys.readouterr().out)
    assert summary["exit_code"] == 5 and any("publication is broken" in p for p in summary["problems"])

    assert main(["publish", "--region", "us", "--at", "2026-11-28", "--out", "new.json", *env]) == 0
    assert main(notify(env, "2026-11-28", "new.json")) == 0  # re-published: all well


@pytest.mark.parametrize(
    "ago, overdue",
    [(dt.timedelta(0), False), (PUBLISH_WITHIN - dt.timedelta(seconds=1), False), (PUBLISH_WITHIN, True)],
)
def test_the_rule_is_one_day_after_the_announcement(ago, overdue):
    plan = load_plan(EXAMPLE_PLAN)
    now = dt.datetime(2026, 11, 27, 9, 30, tzinfo=UTC)
    change = next(c for c in plan.changes("us") if c.change_id == CHANGES[0])
    anns = {change.change_id: Announcement.of(change, now - ago, plan.notice_days)}
    found = diff(plan, "us", anns, ["198.51.100.10", "198.51.100.12"], now, [])
    assert found.stale_upcoming == ("add 198.51.100.11 on 2026-12-10",)
    assert found.overdue_upcoming == (found.stale_upcoming if overdue else ())
