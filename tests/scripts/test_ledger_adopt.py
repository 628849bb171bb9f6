"""Adopting an existing platform (issue 8, point 5): ``egress ledger adopt`` records the list a team already
publishes as the ledger's baseline, end to end.

Real parts only: the classic list is served by a real HTTP server on 127.0.0.1, the ledger is a real SQLite
file (and a real PostgreSQL for the ledger's part), notices go to a real Maildir, our document is served by
the real ``egress serve`` server from the ledger, and every date is the real clock's (adopting has no date
option): the plan's history is dated in the past, its new additions 14 days from today.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import hashlib
import json
import mailbox
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import sqlalchemy as sa

from smtp_egress.dates import UTC
from smtp_egress.scripts.cli import main

VENDOR_US = [f"198.51.100.{i}" for i in range(10, 20)]  # the vendor's 10 US addresses
TODAY = dt.datetime.now(UTC).date()
SOON = TODAY + dt.timedelta(days=14)  # the two new addresses start sending then
# The plan carries the list's history: 5 addresses from before tracking began, 5 added on past days, and one
# added and retired in the past (gone from the list); then the vendor's move from 10 to 12, 14 days out.
HISTORY = [("198.51.100.15", "2025-03-01"), ("198.51.100.16", "2025-03-01"), ("198.51.100.17", "2025-09-15")]
HISTORY += [("198.51.100.18", "2025-09-15"), ("198.51.100.19", "2026-01-10")]
PAST_CHANGES = [
    "us/add/198.51.100.9/2024-02-01",
    "us/add/198.51.100.15/2025-03-01",
    "us/add/198.51.100.16/2025-03-01",
    "us/remove/198.51.100.9/2025-06-01",
    "us/add/198.51.100.17/2025-09-15",
    "us/add/198.51.100.18/2025-09-15",
    "us/add/198.51.100.19/2026-01-10",
]
NEW = [f"us/add/198.51.100.20/{SOON}", f"us/add/198.51.100.21/{SOON}"]


def plan_text(extra: str = "") -> str:
    lines = ["notice_days: 7", "regions:", "  us:", "    - ip: 198.51.100.9", "      active_from: 2024-02-01"]
    lines += ["      retire_on: 2025-06-01"]
    lines += [f"    - ip: {ip}" for ip in VENDOR_US[:5]]
    lines += [f"    - ip: {ip}\n      active_from: {day}" for ip, day in HISTORY]
    lines += [f"    - ip: 198.51.100.{n}\n      active_from: {SOON}" for n in (20, 21)]
    return "\n".join(lines) + "\n" + extra + "  eu:\n    - ip: 203.0.113.20\n"


class ListServer(ThreadingHTTPServer):
    """A real HTTP server: ``GET /v1/info/ip_addresses`` answers with ``body`` and ``content_type``."""

    daemon_threads = True
    body = b""
    content_type = "application/json"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1/info/ip_addresses"


class _Handler(BaseHTTPRequestHandler):
    server: ListServer
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", self.server.content_type)
        self.send_header("Content-Length", str(len(self.server.body)))
        self.end_headers()
        self.wfile.write(self.server.body)


@pytest.fixture
def classic() -> Iterator[ListServer]:
    """The vendor's endpoint, serving its 10 US addresses in the classic shape."""
    server = ListServer(("127.0.0.1", 0), _Handler)
    server.body = json.dumps({"ip_addresses": VENDOR_US}).encode()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def ledger_url(request, tmp_path) -> str:
    """A fresh ledger: an SQLite file, or (parametrized indirectly with "postgresql") a real PostgreSQL."""
    if getattr(request, "param", "sqlite") == "postgresql":
        return request.getfixturevalue("pg_url")
    return f"sqlite:///{tmp_path}/ledger.db"


@pytest.fixture
def platform(tmp_path, monkeypatch, ledger_url):
    """A plan with the list's history, three workspaces with an email each, a fresh ledger."""
    monkeypatch.chdir(tmp_path)
    for var in ("EGRESS_SMTP_URL", "EGRESS_DB", "EGRESS_OUTBOX", "EGRESS_WEBHOOK_SECRET", "EGRESS_FROM"):
        monkeypatch.delenv(var, raising=False)
    (tmp_path / "plan.yaml").write_text(plan_text())
    rows = "".join(f"ws-{i},us,ops@customer{i}.example\n" for i in range(3))
    (tmp_path / "ws.csv").write_text("workspace_id,region,email\n" + rows)
    common = ["--plan", str(tmp_path / "plan.yaml"), "--db", ledger_url]
    assert main(["workspaces", "import", str(tmp_path / "ws.csv"), *common]) == 0
    return tmp_path, common


