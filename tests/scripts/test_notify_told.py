"""Announced means delivered (issue 8, point 1) and one notice per workspace per batch (point 4), end to end.

Each test reproduces a scenario of the issue with the real command line, real files, a real Maildir, a real
SMTP server with TLS and a real webhook receiver: a broken channel setting records nothing, a notice that
does not arrive holds its change back (not published, the deploy guard refuses it) until it arrives or a
human decides, and a batch is one notice per workspace, whatever the number of its changes.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import importlib.util
import json
import mailbox
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from smtp_egress.ledger import Ledger
from smtp_egress.scripts.cli import main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
_spec = importlib.util.spec_from_file_location("notice_fixtures", ROOT / "tests" / "egress" / "conftest.py")
notice_fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(notice_fixtures)  # its recording HTTP receiver, for the webhooks


def egress(capsys, *argv: str) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def fresh(tmp_path, monkeypatch):
    """A fresh ledger with the bundled example workspaces and plan, run from the test's folder."""
    monkeypatch.chdir(tmp_path)
    for var in ("EGRESS_SMTP_URL", "EGRESS_DB", "EGRESS_OUTBOX", "EGRESS_WEBHOOK_SECRET", "EGRESS_FROM"):
        monkeypatch.delenv(var, raising=False)
    db = f"sqlite:///{tmp_path}/ledger.db"
    common = ["--plan", str(ROOT / "stacks" / "egress-ips.yaml"), "--db", db]
    assert main(["ledger", "init", "--simulation", "--db", db]) == 0  # the runs below are dated
    assert main(["workspaces", "import", str(EXAMPLES / "workspaces.csv"), *common]) == 0
    return tmp_path, db, common


def nothing_recorded(db: str) -> bool:
    """No announcement and no delivery in the ledger (read with plain SQL, whatever the code's API)."""
    engine = sa.create_engine(db)
    try:
        with engine.connect() as conn:
            return all(
                conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar() == 0
                for t in ("announcements", "deliveries")
            )
    finally:
        engine.dispose()


def recorded(db: str) -> tuple[dict, list]:
    ledger = Ledger(db)
    try:
        return ledger.recorded(), ledger.unsent()
    finally:
        ledger.close()


def notify(common: list[str], day: str, *extra: str, published: str | Path = EXAMPLES / "published-us.json"):
    return ["notify", "--region", "us", "--published", published, "--today", day, *common, *extra]


# Preflight: nothing is recorded when a channel cannot work -----------------------------------------------


def test_the_issue_scenario_a_bad_smtp_url_records_nothing_publishes_nothing_and_the_guard_refuses(
    fresh, capsys, monkeypatch
):
    tmp, db, common = fresh
    code, _, err = egress(capsys, *notify(common, "2026-11-26", "--smtp-url", "http://x"))
    assert code == 2 and nothing_recorded(db)  # no announcement, no delivery
    assert "SMTP URL 'http://x' is invalid" in err and "nothing was recorded or sent" in err

    code, out, _ = egress(capsys, "publish", "--region", "us", "--at", "2026-11-27", *common)
    assert code == 0 and json.loads(out)["upcoming"] == []
    published = tmp / "published-2026-12-10.json"
    assert egress(capsys, "publish", "--region", "us", "--at", "2026-12-10", "--out", published, *common)[0] == 0

    monkeypatch.chdir(ROOT)  # synth reads stacks/Pulumi.us.yaml
    plan = ["--plan", str(ROOT / "stacks" / "egress-ips.yaml")]
    for source in (["--published", str(published)], []):  # what was published; the ledger itself
        monkeypatch.setenv("EGRESS_DB", db)
        code, _, err = egress(capsys, "synth", "--stack", "us", "--today", "2026-12-10", *plan, *source)
        assert code == 2 and "the deploy guard refused" in err and "198.51.100.11" in err, err
        assert "never announced" in err


@pytest.mark.parametrize(
    "flag, value, needle",
    [
        ("--from", "not an address", "--from 'not an address' is not an address"),
        ("--smtp-cafile", "/nonexistent/ca.pem", "--smtp-cafile '/nonexistent/ca.pem' is not a readable PEM"),
        ("--outbox", "a-file", "the Maildir outbox (--outbox) 'a-file' cannot take notices"),
        ("--smtp-url", "smtp://", "SMTP URL 'smtp://' is invalid: it names no host"),
    ],
)
def test_a_setting_that_cannot_work_is_exit_2_before_anything_is_recorded(fresh, capsys, flag, value, needle):
    tmp, db, common = fresh
    (tmp / "a-file").write_text("not a directory")
    code, _, err = egress(capsys, *notify(common, "2026-11-26", flag, value))
    assert code == 2 and nothing_recorded(db)
    assert needle in err and "nothing was recorded or sent" in err and "Traceback" not in err


