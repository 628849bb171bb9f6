"""``egress status`` end to end: real ledgers (SQLite and PostgreSQL, simulation ledgers so that runs are dated),
real daily runs (egress notify into a Maildir), the live document served by a real HTTP server on loopback.

The example plan: us 198.51.100.10 live, .11 added 2026-12-10, .12 retired 2026-12-20; 7 days' notice."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from smtp_egress.scripts.cli import main

EXAMPLE_PLAN = Path(__file__).resolve().parents[1] / "data" / "example-plan.yaml"
WORKSPACES = "workspace_id,region,email\nws-1,us,ops@one.example\nws-2,us,admin@two.example\n"


class Region:
    """A project with a simulation ledger at ``db_url`` and the us workspaces."""

    def __init__(self, tmp_path: Path, db_url: str, endpoint, capsys):
        self.dir, self.db, self.endpoint, self.capsys = tmp_path, db_url, endpoint, capsys
        self.plan = tmp_path / "plan.yaml"
        shutil.copy(EXAMPLE_PLAN, self.plan)
        (tmp_path / "ws.csv").write_text(WORKSPACES)
        assert self.cli("ledger", "init", "--simulation") == 0
        assert self.cli("workspaces", "import", str(tmp_path / "ws.csv")) == 0
        self.capsys.readouterr()

    def cli(self, *args: str) -> int:
        return main([*args, "--plan", str(self.plan), "--db", self.db])

    def publish(self, day: str) -> Path:
        path = self.dir / f"published-{day}.json"
        assert self.cli("publish", "--region", "us", "--at", day, "--out", str(path)) == 0
        return path

    def daily(self, day: str) -> None:
        """The daily job of ``day``: notify (it records its heartbeat), then publish."""
        code = self.cli(
            "notify", "--region", "us", "--published", str(self.publish(day)), "--at", day, "--outbox", str(self.dir)
        )
        assert code == 0, self.capsys.readouterr()
        self.publish(day)

    def serve(self, body: bytes, status: int = 200, content_type: str = "application/json") -> str:
        server = self.endpoint(status, body, content_type)
        return f"{server.base}/v1/info/ip_addresses"

    def status(self, day: str, published: str | None = None) -> tuple[int, dict, str]:
        live = published or self.serve(self.publish(day).read_bytes())
        self.capsys.readouterr()
        code = self.cli("status", "--region", "us", "--at", day, "--published", live, "--json")
        out, err = self.capsys.readouterr()
        return code, json.loads(out), err


@pytest.fixture
def region(tmp_path, db_url, endpoint, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for var in ("EGRESS_SMTP_URL", "EGRESS_DB", "EGRESS_OUTBOX", "EGRESS_HEARTBEAT_NAMESPACE"):
        monkeypatch.delenv(var, raising=False)
    return Region(tmp_path, db_url, endpoint, capsys)


def test_all_is_well_after_the_daily_run_and_its_publication(region):
    region.daily("2026-12-03")
    code, doc, _ = region.status("2026-12-03")
    assert code == 0 and doc["problems"] == [] and doc["exit_code"] == 0, doc["problems"]
    assert doc["last_run"]["finished_at"] == "2026-12-03T00:00:00Z" and doc["last_run"]["hours_ago"] == 0
    assert (
        doc["published"]["matches"] is True and doc["published"]["live_sha256"] == doc["published"]["expected_sha256"]
    )
    assert [(c["change"], c["status"], c["notices"]) for c in doc["changes"]] == [
        ("us/add/198.51.100.11/2026-12-10", "upcoming", {"delivered": 2, "pending": 0, "failed": 0, "waived": 0})
    ]  # within 7 days of 2026-12-03; the removal on 2026-12-20 is not yet
    assert doc["undelivered"] == []
    assert doc["gateways"] == {
        "attached": ["198.51.100.10", "198.51.100.12"],
        "attach_today": [],
        "detach_today": [],
        "attached_not_published": [],
        "guard": [],
        "deployed": "unknown",
        "deployed_attached": None,
        "stack": None,
    }


def test_silence_for_more_than_26_hours_is_exit_6(region):
    region.daily("2026-12-03")
    code, doc, _ = region.status("2026-12-05")
    assert code == 6 and doc["last_run"]["hours_ago"] == 48
    (problem,) = doc["problems"]
    assert problem.startswith("us: the daily job last succeeded 2 days ago (2026-12-03T00:00:00Z): over 26 hours")


def test_a_region_whose_job_never_succeeded_and_a_change_too_close_to_announce(region):
    code, doc, _ = region.status("2026-12-05")  # nothing ever ran: .11 on 2026-12-10 is 5 days away
    assert code == 6  # the most urgent: 6 (silence), then 4
    assert doc["last_run"] is None
    assert [c["status"] for c in doc["changes"]] == ["short"]
    problems = doc["problems"]
    assert "no successful daily run is recorded in the ledger" in problems[0]
    assert any(
        "the addition of 198.51.100.11 planned for 2026-12-10 is not announced and it is too late" in p
        for p in problems
    )
    assert any("takes effect on 2026-12-12 at the earliest" in p for p in problems)


def test_a_live_document_that_is_not_what_must_be_published_is_drift(region):
    region.daily("2026-11-26")  # announces both changes
    region.daily("2026-12-03")
    stale = region.publish("2026-11-20").read_bytes()  # before the announcements: no 'upcoming'
    code, doc, _ = region.status("2026-12-03", published=region.serve(stale))
    assert code == 5 and doc["published"]["matches"] is False
    assert doc["published"]["upcoming_missing"] == ["198.51.100.11 add 2026-12-10", "198.51.100.12 remove 2026-12-20"]
    (problem,) = doc["problems"]
    assert "is not what the plan and the ledger say must be published now" in problem
    assert "its 'upcoming' lacks announced change(s) 198.51.100.11 add 2026-12-10" in problem


def test_announcements_of_the_last_day_not_yet_published_are_a_note(region):
    before = region.publish("2026-12-03").read_bytes()  # published before today's run announced anything
    region.daily("2026-12-03")
    code, doc, _ = region.status("2026-12-03", published=region.serve(before))
    assert code == 0 and doc["problems"] == []
    assert doc["published"]["matches"] is False
    assert doc["notes"][0].startswith("the live document does not list yet the announcement(s) of the last day")


def test_an_unusable_live_document_is_exit_3(region):
    region.daily("2026-12-03")
    code, doc, _ = region.status("2026-12-03", published=region.serve(b"<html>502</html>", 200, "text/html"))
    assert code == 3 and doc["published"]["unusable"] and doc["published"]["live_sha256"] is None
    assert "the live document at http://127.0.0.1:" in doc["problems"][0]


def test_on_the_day_of_an_addition_the_gateways_change_and_the_live_list_must_cover_it(region):
    region.daily("2026-11-26")
    region.daily("2026-12-10")
    code, doc, _ = region.status("2026-12-10")
    assert code == 0, doc["problems"]
    assert doc["gateways"]["attach_today"] == ["198.51.100.11"]
    assert any("the gateways change today (attach 198.51.100.11)" in n and "unknown" in n for n in doc["notes"])
    yesterday = region.publish("2026-12-09").read_bytes()  # the publication did not run today
    code, doc, _ = region.status("2026-12-10", published=region.serve(yesterday))
    assert code == 5 and doc["gateways"]["attached_not_published"] == ["198.51.100.11"]
    assert any("mail would leave from an address customers do not list" in p for p in doc["problems"])


def test_notices_not_delivered_hold_the_change_and_are_exit_6(region):
    import datetime as dt

    from smtp_egress.dates import start_of
    from smtp_egress.ledger import Heartbeat, Ledger
    from smtp_egress.plan import Change, load_plan

    plan = load_plan(region.plan)
    ledger = Ledger(region.db)
    try:  # a run killed after recording its batch, before any delivery; an earlier run's heartbeat
        change = Change(dt.date(2026, 12, 10), "us", "add", "198.51.100.11")
        at = start_of(dt.date(2026, 11, 20))
        ledger.record("us", [(change, None)], at, plan.notice_days, plan.sha256, ledger.workspaces("us"))
        ledger.record_heartbeat(Heartbeat("us", "notify", at, at))
    finally:
        ledger.close()
    code, doc, _ = region.status("2026-11-21")
    assert code == 6 and [(u["pending"], u["failed"]) for u in doc["undelivered"]] == [(2, 0)]
    (problem,) = doc["problems"]
    assert (
        problem.startswith("us: batch us/2026-11-20T00:00:00Z/")
        and "2 workspaces not told (2 pending, 0 failed)" in problem
    )
    assert doc["changes"] == []  # 19 days away: not within notice_days yet
    code, doc, _ = region.status("2026-12-04")  # within 7 days: the change is held back
    assert (
        code == 6 and [c["status"] for c in doc["changes"]] == ["held"] and len(doc["problems"]) == 2
    )  # silence, held
    assert any(
        "198.51.100.11 planned for 2026-12-10 is held" in p and "0 told, 2 pending" in p for p in doc["problems"]
    )


def test_without_published_the_stack_files_placeholder_url_is_refused(region, capsys):
    code = region.cli("status", "--region", "us", "--at", "2026-12-03")
    err = capsys.readouterr().err
    assert code == 2 and "no --published, and smtp-egress:publishedUrl in " in err
    assert "an example placeholder; nothing was fetched" in err and "Traceback" not in err


# --- The deployed stack (--stack): its outputs read through the Pulumi CLI (the stand-in: see tests/conftest.py) ---


def deployed(state: Path, attached: dict[str, bool]) -> None:
    """What ``pulumi stack output --json`` answers: the stack's egress_addresses, attached or not."""
    outputs = {"egress_addresses": {ip: {"state": "live", "attached": on} for ip, on in attached.items()}}
    (state / "outputs.json").write_text(json.dumps(outputs))


