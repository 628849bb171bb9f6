"""``egress notify`` through real channels: an SMTP server with real TLS, a webhook receiver, PostgreSQL."""

from __future__ import annotations

import email
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from smtp_egress.ledger import Ledger
from smtp_egress.notices.channels import CHANNELS
from smtp_egress.notices.channels.base import mask_secret_url
from smtp_egress.notices.webhook import verify
from smtp_egress.scripts.cli import main

PLAN = """\
regions:
  us:
    - ip: 198.51.100.10
    - ip: 198.51.100.11
      active_from: 2026-12-10
"""
CHANGE = "us/add/198.51.100.11/2026-12-10"
SECRET = "whsec-test-0123456789"


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for var in ("EGRESS_SMTP_URL", "EGRESS_DB", "EGRESS_OUTBOX", "EGRESS_WEBHOOK_SECRET", "EGRESS_SMTP_CAFILE"):
        monkeypatch.delenv(var, raising=False)
    (tmp_path / "plan.yaml").write_text(PLAN)
    return tmp_path


def setup_ledger(workdir, db: str, rows: str) -> list[str]:
    (workdir / "ws.csv").write_text("workspace_id,region,email,webhook_url\n" + rows)
    common = ["--plan", "plan.yaml", "--db", db]
    assert main(["ledger", "init", "--simulation", *common]) == 0  # the runs below are dated
    assert main(["workspaces", "import", "ws.csv", *common]) == 0
    assert main(["publish", "--region", "us", "--at", "2026-11-26", "--out", "published.json", *common]) == 0
    return ["notify", "--region", "us", "--published", "published.json", "--at", "2026-11-26", *common]


def test_notices_over_starttls_with_auth_one_connection(workdir, smtp_server, cafile, monkeypatch):
    server = smtp_server("starttls")
    rows = "".join(f"ws-{i},us,ops{i}@customer{i}.example,\n" for i in range(5))
    args = setup_ledger(workdir, f"sqlite:///{workdir}/l.db", rows)
    monkeypatch.setenv("EGRESS_SMTP_URL", server.url("smtp", user=server.user, password=server.password))
    monkeypatch.setenv("EGRESS_SMTP_CAFILE", cafile)
    monkeypatch.setenv("EGRESS_SMTP_CONNECTIONS", "1")  # (4 by default)
    assert main(args) == 0
    got = server.handler.messages
    assert sorted(r for m in got for r in m.rcpt_tos) == [f"ops{i}@customer{i}.example" for i in range(5)]
    assert all(m.tls for m in got) and server.handler.connections == 1
    parsed = email.message_from_bytes(got[0].content)
    assert parsed["X-Egress-Change"] == CHANGE and parsed.is_multipart()
    assert {p.get_content_type() for p in parsed.walk()} >= {"text/plain", "text/html", "text/calendar"}


def test_partial_failure_exits_6_and_the_next_run_sends_only_what_is_missing(
    workdir, smtp_server, cafile, monkeypatch, capsys
):
    server = smtp_server("starttls")
    rows = "ws-1,us,ok1@one.example,\nws-2,us,defer451@two.example,\nws-3,us,ok3@three.example,\n"
    args = setup_ledger(workdir, f"sqlite:///{workdir}/l.db", rows)
    monkeypatch.setenv("EGRESS_SMTP_URL", server.url("smtp", user=server.user, password=server.password))
    monkeypatch.setenv("EGRESS_SMTP_CAFILE", cafile)
    assert main(args) == 6
    assert "defer451@two.example" in capsys.readouterr().err
    assert sorted(r for m in server.handler.messages for r in m.rcpt_tos) == ["ok1@one.example", "ok3@three.example"]
    # The customer fixes the address; the next run resumes and sends only that one notice.
    (workdir / "fix.csv").write_text("workspace_id,region,email\nws-2,us,ok2@two.example\n")
    assert main(["workspaces", "import", "fix.csv", "--plan", "plan.yaml", "--db", f"sqlite:///{workdir}/l.db"]) == 0
    ledger = Ledger(f"sqlite:///{workdir}/l.db")
    try:
        (pending,) = ledger.unsent()
        assert pending.workspace_id == "ws-2" and pending.status == "failed" and pending.attempts == 1
    finally:
        ledger.close()
    # The rerun sends the pending notice to the corrected address, and only that one.
    assert main(args) == 0
    assert [m.rcpt_tos for m in server.handler.messages[2:]] == [["ok2@two.example"]]
    ledger = Ledger(f"sqlite:///{workdir}/l.db")
    try:
        batch = ledger.recorded()[CHANGE].batch_id
        assert ledger.unsent() == [] and ledger.delivery_counts(batch) == {"sent": 3}
        assert CHANGE in ledger.announcements()  # told once ws-2 heard of it too
    finally:
        ledger.close()


def test_smtp_server_down_is_found_before_anything_is_recorded_and_says_so(workdir, capsys):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once the socket closes
    args = setup_ledger(
        workdir, f"sqlite:///{workdir}/l.db", "".join(f"ws-{i},us,o{i}@c{i}.example,\n" for i in range(8))
    )
    capsys.readouterr()
    assert main([*args, "--smtp-url", f"smtp://127.0.0.1:{port}", "--json"]) == 6
    summary = json.loads(capsys.readouterr().out)
    assert summary["delivery"] is None and summary["announced"] == []
    (problem,) = summary["problems"]
    assert f"127.0.0.1:{port}" in problem and "nothing was recorded or sent" in problem
    ledger = Ledger(f"sqlite:///{workdir}/l.db")
    try:
        assert ledger.recorded() == {} and ledger.unsent() == []
    finally:
        ledger.close()