def egress(capsys, *argv: object) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def adopt(capsys, common: list[str], published: str, *extra: str) -> tuple[int, str, str]:
    return egress(capsys, "ledger", "adopt", "--region", "us", "--published", published, *common, *extra)


def rows(db: str) -> dict[str, int]:
    """Rows per ledger table, read with plain SQL."""
    engine = sa.create_engine(db)
    try:
        with engine.connect() as conn:
            names = ("batches", "announcements", "batch_workspaces", "deliveries")
            return {t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar() for t in names}
    finally:
        engine.dispose()


def db_of(common: list[str]) -> str:
    return common[common.index("--db") + 1]


def wait_past(instant: str) -> None:
    """Sleep until the real clock is past ``instant`` (a batch is told at a whole second, rounded up)."""
    moment = dt.datetime.fromisoformat(instant.replace("Z", "+00:00"))
    while dt.datetime.now(UTC) <= moment:
        time.sleep(0.05)


# The scenario --------------------------------------------------------------------------------------


@pytest.mark.parametrize("ledger_url", ["sqlite", "postgresql"], indirect=True)
def test_the_vendor_s_classic_list_adopted_then_its_two_additions_are_one_batch_and_nothing_is_short_notice(
    platform, classic, capsys
):
    from smtp_egress.server import make_server

    tmp, common = platform
    # Before adopting, the daily job cannot start from the classic list, and says what to do.
    code, _, err = egress(capsys, "notify", "--region", "us", "--published", classic.url, "--outbox", "out", *common)
    assert code == 3 and "classic shape" in err and "egress ledger adopt" in err
    assert rows(db_of(common))["announcements"] == 0

    code, out, err = adopt(capsys, common, classic.url, "--json")
    assert code == 0, err
    done = json.loads(out)
    assert (done["shape"], done["recorded"], done["already_tracked"]) == ("classic", True, False)
    assert done["sha256"] == hashlib.sha256(classic.body).hexdigest() and done["published"] == VENDOR_US
    assert done["adopted"] == PAST_CHANGES and done["left_for_notify"] == NEW and done["overdue"] == []
    assert done["source"] == classic.url and done["told_at"].startswith(TODAY.isoformat())
    # One told batch, marked adopted, with no workspace and no delivery: nobody was sent anything.
    assert rows(db_of(common)) == {"batches": 1, "announcements": 7, "batch_workspaces": 0, "deliveries": 0}

    # The platform now serves our document from the ledger (its ip_addresses is the same list), and the
    # daily job reads it: exactly the two additions are announced, as one batch, nothing is short notice.
    server = make_server(_plan(tmp), db_of(common), "127.0.0.1", 0, log=False)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        ours = f"{server.url}/v1/info/ip_addresses?region=us"
        notify = ["notify", "--region", "us", "--published", ours, "--outbox", "out", *common]
        code, out, err = egress(capsys, *notify, "--json")
        again = egress(capsys, *notify)
    finally:
        server.shutdown()
        server.server_close()
    assert code == 0, err
    run = json.loads(out)
    assert [a["change"] for a in run["announced"]] == NEW and len({a["batch"] for a in run["announced"]}) == 1
    assert run["short_notice"] == [] and run["diff"]["missing"] == [] and run["diff"]["unexpected"] == []
    assert run["diff"]["due"] == NEW and run["delivery"]["sent"] == 3 and len(run["told"]) == 1
    assert "short notice" not in (out + err).lower()
    assert again[0] == 0 and "nothing was due" in again[1] and "recorded" not in again[1]  # the rerun
    box = mailbox.Maildir(str(tmp / "out"), factory=None, create=False)
    msgs = [email.message_from_bytes(m.as_bytes(), policy=email.policy.default) for m in box]
    assert sorted(m["To"] for m in msgs) == [f"ops@customer{i}.example" for i in range(3)]  # one each
    assert all(m.get_all("X-Egress-Change") == NEW for m in msgs)
    assert len({m["X-Egress-Batch"] for m in msgs}) == 1

    # The report shows the baseline as such: adopted, in effect as planned, no lead, no flag.
    wait_past(run["told"][0]["at"])
    code, out, err = egress(capsys, "report", "--json", *common)
    assert code == 0, err
    report = json.loads(out)
    (us,) = [r for r in report["regions"] if r["region"] == "us"]
    by_id = {c["change_id"]: c for c in us["changes"]}
    for change_id in PAST_CHANGES:
        c = by_id[change_id]
        assert (c["state"], c["flags"], c["lead_days"], c["delayed"]) == ("adopted", [], None, False), c
        assert c["effective"] == c["planned"] and c["deliveries"]["sent"] == 0
        assert c["adopted"] == {
            "batch_id": done["batch"],
            "source": classic.url,
            "sha256": done["sha256"],
            "at": done["told_at"],
        }
    assert [by_id[i]["state"] for i in NEW] == ["pending", "pending"] and all(not by_id[i]["flags"] for i in NEW)
    assert report["summary"]["flags"] == 0 and us["live"] == VENDOR_US
    md = egress(capsys, "report", *common)[1]
    assert "### Adopted baseline" in md and f"| {done['told_at']} | 7 | `{classic.url}` |" in md
    assert md.count("adopted baseline, ") == 7 and "late notice" not in md

    # Adopting again changes nothing: the ledger already records exactly this list.
    before = rows(db_of(common))
    code, out, err = adopt(capsys, common, classic.url)
    assert code == 0, err
    assert "already records" in out and "nothing recorded" in out and rows(db_of(common)) == before