def test_refused_credentials_are_exit_6_before_anything_is_recorded(fresh, capsys, smtp_server, cafile):
    _, db, common = fresh
    server = smtp_server("starttls")
    url = server.url("smtp", user=server.user, password="wrong")
    code, out, err = egress(capsys, *notify(common, "2026-11-26", "--smtp-url", url, "--smtp-cafile", cafile))
    assert code == 6 and nothing_recorded(db)
    assert "rejected the credentials" in err and "nothing was recorded or sent" in err
    assert "wrong" not in out + err  # a password is never shown
    assert server.handler.auth_attempts and server.handler.messages == []


def test_the_checks_run_when_nothing_is_due_so_a_broken_job_fails_the_day_it_breaks(fresh, capsys):
    tmp, _db, common = fresh
    assert egress(capsys, *notify(common, "2026-11-26", "--outbox", "outbox"))[0] == 0
    published = tmp / "published-2026-11-27.json"  # the publication picked the announcements up
    assert egress(capsys, "publish", "--region", "us", "--at", "2026-11-27", "--out", published, *common)[0] == 0
    assert egress(capsys, *notify(common, "2026-11-27", "--outbox", "outbox", published=published))[0] == 0
    code, _, err = egress(capsys, *notify(common, "2026-11-28", "--from", "ip-notices"))
    assert code == 2 and "'ip-notices' is not an address" in err


# Told means delivered ---------------------------------------------------------------------------------


def publish_json(capsys, common: list[str], day: str) -> dict:
    code, out, err = egress(capsys, "publish", "--region", "us", "--at", day, *common)
    assert code == 0, err
    return json.loads(out)


def test_a_notice_that_does_not_arrive_holds_its_changes_back_until_a_human_decides(fresh, capsys, smtp_server, cafile):
    """One workspace's address keeps failing: the batch is held (not published, not announced again), the job
    exits 6 and says so on every run once the change is close, the report flags it with the counts; a
    recorded decision lets the batch count as told from that moment."""
    tmp, db, common = fresh
    server = smtp_server("starttls")
    (tmp / "bad.csv").write_text("workspace_id,region,email\nws-1002,us,reject550@customer-two.example\n")
    assert main(["workspaces", "import", str(tmp / "bad.csv"), *common]) == 0
    smtp = ["--smtp-url", server.url("smtp", user=server.user, password=server.password), "--smtp-cafile", cafile]

    code, out, err = egress(capsys, *notify(common, "2026-11-26", *smtp))
    assert code == 6 and "reject550@customer-two.example" in err
    doc = publish_json(capsys, common, "2026-11-27")  # not announced: not upcoming
    assert doc["upcoming"] == [] and doc["ip_addresses"] == ["198.51.100.10", "198.51.100.12"]
    records, unsent = recorded(db)
    assert sorted(records) == ["us/add/198.51.100.11/2026-12-10", "us/remove/198.51.100.12/2026-12-20"]
    assert all(r.held for r in records.values()) and [d.workspace_id for d in unsent] == ["ws-1002"]
    assert len(server.handler.messages) == 2  # the two other workspaces, one notice each

    # Every run retries, records nothing again, and once a change is within notice_days says what to do.
    for day in ("2026-12-03", "2026-12-04"):
        published = tmp / f"published-{day}.json"
        assert egress(capsys, "publish", "--region", "us", "--at", day, "--out", published, *common)[0] == 0
        code, out, err = egress(capsys, *notify(common, day, *smtp, published=published))
        assert code == 6 and "recorded" not in out
        assert "addition of 198.51.100.11 planned for 2026-12-10" in err and "so it is held" in err
        assert "reached 2 of 3 workspaces (0 pending, 1 failed, 0 accepted undelivered)" in err
        assert "Not told: ws-1002" in err and "--accept-undelivered WORKSPACE --reason TEXT" in err
    assert len(recorded(db)[0]) == 2
    code, out, _ = egress(capsys, "report", "--json", "--at", "2026-12-04", *common)
    (held,) = [c for r in json.loads(out)["regions"] for c in r["changes"] if c["ip"] == "198.51.100.11"]
    assert (held["state"], held["announced_at"], held["effective"]) == ("held", None, None)
    assert held["notices"] == {"delivered": 2, "pending": 0, "failed": 1, "waived": 0}
    assert "notices_undelivered" in held["flags"]

    code, out, err = egress(
        capsys,
        "notify",
        "--region",
        "us",
        "--accept-undelivered",
        "ws-1002",
        "--reason",
        "customer-two closed its account (INC-9)",
        "--by",
        "alice",
        "--today",
        "2026-12-04",
        *common,
    )
    assert code == 0, err
    assert "count as told without workspace ws-1002" in out and "its changes count as announced at" in out
    records, unsent = recorded(db)
    assert unsent == [] and {r.told_at for r in records.values()} == {dt.datetime(2026, 12, 4, tzinfo=dt.UTC)}
    doc = publish_json(capsys, common, "2026-12-05")
    assert [(u["ip"], u["effective"], u["announced_at"]) for u in doc["upcoming"]] == [
        ("198.51.100.11", "2026-12-11", "2026-12-04T00:00:00Z"),  # told 6 days ahead: it waits (make before break)
        ("198.51.100.12", "2026-12-20", "2026-12-04T00:00:00Z"),
    ]
    code, out, _ = egress(capsys, "report", "--json", "--at", "2026-12-05", *common)
    (added,) = [c for r in json.loads(out)["regions"] for c in r["changes"] if c["ip"] == "198.51.100.11"]
    assert added["notices"] == {"delivered": 2, "pending": 0, "failed": 0, "waived": 1}
    assert added["waivers"] == [
        {
            "workspace_id": "ws-1002",
            "at": "2026-12-04T00:00:00Z",
            "by": "alice",
            "reason": "customer-two closed its account (INC-9)",
        }
    ]
    assert added["flags"] == ["late_notice", "delivery_failed"] and added["recorded_at"] == "2026-11-26T00:00:00Z"
    published = tmp / "published-2026-12-05.json"
    assert egress(capsys, "publish", "--region", "us", "--at", "2026-12-05", "--out", published, *common)[0] == 0
    assert egress(capsys, *notify(common, "2026-12-05", *smtp, published=published))[0] == 0  # decided: not 6
    code, _, err = egress(
        capsys,
        "notify",
        "--region",
        "us",
        "--accept-undelivered",
        "ws-1002",
        "--reason",
        "again",
        "--at",
        "2026-12-05",
        *common,
    )
    assert code == 2 and "has no undelivered notice in region 'us'" in err