class Receiver(BaseHTTPRequestHandler):
    received: ClassVar[list] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        ok = verify(SECRET.encode(), self.headers["X-Egress-Timestamp"], body, self.headers["X-Egress-Signature"])
        self.received.append((ok, self.headers["Idempotency-Key"], json.loads(body)))
        self.send_response(204 if ok else 401)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_signed_webhooks_alongside_email(workdir, monkeypatch):
    Receiver.received = []
    hook = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{hook.server_port}/hooks/ip"
        args = setup_ledger(
            workdir, f"sqlite:///{workdir}/l.db", f"ws-1,us,a@one.example,{url}\nws-2,us,b@two.example,\n"
        )
        monkeypatch.setenv("EGRESS_WEBHOOK_SECRET", SECRET)
        monkeypatch.setenv("EGRESS_WEBHOOK_ALLOW_PRIVATE", "1")
        assert main([*args, "--outbox", "outbox"]) == 0
        assert main([*args, "--outbox", "outbox"]) == 0  # rerun: nothing twice
    finally:
        hook.shutdown()
        hook.server_close()
    ((ok, key, payload),) = Receiver.received
    assert ok and payload["type"] == "ip_change_batch" and [c["change_id"] for c in payload["changes"]] == [CHANGE]
    assert payload["workspace_id"] == "ws-1" and key == payload["delivery_id"]
    assert len(list((workdir / "outbox" / "new").iterdir())) == 2


def test_webhook_without_secret_is_refused_before_anything_is_recorded(workdir, capsys):
    url = "https://hooks.one.example/ip/s3cr3t-token"
    args = setup_ledger(workdir, f"sqlite:///{workdir}/l.db", f"ws-1,us,a@one.example,{url}\n")
    assert main([*args, "--outbox", "outbox"]) == 2
    err = capsys.readouterr().err
    assert "1 workspace of the region has a webhook URL, but EGRESS_WEBHOOK_SECRET is not set" in err
    assert "nothing was recorded or sent" in err and "Traceback" not in err
    assert "s3cr3t" not in err  # a webhook URL is a credential
    assert not (workdir / "outbox").exists()
    ledger = Ledger(f"sqlite:///{workdir}/l.db")
    try:
        assert ledger.recorded() == {}
    finally:
        ledger.close()
    assert (
        main(
            [
                "workspaces",
                "list",
                "--region",
                "us",
                "--plan",
                "plan.yaml",
                "--db",
                f"sqlite:///{workdir}/l.db",
                "--json",
            ]
        )
        == 0
    )
    (listed,) = json.loads(capsys.readouterr().out)
    assert listed["email"] == "a@one.example" and listed["webhook_url"] == mask_secret_url(url)


def test_every_channel_option_reads_its_flag_else_its_environment_variable_else_its_default(monkeypatch):
    from smtp_egress.plan import DEFAULT_PLAN
    from smtp_egress.project import default_outbox
    from smtp_egress.scripts.cli import build_parser
    from smtp_egress.scripts.notify import notice_settings

    options = [(c, o) for c in CHANNELS.values() for o in c.options]
    for _, option in options:
        monkeypatch.delenv(option.env, raising=False)
    monkeypatch.delenv("EGRESS_BASE_URL", raising=False)
    parser = build_parser()
    base = ["notify", "--region", "us", "--published", "published.json"]
    defaults = notice_settings(parser.parse_args(base))
    assert defaults.base_url == "http://127.0.0.1:8080"
    outbox = {"outbox": str(default_outbox(DEFAULT_PLAN))}  # the project's, whatever the current directory

    def settings(channel, **values):
        return channel.settings({**(outbox if channel.name == "email" else {}), **values})

    assert defaults.channels == {c.name: settings(c) for c in CHANNELS.values()}
    for channel, option in options:
        monkeypatch.setenv(option.env, "1")
        assert notice_settings(parser.parse_args(base)).channels[channel.name] == settings(channel, **{option.key: "1"})
        if option.flag:
            assert f"env {option.env}" in option.help
            given = notice_settings(parser.parse_args([*base, option.flag, "2"])).channels[channel.name]
            assert given == settings(channel, **{option.key: "2"}) != settings(channel, **{option.key: "1"})
        monkeypatch.delenv(option.env)
    monkeypatch.setenv("EGRESS_BASE_URL", "https://ips.example.com")
    assert notice_settings(parser.parse_args(base)).base_url == "https://ips.example.com"


def test_whole_job_on_postgresql(workdir, pg_url):
    db_url = pg_url
    args = setup_ledger(workdir, db_url, "ws-1,us,a@one.example,\nws-2,us,b@two.example,\n")
    assert main([*args, "--outbox", "outbox"]) == 0
    assert main([*args, "--outbox", "outbox"]) == 0
    ledger = Ledger(db_url)
    try:
        assert list(ledger.announcements()) == [CHANGE] and ledger.unsent() == []
        assert ledger.delivery_counts(ledger.recorded()[CHANGE].batch_id) == {"sent": 2}
    finally:
        ledger.close()
    assert len(list((workdir / "outbox" / "new").iterdir())) == 2
