"""Values that validation accepts must not crash a later step: the widest plan dates and notice period go
through the daily job (every notice, its calendar file), publish, the report and the allowlists, run after run;
a --reason is checked at the edge, and the one that holds the notice's MIME boundary still makes a sound notice."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import hashlib
import mailbox
import shutil
from pathlib import Path

import pytest

from smtp_egress.batches import new_batch_id
from smtp_egress.dates import start_of
from smtp_egress.document import render
from smtp_egress.ledger import Ledger
from smtp_egress.limits import LAST_DAY, MAX_REASON
from smtp_egress.plan import load_plan
from smtp_egress.scripts.cli import main

EXAMPLE_PLAN = Path(__file__).resolve().parents[1] / "data" / "example-plan.yaml"
WORKSPACES = "workspace_id,region,email\nws-1,us,ops@one.example\nws-2,us,admin@two.example\n"
WIDEST = f"""\
notice_days: 365
regions:
  us:
    - ip: 198.51.100.10
    - ip: 198.51.100.11
      retire_on: {LAST_DAY.isoformat()}
    - ip: 198.51.100.12
      active_from: 2028-01-10
"""
BOTH = ["us/add/198.51.100.11/2026-12-10", "us/remove/198.51.100.12/2026-12-20"]


class Env:
    def __init__(self, tmp_path: Path, plan_text: str | None = None):
        self.dir = tmp_path
        self.plan = tmp_path / "plan.yaml"
        if plan_text is None:
            shutil.copy(EXAMPLE_PLAN, self.plan)
        else:
            self.plan.write_text(plan_text)
        self.db = f"sqlite:///{tmp_path}/ledger.db"
        self.outbox = tmp_path / "outbox"
        (tmp_path / "ws.csv").write_text(WORKSPACES)
        assert self.cli("ledger", "init", "--simulation") == 0
        assert self.cli("workspaces", "import", str(tmp_path / "ws.csv")) == 0

    def cli(self, *args: str) -> int:
        return main([*args, "--plan", str(self.plan), "--db", self.db])

    def published(self, day: str) -> str:
        ledger = Ledger(self.db)
        try:
            doc = render(load_plan(self.plan), "us", ledger.announcements(), start_of(dt.date.fromisoformat(day)))
        finally:
            ledger.close()
        path = self.dir / f"published-{day}.json"
        path.write_bytes(doc.json_bytes)
        return str(path)

    def notify(self, day: str, *extra: str) -> int:
        return self.cli(
            "notify", "--region", "us", "--published", self.published(day), "--today", day,
            "--outbox", str(self.outbox), "--base-url", "https://ips.example.com", *extra,
        )  # fmt: skip

    def messages(self) -> list[email.message.EmailMessage]:
        if not self.outbox.exists():
            return []
        return [
            email.message_from_bytes(m.as_bytes(), policy=email.policy.default)  # type: ignore[misc]
            for m in mailbox.Maildir(str(self.outbox), create=False)
        ]

    def announced(self) -> dict:
        ledger = Ledger(self.db)
        try:
            return ledger.announcements()
        finally:
            ledger.close()


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    for var in ("EGRESS_SMTP_URL", "EGRESS_DB", "EGRESS_OUTBOX", "EGRESS_WEBHOOK_SECRET", "EGRESS_FROM"):
        monkeypatch.delenv(var, raising=False)


def parts(msg: email.message.EmailMessage) -> dict[str, str]:
    return {p.get_content_type(): p.get_content() for p in msg.walk() if not p.is_multipart()}


def test_the_widest_accepted_dates_and_notice_period_go_through_every_step_every_day(tmp_path, clean_env, capsys):
    env = Env(tmp_path, WIDEST)
    assert env.notify("2026-11-26") == 0, capsys.readouterr()
    msgs = env.messages()
    assert sorted(m["To"] for m in msgs) == ["admin@two.example", "ops@one.example"]
    for m in msgs:  # one notice for both changes: the far one did not block the near one
        assert m.get_all("X-Egress-Change") == [
            "us/add/198.51.100.12/2028-01-10",
            f"us/remove/198.51.100.11/{LAST_DAY.isoformat()}",
        ]
        calendar = parts(m)["text/calendar"]
        assert "DTSTART;VALUE=DATE:29991231" in calendar and "DTEND;VALUE=DATE:30000101" in calendar
    assert set(env.announced()) == {"us/add/198.51.100.12/2028-01-10", f"us/remove/198.51.100.11/{LAST_DAY}"}
    for day in ("2026-11-27", "2027-06-01", "2028-01-10"):
        assert env.notify(day) == 0, capsys.readouterr()
    out = tmp_path / "site"
    assert env.cli("publish", "--static-dir", str(out), "--at", "2028-01-10", "--base-url", "https://ips.example") == 0
    for fmt in ("md", "html", "json"):
        assert env.cli("report", "--format", fmt, "--out", str(tmp_path / f"report.{fmt}")) == 0
    assert env.cli("allowlist", "--region", "us", "--format", "nftables") == 0
    assert "Traceback" not in capsys.readouterr().err


def test_a_reason_holding_the_notices_own_mime_boundary_still_makes_a_sound_notice(tmp_path, clean_env, capsys):
    env = Env(tmp_path)
    token = hashlib.sha256(new_batch_id("us", start_of(dt.date(2026, 12, 5)), BOTH).encode()).hexdigest()[:24]
    reason = f"upstream withdrew the range --=_mixed_{token} --=_alt_{token}--"
    assert env.notify("2026-12-05", "--allow-short-notice", "--reason", reason) == 0, capsys.readouterr()
    msgs = env.messages()
    assert len(msgs) == 2
    for m in msgs:
        found = parts(m)
        assert set(found) == {"text/plain", "text/html", "text/calendar"}
        for kind in found:  # the text is wrapped, the calendar folded: compare without white space
            assert f"--=_mixed_{token}--=_alt_{token}--" in "".join(found[kind].split()).replace("\\", "")
    assert env.announced()[BOTH[0]].exception_reason == reason


@pytest.mark.parametrize(
    "reason, said",
    [
        ("range withdrawn\r\nBcc: everyone@example.com", "control character '\\r'"),
        ("range withdrawn\nsee INC-9", "control character '\\n'"),
        ("range \x1b[31mwithdrawn", "control character '\\x1b'"),
        ("range\u202ewithdrawn", "control character '\\u202e'"),
        ("x" * (MAX_REASON + 1), f"more than {MAX_REASON}"),
    ],
    ids=["CRLF", "LF", "escape", "bidi", "huge"],
)
def test_a_reason_that_could_break_a_notice_or_a_report_is_refused_before_anything_is_recorded(
    reason, said, tmp_path, clean_env, capsys
):
    env = Env(tmp_path)
    capsys.readouterr()
    code = env.notify("2026-12-05", "--allow-short-notice", "--reason", reason)
    err = capsys.readouterr().err
    assert code == 2 and said in err and "nothing was recorded" in err and len(err) < 600
    assert env.announced() == {} and env.messages() == []


@pytest.mark.parametrize("flag, value", [("--reason", "closed\r\nINC-9"), ("--by", "ops\x00admin")])
def test_an_accept_undelivered_decision_is_checked_the_same_way(flag, value, tmp_path, clean_env, capsys):
    env = Env(tmp_path)
    args = {"--reason": "customer closed its account", "--by": "alice", flag: value}
    argv = ["notify", "--region", "us", "--accept-undelivered", "ws-1", "--today", "2026-12-05"]
    code = env.cli(*argv, *(x for kv in args.items() for x in kv))
    err = capsys.readouterr().err
    assert code == 2 and f"{flag} " in err and "control character" in err
