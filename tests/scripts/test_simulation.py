"""No backdating: on a real ledger a run that records takes the real time; dated runs need a simulation ledger,
which never goes back in time, and everything made from it says it is simulated. One date option, ``--at``
(``--today`` its alias), on every command.

Issue 8: `egress notify --today 2026-11-20` on 2026-11-30 recorded "announced 2026-11-20, lead 12", and the
email's Date header said 2026-11-30 while its body said 2026-11-20.
"""

from __future__ import annotations

import argparse
import datetime as dt
import email
import email.utils
import json
import mailbox
import re
import shutil
from pathlib import Path

import jsonschema
import pytest

from smtp_egress.checks.published import parse_published
from smtp_egress.dates import UTC, start_of, utc_now
from smtp_egress.document import load_schema
from smtp_egress.ledger import Ledger
from smtp_egress.scripts.cli import build_parser, main
from smtp_egress.scripts.common import AT_HELP

DATA = Path(__file__).resolve().parents[1] / "data"
WORKSPACES = "workspace_id,region,email\nws-1,us,ops@one.example\nws-2,us,admin@two.example\n"


class Env:
    def __init__(self, root: Path):
        self.root = root
        self.plan = root / "plan.yaml"
        shutil.copy(DATA / "example-plan.yaml", self.plan)
        (root / "ws.csv").write_text(WORKSPACES)
        self.db = f"sqlite:///{root}/ledger.db"
        self.outbox = root / "outbox"

    def egress(self, capsys, *argv: str) -> tuple[int, str, str]:
        code = main([*argv, "--plan", str(self.plan), "--db", self.db])
        out, err = capsys.readouterr()
        assert "Traceback" not in err
        return code, out, err

    def published(self, capsys, day: str | None = None) -> str:
        path = self.root / f"published-{day}.json"
        assert (
            self.egress(capsys, "publish", "--region", "us", *(("--at", day) if day else ()), "--out", str(path))[0]
            == 0
        )
        return str(path)

    def notify(self, capsys, *extra: str, published: str) -> tuple[int, str, str]:
        argv = ("notify", "--region", "us", "--published", published, "--outbox", str(self.outbox), *extra)
        return self.egress(capsys, *argv)

    def messages(self) -> list[email.message.Message]:
        return list(mailbox.Maildir(str(self.outbox), create=False)) if self.outbox.exists() else []

    def announcements(self) -> dict:
        ledger = Ledger(self.db)
        try:
            return ledger.announcements()
        finally:
            ledger.close()