def test_a_late_delivery_starts_the_notice_then_and_the_change_waits_for_it(fresh, capsys, smtp_server, cafile):
    """Recorded 8 days ahead, but one workspace's server deferred until the 4th: announced on the 4th, so
    the addition takes effect a notice period later, not on its planned day."""
    tmp, _db, common = fresh
    server = smtp_server("starttls")
    (tmp / "slow.csv").write_text("workspace_id,region,email\nws-1002,us,defer451@customer-two.example\n")
    assert main(["workspaces", "import", str(tmp / "slow.csv"), *common]) == 0
    smtp = ["--smtp-url", server.url("smtp", user=server.user, password=server.password), "--smtp-cafile", cafile]
    published = tmp / "published-2026-12-02.json"
    assert egress(capsys, "publish", "--region", "us", "--at", "2026-12-02", "--out", published, *common)[0] == 0
    assert egress(capsys, *notify(common, "2026-12-02", *smtp, published=published))[0] == 6
    assert publish_json(capsys, common, "2026-12-03")["upcoming"] == []
    (tmp / "fixed.csv").write_text("workspace_id,region,email\nws-1002,us,postmaster@customer-two.example\n")
    assert main(["workspaces", "import", str(tmp / "fixed.csv"), *common]) == 0
    published = tmp / "published-2026-12-04.json"
    assert egress(capsys, "publish", "--region", "us", "--at", "2026-12-04", "--out", published, *common)[0] == 0
    code, out, err = egress(capsys, *notify(common, "2026-12-04", *smtp, published=published))
    assert code == 0, err
    # a simulation ledger records the run's own moment (a real run: the second it was told, rounded up)
    assert "its changes count as announced at 2026-12-04T00:00:00Z" in out
    upcoming = publish_json(capsys, common, "2026-12-05")["upcoming"]
    assert [(u["ip"], u["effective"]) for u in upcoming] == [
        ("198.51.100.11", "2026-12-11"),
        ("198.51.100.12", "2026-12-20"),
    ]
    late = [m for m in server.handler.messages if m.rcpt_tos == ["postmaster@customer-two.example"]]
    assert len(late) == 1 and b"2026-12-11" in late[0].content  # the notice says the day it will take effect


# One notice per workspace per batch ----------------------------------------------------------------------

VENDOR_US = [f"198.51.100.{i}" for i in range(10, 20)]  # the vendor's 10 US addresses
VENDOR_PLAN = (
    "regions:\n  us:\n"
    + "".join(f"    - ip: {ip}\n" for ip in VENDOR_US)
    + "    - ip: 198.51.100.20\n      active_from: 2026-12-10\n"
    + "    - ip: 198.51.100.21\n      active_from: 2026-12-10\n"
)
ROTATION_PLAN = (
    "regions:\n  us:\n"
    + "".join(f"    - ip: {ip}\n      retire_on: 2026-12-20\n" for ip in VENDOR_US)
    + "".join(f"    - ip: 198.51.100.{30 + i}\n      active_from: 2026-12-10\n" for i in range(10))
)


