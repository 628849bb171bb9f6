"""``egress notify`` end to end: real files, a real Maildir, a real HTTP server for the published list."""

from __future__ import annotations

import datetime as dt
import email
import json
import mailbox
import shutil
import threading
from pathlib import Path

import pytest

from smtp_egress.dates import start_of
from smtp_egress.document import render
from smtp_egress.ledger import Ledger
from smtp_egress.plan import load_plan
from smtp_egress.scripts.cli import main

EXAMPLE_PLAN = Path(__file__).resolve().parents[1] / "data" / "example-plan.yaml"
WORKSPACES = """\
workspace_id,region,email
ws-1,us,ops@one.example
ws-2,us,admin@two.example
ws-3,eu,it@three.example
"""


class Env:
    def __init__(self, tmp_path):
        self.dir = tmp_path
        self.plan = tmp_path / "plan.yaml"
        shutil.copy(EXAMPLE_PLAN, self.plan)
        self.db = f"sqlite:///{tmp_path}/ledger.db"
        self.outbox = tmp_path / "outbox"
        (tmp_path / "ws.csv").write_text(WORKSPACES)
        assert self.cli("ledger", "init", "--simulation") == 0  # the runs below are dated
        assert self.cli("workspaces", "import", str(tmp_path / "ws.csv")) == 0

    def cli(self, *args: str) -> int:
        return main([*args, "--plan", str(self.plan), "--db", self.db])

    def published(self, day: str, addresses: list[str] | None = None, region: str = "us") -> str:
        """Write the document as egress publish would render it for ``day`` (optionally altered)."""
        ledger = Ledger(self.db)
        try:
            doc = render(load_plan(self.plan), region, ledger.announcements(), start_of(dt.date.fromisoformat(day)))
        finally:
            ledger.close()
        data = doc.document
        if addresses is not None:
            from smtp_egress.document import list_sha256

            data = {**data, "ip_addresses": addresses, "sha256": list_sha256(addresses)}
        path = self.dir / f"published-{region}-{day}.json"
        path.write_text(json.dumps(data))
        return str(path)

    def notify(self, day: str, *extra: str, published: str | None = None) -> int:
        return self.cli(
            "notify",
            "--region",
            "us",
            "--published",
            published or self.published(day),
            "--today",
            day,
            "--outbox",
            str(self.outbox),
            *extra,
        )

    def outbox_messages(self) -> list[email.message.Message]:
        if not self.outbox.exists():
            return []
        return list(mailbox.Maildir(str(self.outbox), create=False))

    def ledger(self) -> Ledger:
        return Ledger(self.db)


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for var in ("EGRESS_SMTP_URL", "EGRESS_DB", "EGRESS_OUTBOX", "EGRESS_WEBHOOK_SECRET"):
        monkeypatch.delenv(var, raising=False)
    return Env(tmp_path)


BOTH = ["us/add/198.51.100.11/2026-12-10", "us/remove/198.51.100.12/2026-12-20"]


def test_announces_due_changes_once_to_every_workspace_of_the_region_in_one_notice(env, capsys):
    assert env.notify("2026-11-26") == 0
    out = capsys.readouterr().out
    assert "recorded addition of 198.51.100.11 on 2026-12-10 for 2 workspaces (batch us/2026-11-26T00:00:00Z/" in out
    assert "recorded removal of 198.51.100.12 on 2026-12-20 for 2 workspaces" in out
    assert "told: every workspace heard of it; its changes count as announced at 2026-11-26T00:00:00Z" in out
    msgs = env.outbox_messages()
    assert sorted((m["To"], tuple(m.get_all("X-Egress-Change"))) for m in msgs) == [
        ("admin@two.example", tuple(BOTH)),
        ("ops@one.example", tuple(BOTH)),
    ]
    assert len({m["Message-ID"] for m in msgs}) == 2 and {m["Date"] for m in msgs} == {
        "Thu, 26 Nov 2026 00:00:00 +0000"
    }
    # A rerun has nothing to do and sends nothing twice.
    assert env.notify("2026-11-27") == 0
    assert len(env.outbox_messages()) == 2
    ledger = env.ledger()
    try:
        anns = ledger.announcements("us")
        assert {a.recorded_at for a in anns.values()} == {start_of(dt.date(2026, 11, 26))}
        assert {a.announced_at for a in anns.values()} == {start_of(dt.date(2026, 11, 26))}  # a simulation's moment
        assert ledger.unsent() == []
    finally:
        ledger.close()