@pytest.fixture
def env(tmp_path, monkeypatch):
    for var in ("EGRESS_DB", "EGRESS_OUTBOX", "EGRESS_SMTP_URL", "EGRESS_TODAY", "SOURCE_DATE_EPOCH"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    return Env(tmp_path)


def test_a_real_ledger_refuses_a_dated_recording_run_and_records_nothing(env, capsys):
    assert env.egress(capsys, "workspaces", "import", "ws.csv")[0] == 0  # creates a real ledger
    published = env.published(capsys, "2026-11-20")
    for flag in ("--today", "--at"):
        code, out, err = env.notify(capsys, flag, "2026-11-20", published=published)
        assert (code, out) == (2, "")
        assert f"{flag} 2026-11-20 is refused: the ledger at '{env.db}' (from --db) is a real one" in err  # as typed
        assert "no notice is ever backdated" in err and "egress ledger init --simulation" in err
    assert env.announcements() == {} and env.messages() == []
    code, out, _ = env.notify(capsys, "--at", "2026-11-20", "--dry-run", published=published)  # any date
    assert code == 0 and "dry run: would announce addition of 198.51.100.11 on 2026-12-10 to 2 workspaces" in out
    assert env.announcements() == {}


def test_a_real_ledger_records_the_real_time_and_the_email_agrees_with_itself(env, capsys):
    today = utc_now().date()
    env.plan.write_text(
        "regions:\n  us:\n    - ip: 198.51.100.10\n"
        f"    - ip: 198.51.100.11\n      active_from: {(today + dt.timedelta(days=30)).isoformat()}\n"
    )
    assert env.egress(capsys, "workspaces", "import", "ws.csv")[0] == 0
    published = env.published(capsys)
    before = utc_now()
    code, out, err = env.notify(capsys, published=published)
    after = utc_now()
    assert code == 0, out + err
    (announced,) = env.announcements().values()
    assert before <= announced.announced_at <= after + dt.timedelta(seconds=1)  # told: rounded up to the second
    for message in env.messages():
        sent = email.utils.parsedate_to_datetime(message["Date"])
        assert before.replace(microsecond=0) <= sent <= after
        body = message.get_payload(0).get_payload(0).get_payload(decode=True).decode()
        shown = re.search(r"This notice was sent on (\d{4}-\d\d-\d\d \d\d:\d\d) UTC", " ".join(body.split()))
        assert shown is not None, body
        at = dt.datetime.strptime(shown.group(1), "%Y-%m-%d %H:%M").replace(tzinfo=UTC)
        assert before.replace(second=0, microsecond=0) <= at <= after  # the real time, not a date option
        assert "SIMULATION" not in message["Subject"] + body


def test_a_simulation_ledger_takes_dates_forward_only_and_says_so_everywhere(env, capsys, tmp_path):
    code, out, _ = env.egress(capsys, "ledger", "init", "--simulation")
    assert code == 0 and out.startswith("created a new simulation ledger")
    assert env.egress(capsys, "workspaces", "import", "ws.csv")[0] == 0
    published = env.published(capsys, "2026-11-26")
    code, out, err = env.notify(capsys, "--at", "2026-11-26", published=published)
    assert code == 0, err
    assert out.startswith("egress notify: region us, 2026-11-26T00:00:00Z (SIMULATION ledger)")
    assert {a.announced_at for a in env.announcements().values()} == {start_of(dt.date(2026, 11, 26))}

    messages = env.messages()
    assert len(messages) == 2  # one notice per workspace for the batch of both changes
    for message in messages:  # one moment for the record, the Date header and the body
        assert email.utils.parsedate_to_datetime(message["Date"]) == dt.datetime(2026, 11, 26, tzinfo=UTC)
        assert message["Subject"].startswith("[SIMULATION] ")
        text = message.get_payload(0).get_payload(0).get_payload(decode=True).decode()
        html = message.get_payload(0).get_payload(1).get_payload(decode=True).decode()
        assert text.startswith("SIMULATION: this notice comes from a simulation ledger")
        assert "SIMULATION: this notice comes from a simulation ledger" in html
        assert "This notice was sent on 2026-11-26 00:00 UTC" in " ".join(text.split())

    # Never back in time: the latest record is named, and nothing is recorded.
    code, out, err = env.notify(capsys, "--today", "2026-11-20", published=published)
    assert (code, out) == (2, "")
    assert "--today 2026-11-20 is before the latest moment recorded in the simulation ledger at" in err
    assert "2026-11-26T00:00:00Z. A simulation never goes back in time: run with --at 2026-11-26 or later" in err
    assert env.notify(capsys, "--at", "2026-11-20", "--dry-run", published=published)[0] == 0  # a dry run may
    assert len(env.messages()) == 2 and len(env.announcements()) == 2  # one batch: a notice per workspace

    # The published document says so, and stays valid for customers' parsers and our own strict reader.
    code, out, _ = env.egress(capsys, "publish", "--region", "us", "--at", "2026-11-27")
    document = json.loads(out)
    assert code == 0 and document["simulated"] is True and document["ip_addresses"]
    jsonschema.validate(document, load_schema())
    assert parse_published(out.encode(), "stdout", "us").raw["simulated"] is True
    site = tmp_path / "site"
    argv = ("publish", "--static-dir", str(site), "--base-url", "https://ips.example.com", "--at", "2026-11-27")
    code, out, _ = env.egress(capsys, *argv)
    assert code == 0 and "SIMULATED" in out
    assert json.loads((site / "v1/info/ip_addresses/changes.json").read_text())["simulated"] is True
    assert "<title>[SIMULATION, not a real list] " in (site / "v1/info/ip_addresses/changes.atom").read_text()

    # Allowlists: the provenance and every block's status.
    code, out, _ = env.egress(capsys, "allowlist", "--region", "us", "--format", "txt", "--at", "2026-11-27")
    assert code == 0 and out.startswith("# SIMULATED: made from a simulation ledger")
    code, out, _ = env.egress(capsys, "allowlist", "--region", "us", "--format", "json", "--today", "2026-11-27")
    allowlist = json.loads(out)
    assert allowlist["_provenance"]["simulated"] is True
    code, out, _ = env.egress(capsys, "allowlist", "--region", "us", "--format", "csv", "--at", "2026-11-27")
    assert all(",simulated: " in row for row in out.splitlines()[1:])

    # The report, in every format.
    code, out, _ = env.egress(capsys, "report", "--json", "--at", "2026-11-27")
    assert code == 0 and json.loads(out)["provenance"]["simulated"] is True
    code, out, _ = env.egress(capsys, "report", "--at", "2026-11-27")
    assert "**SIMULATION: the record of a simulation ledger" in out
    code, out, _ = env.egress(capsys, "report", "--format", "html")
    assert "<title>SIMULATION: IP address change record" in out and 'id="simulated"' in out


def test_a_real_ledgers_documents_reports_and_allowlists_carry_no_marker(env, capsys):
    assert env.egress(capsys, "workspaces", "import", "ws.csv")[0] == 0
    code, out, _ = env.egress(capsys, "publish", "--region", "us", "--at", "2026-11-27")
    assert code == 0 and "simulated" not in json.loads(out)
    code, out, _ = env.egress(capsys, "report", "--json")
    assert json.loads(out)["provenance"]["simulated"] is False
    code, out, _ = env.egress(capsys, "allowlist", "--region", "us", "--format", "json", "--at", "2026-11-27")
    assert "simulated" not in json.loads(out)["_provenance"]


def test_a_ledgers_kind_is_fixed_when_it_is_created(env, capsys):
    assert env.egress(capsys, "ledger", "init")[0] == 0
    code, _, err = env.egress(capsys, "ledger", "init", "--simulation")
    assert code == 2 and "is a real ledger, not a simulation one: a ledger's kind is fixed when it is created" in err
    code, out, _ = env.egress(capsys, "ledger", "status", "--json")
    assert code == 0 and json.loads(out)["kind"] == "real"


def date_options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """Per subcommand path ("notify", "ledger init", ...), its --at action."""
    found = {}

    def walk(p: argparse.ArgumentParser, path: str) -> None:
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, child in action.choices.items():
                    walk(child, f"{path} {name}".strip())
            elif "--at" in action.option_strings or "--today" in action.option_strings:
                found[path] = action

    walk(parser, "")
    return found


def test_one_date_option_on_every_command_with_one_help_text():
    found = date_options(build_parser())
    assert set(found) == {
        "notify",
        "publish",
        "allowlist",
        "report",
        "synth",
        "status",
        "workspaces remove",
        "deploy",
        "daily",
        "domains verify",
    }
    for path, action in found.items():
        assert action.option_strings == ["--at", "--today"] and action.dest == "at", path
        assert action.help.startswith(AT_HELP), path