@pytest.fixture
def receiver():
    server = notice_fixtures.Receiver(())
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def channels(tmp_path, monkeypatch, receiver):
    """A plan, three workspaces on email (the Maildir) with a signed webhook each, and the document before."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("EGRESS_WEBHOOK_SECRET", "whsec-0123456789")
    monkeypatch.setenv("EGRESS_WEBHOOK_ALLOW_PRIVATE", "1")

    def setup(plan: str) -> list[str]:
        (tmp_path / "plan.yaml").write_text(plan)
        rows = "".join(f"ws-{i},us,ops@customer{i}.example,{receiver.url}/{i}\n" for i in range(3))
        (tmp_path / "ws.csv").write_text("workspace_id,region,email,webhook_url\n" + rows)
        common = ["--plan", "plan.yaml", "--db", f"sqlite:///{tmp_path}/l.db"]
        assert main(["ledger", "init", "--simulation", "--db", f"sqlite:///{tmp_path}/l.db"]) == 0
        assert main(["workspaces", "import", "ws.csv", *common]) == 0
        assert main(["publish", "--region", "us", "--at", "2026-11-26", "--out", "published.json", *common]) == 0
        return [
            "notify",
            "--region",
            "us",
            "--published",
            "published.json",
            "--today",
            "2026-11-26",
            "--outbox",
            "out",
            *common,
        ]

    return setup, receiver, tmp_path


def notices(tmp_path: Path) -> list[email.message.EmailMessage]:
    box = mailbox.Maildir(str(tmp_path / "out"), factory=None, create=False)
    return [email.message_from_bytes(m.as_bytes(), policy=email.policy.default) for m in box]


def test_the_vendor_s_two_additions_on_one_day_are_one_email_and_one_webhook_event_per_workspace(channels, capsys):
    setup, receiver, tmp = channels
    assert main(setup(VENDOR_PLAN)) == 0
    msgs = notices(tmp)
    assert sorted(m["To"] for m in msgs) == [f"ops@customer{i}.example" for i in range(3)]  # one each, not two
    for m in msgs:
        assert m.get_all("X-Egress-Change") == ["us/add/198.51.100.20/2026-12-10", "us/add/198.51.100.21/2026-12-10"]
        assert (
            m["Subject"] == "[SIMULATION] Action needed by 2026-12-10: allow 2 new addresses (custom SMTP, region us)"
        )
        text = m.get_body(("plain",)).get_content()
        assert "198.51.100.20" in text and "198.51.100.21" in text and "all of them stay in use" in text
        (ics,) = [p for p in m.walk() if p.get_content_type() == "text/calendar"]
        assert ics.get_content().count("BEGIN:VEVENT") == 1
    events = [json.loads(r["body"]) for r in receiver.requests]
    assert sorted(e["workspace_id"] for e in events) == ["ws-0", "ws-1", "ws-2"]
    assert {e["type"] for e in events} == {"ip_change_batch"} and len({e["batch_id"] for e in events}) == 1
    assert all([c["ip"] for c in e["changes"]] == ["198.51.100.20", "198.51.100.21"] for e in events)
    assert len({r["headers"]["Idempotency-Key"] for r in receiver.requests}) == 3


def test_a_rotation_of_10_addresses_is_one_notice_per_workspace_not_20(channels, capsys):
    setup, receiver, tmp = channels
    args = setup(ROTATION_PLAN)
    capsys.readouterr()
    code, out, _ = egress(capsys, *args, "--json")
    summary = json.loads(out)
    assert code == 0 and len(summary["announced"]) == 20 and len({a["batch"] for a in summary["announced"]}) == 1
    assert summary["delivery"]["sent"] == 6  # 3 workspaces x (email + webhook)
    msgs = notices(tmp)
    assert len(msgs) == 3
    for m in msgs:
        assert len(m.get_all("X-Egress-Change")) == 20
        text = m.get_body(("plain",)).get_content()
        assert "all of them stay in use" not in text  # ten addresses retire in the same notice
        assert all(f"198.51.100.{30 + i}" in text for i in range(10)) and all(ip in text for ip in VENDOR_US)
        (ics,) = [p for p in m.walk() if p.get_content_type() == "text/calendar"]
        assert ics.get_content().count("BEGIN:VEVENT") == 2  # one per effective day
    events = [json.loads(r["body"]) for r in receiver.requests]
    assert len(events) == 3 and all(len(e["changes"]) == 20 for e in events)
    assert egress(capsys, *args)[0] == 0 and len(notices(tmp)) == 3 and len(receiver.requests) == 3  # exactly once