def stack_status(region: Region, project: Path, day: str) -> tuple[int, dict]:
    live = region.serve(region.publish(day).read_bytes())
    region.capsys.readouterr()
    code = region.cli(
        "status", "--region", "us", "--at", day, "--published", live, "--stack", "us", "--project-dir", str(project),
        "--json",
    )  # fmt: skip
    out, _ = region.capsys.readouterr()
    return code, json.loads(out)


def test_deployed_gateways_in_step_with_the_timeline(region, standin):
    state, project, calls = standin
    region.daily("2026-11-26")
    region.daily("2026-12-03")
    deployed(state, {"198.51.100.10": True, "198.51.100.11": False, "198.51.100.12": True})
    code, doc = stack_status(region, project, "2026-12-03")
    assert code == 0, doc["problems"]
    assert doc["gateways"]["deployed"] == "in step" and doc["gateways"]["stack"] == "us"
    assert doc["gateways"]["deployed_attached"] == ["198.51.100.10", "198.51.100.12"]
    assert any([a for a in c["args"] if a != "--non-interactive"][:2] == ["stack", "output"] for c in calls())


def test_an_attach_not_made_a_day_later_is_drift(region, standin):
    state, project, _ = standin
    region.daily("2026-11-26")
    region.daily("2026-12-11")
    deployed(state, {"198.51.100.10": True, "198.51.100.11": False, "198.51.100.12": True})  # the deploy never ran
    code, doc = stack_status(region, project, "2026-12-11")
    assert code == 5 and doc["gateways"]["deployed"] == "out of step"
    assert any("out of step with the timeline (attach 198.51.100.11 pending)" in p for p in doc["problems"])