def test_json_summary_for_schedulers(env, capsys):
    assert env.notify("2026-11-26", "--json") == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["exit_code"] == 0 and summary["delivery"]["sent"] == 2
    assert summary["told"] == [{"batch": summary["announced"][0]["batch"], "at": "2026-11-26T00:00:00Z"}]
    assert summary["undelivered"] == []
    assert [a["change"] for a in summary["announced"]] == [
        "us/add/198.51.100.11/2026-12-10",
        "us/remove/198.51.100.12/2026-12-20",
    ]


def test_dry_run_records_and_sends_nothing(env, capsys):
    assert env.notify("2026-11-26", "--dry-run") == 0
    assert "would announce addition of 198.51.100.11" in capsys.readouterr().out
    assert env.outbox_messages() == []
    ledger = env.ledger()
    try:
        assert ledger.announcements() == {}
    finally:
        ledger.close()


def test_short_notice_is_refused_with_the_earliest_compliant_date(env, capsys):
    assert env.notify("2026-12-05") == 4
    err = capsys.readouterr().err
    assert "addition of 198.51.100.11 planned for 2026-12-10 is 5 days away" in err
    assert "2026-12-12" in err and "--allow-short-notice" in err
    assert [m.get_all("X-Egress-Change") for m in env.outbox_messages()] == [["us/remove/198.51.100.12/2026-12-20"]] * 2


def test_short_notice_exception_is_sent_and_recorded_with_its_reason(env, capsys):
    assert env.notify("2026-12-05", "--allow-short-notice") == 2
    assert "needs --reason" in capsys.readouterr().err
    assert env.notify("2026-12-05", "--allow-short-notice", "--reason", "upstream range withdrawn") == 0
    ledger = env.ledger()
    try:
        a = ledger.announcements()["us/add/198.51.100.11/2026-12-10"]
        assert a.exception_reason == "upstream range withdrawn" and a.effective == dt.date(2026, 12, 10)
    finally:
        ledger.close()
    adds = [m for m in env.outbox_messages() if m["X-Egress-Change"].startswith("us/add/")]  # its own batch
    assert (
        len(adds) == 2
        and "upstream range withdrawn" in adds[0].get_payload(0).get_payload(0).get_payload(decode=True).decode()
    )


@pytest.mark.parametrize(
    "body, content_type, words",
    [
        (b"<html><body>Service Unavailable</body></html>", "text/html", "HTML"),
        (b"", "application/json", "empty"),
        (b'{"ip_addresses": ["198.51.100.10", "198.51', "application/json", "JSON"),
    ],
)
def test_unusable_published_document_sends_nothing(env, capsys, body, content_type, words):
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/v1/info/ip_addresses?region=us"
        assert env.notify("2026-11-26", published=url) == 3
    finally:
        server.shutdown()
        server.server_close()
    err = capsys.readouterr().err
    assert words in err and "nothing was sent" in err
    assert env.outbox_messages() == []
    ledger = env.ledger()
    try:
        assert ledger.announcements() == {}
    finally:
        ledger.close()


def test_list_that_shrank_unexplained_is_not_read_as_removal(env, capsys):
    shrunk = env.published("2026-11-26", ["198.51.100.10"])
    assert env.notify("2026-11-26", published=shrunk) == 3
    err = capsys.readouterr().err
    assert "lacks 1 address that must be published today: 198.51.100.12" in err and "nothing was sent" in err
    assert env.outbox_messages() == []