def _plan(tmp: Path):
    from smtp_egress.plan import load_plan

    return load_plan(tmp / "plan.yaml")


# Refusals: nothing is recorded --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("listed", "named"),
    [
        ([*VENDOR_US, "203.0.113.99"], "203.0.113.99 (not in the plan)"),
        ([*VENDOR_US, "198.51.100.20"], f"198.51.100.20 (planned from {SOON})"),
        ([*VENDOR_US, "203.0.113.20"], "203.0.113.20 (not in the plan)"),  # an EU address on the US host
    ],
)
def test_a_published_address_the_plan_does_not_send_from_today_is_refused_as_drift(
    platform, classic, capsys, listed, named
):
    _tmp, common = platform
    classic.body = json.dumps({"ip_addresses": listed}).encode()
    code, out, err = adopt(capsys, common, classic.url)
    assert code == 5 and named in err and "must not hide an address" in err and "nothing was recorded" in err
    assert out == "" and "Traceback" not in err
    assert rows(db_of(common))["batches"] == 0


def test_a_plan_address_live_today_but_unpublished_is_refused(platform, classic, capsys):
    _tmp, common = platform
    classic.body = json.dumps(
        {"ip_addresses": [ip for ip in VENDOR_US if ip not in ("198.51.100.12", "198.51.100.17")]}
    )
    classic.body = classic.body.encode()
    code, _, err = adopt(capsys, common, classic.url)
    assert code == 5, err
    assert "198.51.100.12, 198.51.100.17" in err and "customers were never told" in err.lower()
    assert rows(db_of(common))["batches"] == 0


BAD_BODIES = [
    (b"<!doctype html><html><body>Sign in</body></html>", "text/html", "HTML page"),
    (b"", "application/json", "empty"),
    (b"   \n", "application/json", "empty"),
    (b'{"ip_addresses": ["198.51.100.10", "198.5', "application/json", "truncated or malformed JSON"),
    (b'{"ip_addresses": []}', "application/json", "empty list"),
    (b'["198.51.100.10"]', "application/json", "JSON array, not an object"),
    (b'{"addresses": ["198.51.100.10"]}', "application/json", "no 'ip_addresses'"),
    (b'{"ip_addresses": "198.51.100.10"}', "application/json", "not a list"),
    (b'{"ip_addresses": [198]}', "application/json", "not a string"),
    (b'{"ip_addresses": ["10.0.0.1"]}', "application/json", "'10.0.0.1'"),
    (b'{"ip_addresses": ["198.51.100.10", "198.51.100.10"]}', "application/json", "duplicates"),
    (b'{"ip_addresses": ["198.51.100.10"], "updated": "today"}', "application/json", "keys besides 'ip_addresses'"),
    (b'{"ip_addresses": ["198.51.100.10"], "ip_addresses": []}', "application/json", "appears twice"),
    (b'{"ip_addresses": ["198.51.100.10"], "region": "us"}', "application/json", "schema violation"),
]


@pytest.mark.parametrize(("body", "ctype", "needle"), BAD_BODIES, ids=[n for _, _, n in BAD_BODIES])
def test_an_unusable_list_exits_3_and_records_nothing(platform, classic, capsys, body, ctype, needle):
    _tmp, common = platform
    classic.body, classic.content_type = body, ctype
    code, out, err = adopt(capsys, common, classic.url)
    assert code == 3 and needle in err and "the document was not used" in err, err
    assert out == "" and "Traceback" not in err
    assert rows(db_of(common))["batches"] == 0