def test_todays_moves_before_todays_run_are_a_note(region, standin):
    state, project, _ = standin
    region.daily("2026-11-26")
    region.daily("2026-12-09")
    deployed(state, {"198.51.100.10": True, "198.51.100.11": False, "198.51.100.12": True})
    _, doc = stack_status(region, project, "2026-12-10")  # today's run has not happened yet
    assert not any("out of step" in p for p in doc["problems"]), doc["problems"]
    assert any("the gateways change today (attach 198.51.100.11)" in n for n in doc["notes"])


def test_a_retired_address_still_attached_is_drift_and_must_stay_listed(region, standin):
    state, project, _ = standin
    region.daily("2026-11-26")
    region.daily("2026-12-21")
    deployed(state, {"198.51.100.10": True, "198.51.100.11": True, "198.51.100.12": True})  # .12 retired 12-20
    code, doc = stack_status(region, project, "2026-12-21")
    assert code == 5
    assert any("detach 198.51.100.12 pending" in p for p in doc["problems"])
    assert doc["gateways"]["attached_not_published"] == ["198.51.100.12"]  # it sends, and customers dropped it


def test_project_dir_without_stack_is_refused(region, capsys):
    code = region.cli("status", "--region", "us", "--at", "2026-12-03", "--project-dir", ".", "--published", "x.json")
    assert code == 2 and "--project-dir does not apply" in capsys.readouterr().err
