"""The whole path as an operator runs it, in real processes: `egress smtp keygen` and `smtp add` store a
workspace's STARTTLS+AUTH server (password sealed), `egress worker enqueue` queues a message, `egress worker run
--once` delivers it with the real delivery client over verified TLS to a real aiosmtpd server, archives the exact
bytes and records the outcome; the password shows up nowhere but on the wire inside TLS."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from ..egress.delivery.conftest import sink  # noqa: F401  (the fixture)
from ..egress.delivery.helpers import PASSWORD, USER

PLAN = Path(__file__).resolve().parents[2] / "stacks" / "egress-ips.yaml"
EML = b"From: news@customer.example\nTo: someone@example.net\nSubject: hello\n\nHi there.\n"


def egress(here: Path, env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "smtp_egress.scripts.cli", *argv],
        cwd=here, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def worker_env(here: Path, cafile: str) -> dict[str, str]:
    """The environment of the worker's commands in ``here``: no EGRESS_ setting but the test's own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EGRESS_")}
    env.update(
        EGRESS_SMTP_ALLOW_PRIVATE="1",
        EGRESS_SMTP_KEY_FILE=str(here / "smtp.key"),
        EGRESS_WORKER_HEALTH="off",
        EGRESS_DB=f"sqlite:///{here / 'ledger.db'}",
        SSL_CERT_FILE=cafile,  # the test CA stands for the system's CAs: certificate = verify
    )
    return env


def test_a_stored_server_gets_the_queued_message_archived_and_recorded(tmp_path, sink, cafile):  # noqa: F811
    server = sink("starttls", pipelining=True)
    env = worker_env(tmp_path, cafile)
    (tmp_path / "pw.txt").write_text(PASSWORD + "\n")
    (tmp_path / "m.eml").write_bytes(EML)
    outputs: list[str] = []

    def ok(*argv: str) -> str:
        done = egress(tmp_path, env, *argv)
        outputs.extend((done.stdout, done.stderr))
        assert done.returncode == 0, done.stderr
        return done.stdout

    (tmp_path / "ws.csv").write_text("workspace_id,region,email\nws-1,us,ops@customer.example\n")
    ok("workspaces", "import", "ws.csv", "--plan", str(PLAN))
    ok("smtp", "keygen", "--out", str(tmp_path / "smtp.key"))
    ok(
        "smtp", "add", "--workspace", "ws-1", "--host", "127.0.0.1", "--port", str(server.port),
        "--security", "starttls", "--username", USER, "--password-file", "pw.txt", "--default",
    )  # fmt: skip
    job = json.loads(
        ok("worker", "enqueue", "--workspace", "ws-1", "--from", "news@customer.example",
           "--to", "a@example.net", "--to", "b@example.net", "m.eml", "--json")
    )["job_id"]  # fmt: skip
    run = egress(tmp_path, env, "worker", "run", "--once")
    outputs.extend((run.stdout, run.stderr))
    assert run.returncode == 0, egress(tmp_path, env, "worker", "status").stdout
    status = json.loads(ok("worker", "status", "--json"))
    outputs.append(json.dumps(status))

    got = server.handler.messages
    assert [(m.mail_from, m.rcpt_tos, m.login) for m in got] == [
        ("news@customer.example", ["a@example.net", "b@example.net"], USER.encode())
    ]  # one transaction, both recipients, authenticated
    assert got[0].content == EML.replace(b"\n", b"\r\n")
    assert status["recipients"] == {"delivered": 2, "deferred": 0, "failed": 0}
    assert status["queue"]["ready"] == status["queue"]["in_flight"] == 0 and not status["dead_letters"]
    archive = sorted(p for p in (tmp_path / ".egress" / "archive").rglob("*") if p.is_file())
    entries = [p for p in archive if p.suffix == ".eml"]
    assert len(entries) == 2, archive  # one per recipient
    for entry in entries:
        assert entry.read_bytes() == got[0].content  # the exact bytes sent
    assert all(job in str(p) for p in entries)
    everything = "\n".join(outputs).encode() + b"".join(p.read_bytes() for p in archive)
    everything += (tmp_path / "ledger.db").read_bytes() + (tmp_path / ".egress" / "queue.db").read_bytes()
    assert PASSWORD.encode() not in everything and USER.encode() in everything  # (the user name is recorded)