def test_drift_is_reported_but_due_notices_still_go(env, capsys):
    extra = env.published("2026-11-26", ["198.51.100.10", "198.51.100.12", "198.51.100.77"])
    assert env.notify("2026-11-26", published=extra) == 5
    assert "198.51.100.77" in capsys.readouterr().err
    assert len(env.outbox_messages()) == 2


def test_wrong_region_document_is_refused(env, capsys):
    eu = env.published("2026-11-26", region="eu")
    assert env.notify("2026-11-26", published=eu) == 3
    assert "region" in capsys.readouterr().err
    assert env.outbox_messages() == []


def test_workspace_imported_later_still_hears_of_upcoming_changes(env):
    assert env.notify("2026-11-26") == 0
    (env.dir / "late.csv").write_text("workspace_id,region,email\nws-9,us,late@nine.example\n")
    assert env.cli("workspaces", "import", str(env.dir / "late.csv")) == 0
    assert env.notify("2026-11-28") == 0
    (late,) = [m.get_all("X-Egress-Change") for m in env.outbox_messages() if m["To"] == "late@nine.example"]
    assert late == BOTH and len(env.outbox_messages()) == 3


def test_published_list_follows_announcements_served_live(env):
    """The daily job against a real `egress serve` endpoint rendering from the same ledger."""
    from smtp_egress.server import make_server

    class FixedClock:
        moment = start_of(dt.date(2026, 11, 26))

        def __call__(self):
            return self.moment

    clock = FixedClock()
    server = make_server(load_plan(env.plan), env.db, "127.0.0.1", 0, clock=clock, log=False)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}/v1/info/ip_addresses?region=us"
    try:
        assert env.notify("2026-11-26", published=url) == 0
        clock.moment = start_of(dt.date(2026, 12, 10))
        assert env.notify("2026-12-10", published=url) == 0  # the addition is now live and published
        clock.moment = start_of(dt.date(2026, 12, 20))
        assert env.notify("2026-12-20", published=url) == 0
    finally:
        server.shutdown()
        server.server_close()
    assert len(env.outbox_messages()) == 2


def _run_with_stderr(env, stderr_is_tty: bool) -> str:
    """Run notify as a real process, its stderr a terminal (pty) or a pipe; return what it wrote there."""
    import os
    import pty
    import subprocess
    import sys
    from pathlib import Path

    rows = "".join(f"ws-{i},us,ops{i}@c{i}.example\n" for i in range(40))
    (env.dir / "many.csv").write_text("workspace_id,region,email\n" + rows)
    assert env.cli("workspaces", "import", str(env.dir / "many.csv")) == 0
    args = [
        sys.executable,
        "-m",
        "smtp_egress.scripts.cli",
        "notify",
        "--region",
        "us",
        "--published",
        env.published("2026-11-26"),
        "--today",
        "2026-11-26",
        "--outbox",
        str(env.outbox),
        "--base-url",
        "https://ips.example.com",  # a loopback base URL (the default) is a warning on stderr
        "--plan",
        str(env.plan),
        "--db",
        env.db,
    ]
    penv = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    if not stderr_is_tty:
        proc = subprocess.run(args, capture_output=True, env=penv, timeout=120)
        assert proc.returncode == 0, proc.stderr
        return proc.stderr.decode()
    import fcntl
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a real terminal has a size
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=slave, env=penv)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    assert proc.wait(120) == 0
    return b"".join(chunks).decode(errors="replace")


def test_progress_bar_on_a_terminal_only(env):
    shown = _run_with_stderr(env, stderr_is_tty=True)
    assert "/40 [" in shown and "notice/s" in shown, shown  # 40 workspaces, one notice each for both changes


def test_quiet_when_not_on_a_terminal(env):
    assert _run_with_stderr(env, stderr_is_tty=False) == ""