def test_a_document_of_ours_is_adopted_too_and_checked_as_the_daily_job_checks_it(platform, capsys):
    from smtp_egress.dates import start_of
    from smtp_egress.document import render
    from smtp_egress.timeline import Announcement

    tmp, common = platform
    plan = _plan(tmp)
    # Published by an earlier system of ours: the past changes took effect after due notice.
    at = start_of(dt.date(2024, 1, 1))
    anns = {c.change_id: Announcement.of(c, at, 7) for c in plan.changes("us") if c.effective <= TODAY}
    (tmp / "ours.json").write_bytes(render(plan, "us", anns, start_of(TODAY)).json_bytes)
    (tmp / "eu.json").write_bytes(render(plan, "eu", anns, start_of(TODAY)).json_bytes)
    code, _, err = adopt(capsys, common, str(tmp / "eu.json"))
    assert code == 3 and "the document is for region 'eu', expected 'us'" in err
    code, out, err = adopt(capsys, common, str(tmp / "ours.json"), "--json")
    assert code == 0, err
    done = json.loads(out)
    assert (done["shape"], done["adopted"], done["left_for_notify"]) == ("document", PAST_CHANGES, NEW)
    assert done["sha256"] == hashlib.sha256((tmp / "ours.json").read_bytes()).hexdigest()


# A region the ledger already tracks ----------------------------------------------------------------------


@pytest.mark.parametrize("ledger_url", ["sqlite", "postgresql"], indirect=True)
def test_a_tracked_region_is_adopted_again_only_when_the_list_agrees_with_the_ledger(platform, classic, capsys):
    tmp, common = platform
    assert adopt(capsys, common, classic.url)[0] == 0
    before = rows(db_of(common))
    # The list lost an address the ledger says is published: refused as drift, named.
    classic.body = json.dumps({"ip_addresses": VENDOR_US[1:]}).encode()
    code, _, err = adopt(capsys, common, classic.url)
    assert code == 5 and "listed by the ledger, missing from the list: 198.51.100.10" in err
    # The plan gained a past-dated address that the list holds: the ledger tracks the region, so adopting
    # would hide an unannounced change; egress notify must announce it (exit 2, naming it).
    (tmp / "plan.yaml").write_text(plan_text("    - ip: 198.51.100.22\n      active_from: 2026-02-01\n"))
    classic.body = json.dumps({"ip_addresses": [*VENDOR_US, "198.51.100.22"]}).encode()
    code, _, err = adopt(capsys, common, classic.url)
    assert code == 2 and "already tracks region 'us'" in err and "add 198.51.100.22 (2026-02-01)" in err
    assert rows(db_of(common)) == before


def test_a_region_the_daily_job_tracks_agrees_with_its_own_document(tmp_path, capsys, monkeypatch):
    """The daily job recorded a batch from our document; adopting that document records nothing."""
    from smtp_egress.dates import start_of
    from smtp_egress.document import render
    from smtp_egress.plan import load_plan

    monkeypatch.chdir(tmp_path)
    day = lambda n: (TODAY + dt.timedelta(days=n)).isoformat()  # noqa: E731
    (tmp_path / "plan.yaml").write_text(
        "regions:\n  us:\n    - ip: 198.51.100.10\n"
        f"    - ip: 198.51.100.11\n      active_from: {day(10)}\n"
        f"    - ip: 198.51.100.12\n      retire_on: {day(20)}\n"
    )
    (tmp_path / "ws.csv").write_text("workspace_id,region,email\nws-1,us,ops@one.example\n")
    (tmp_path / "us.json").write_bytes(render(load_plan(tmp_path / "plan.yaml"), "us", {}, start_of(TODAY)).json_bytes)
    common = ["--plan", str(tmp_path / "plan.yaml"), "--db", f"sqlite:///{tmp_path}/l.db"]
    assert main(["workspaces", "import", str(tmp_path / "ws.csv"), *common]) == 0
    assert main(["notify", "--region", "us", "--published", "us.json", "--outbox", "out", *common]) == 0
    before = rows(db_of(common))
    assert before["announcements"] == 2
    capsys.readouterr()
    code, out, err = adopt(capsys, common, "us.json", "--json")
    assert code == 0, err
    done = json.loads(out)
    assert (done["recorded"], done["already_tracked"], done["adopted"]) == (False, True, [])
    assert rows(db_of(common)) == before


def test_a_past_removal_still_published_is_left_for_the_daily_job_with_a_warning(platform, classic, capsys):
    tmp, common = platform
    (tmp / "plan.yaml").write_text(plan_text("    - ip: 198.51.100.30\n      retire_on: 2026-06-01\n"))
    classic.body = json.dumps({"ip_addresses": [*VENDOR_US, "198.51.100.30"]}).encode()
    code, out, err = adopt(capsys, common, classic.url, "--json")
    assert code == 0, err
    done = json.loads(out)
    assert done["overdue"] == ["us/remove/198.51.100.30/2026-06-01"] and done["adopted"] == PAST_CHANGES
    assert "warning: the removal of 198.51.100.30 was planned for 2026-06-01, but the list still publishes it" in err
