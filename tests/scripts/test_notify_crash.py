"""Kill ``egress notify`` with SIGKILL in the middle of a fan-out, rerun it, and count what arrived."""

from __future__ import annotations

import mailbox
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from smtp_egress.ledger import Ledger
from smtp_egress.notices.fanout import MARK_GROUP

PLAN = """\
regions:
  us:
    - ip: 198.51.100.10
    - ip: 198.51.100.11
      active_from: 2026-12-10
"""
WORKSPACES = 3000
CONNECTIONS = 3
CHANGE = "us/add/198.51.100.11/2026-12-10"


def egress(*args: str, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "smtp_egress.scripts.cli", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )


@pytest.fixture
def setup(tmp_path):
    (tmp_path / "plan.yaml").write_text(PLAN)
    rows = "".join(f"ws-{i:05d},us,ops{i}@customer{i}.example\n" for i in range(WORKSPACES))
    (tmp_path / "ws.csv").write_text("workspace_id,region,email\n" + rows)
    common = ["--plan", "plan.yaml", "--db", f"sqlite:///{tmp_path}/ledger.db"]
    proc = egress("ledger", "init", "--simulation", *common, cwd=tmp_path)  # the runs below are dated
    assert proc.wait(60) == 0, proc.stderr.read()
    proc = egress("workspaces", "import", "ws.csv", *common, cwd=tmp_path)
    assert proc.wait(60) == 0, proc.stderr.read()
    proc = egress("publish", "--region", "us", "--at", "2026-11-26", "--out", "published.json", *common, cwd=tmp_path)
    assert proc.wait(60) == 0, proc.stderr.read()
    return tmp_path, [*common, "--outbox", "outbox"]


def count(path: Path) -> int:
    return len(os.listdir(path)) if path.exists() else 0


def notify_args(common):
    return ["notify", "--region", "us", "--published", "published.json", "--at", "2026-11-26", *common]


def kill_when(proc: subprocess.Popen, ready, deadline_s: float = 60) -> bool:
    """SIGKILL ``proc`` as soon as ``ready()`` holds; False if it finished first."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if proc.poll() is not None:
            return False
        if ready():
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
            return True
        time.sleep(0.002)
    proc.kill()
    raise AssertionError("notify neither reached the kill point nor finished in time")


def test_killed_fanout_resumes_and_delivers_each_notice_exactly_once(setup):
    tmp, common = setup
    new = tmp / "outbox" / "new"
    kills = 0
    for threshold in (200, 1100, 2300):  # three kills at different points of the fan-out
        proc = egress(*notify_args(common), cwd=tmp)
        if kill_when(proc, lambda threshold=threshold: count(new) >= threshold):
            kills += 1
    assert kills >= 2, "the fan-out finished before it could be killed: make it longer"
    proc = egress(*notify_args(common), cwd=tmp)
    _out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err.decode()

    box = mailbox.Maildir(str(tmp / "outbox"), create=False)
    recipients = sorted(m["To"] for m in box)
    assert len(recipients) == WORKSPACES, f"{len(recipients)} notices for {WORKSPACES} workspaces"
    assert len(set(recipients)) == WORKSPACES, "a workspace got the notice twice"
    assert count(tmp / "outbox" / "tmp") == 0 or all(not (new / f).exists() for f in os.listdir(tmp / "outbox" / "tmp"))
    ledger = Ledger(f"sqlite:///{tmp}/ledger.db")
    try:
        assert ledger.unsent() == []
        assert ledger.delivery_counts(ledger.recorded()[CHANGE].batch_id) == {"sent": WORKSPACES}
        assert list(ledger.announcements()) == [CHANGE]  # told: every workspace heard of it
    finally:
        ledger.close()


def test_kill_before_any_delivery_leaves_the_batch_and_all_rows_pending_and_not_announced(setup):
    """A batch and its pending rows are one transaction: a kill right after leaves all of them, and the
    change is not announced (held) until a run has delivered every notice."""
    tmp, common = setup
    db = tmp / "ledger.db"
    proc = egress(*notify_args(common), cwd=tmp)
    # Kill as soon as the first notice file appears: the batch must already be complete.
    assert kill_when(proc, lambda: count(tmp / "outbox" / "new") >= 1)
    ledger = Ledger(f"sqlite:///{db}")
    try:
        recorded = ledger.recorded()[CHANGE]
        counts = ledger.delivery_counts(recorded.batch_id)
        assert sum(counts.values()) == WORKSPACES
        assert recorded.held and ledger.announcements() == {}
    finally:
        ledger.close()


@pytest.mark.parametrize("pipelining", [True, False], ids=["pipelining", "lockstep"])
def test_killed_smtp_fanout_resumes_with_every_notice_and_a_bounded_number_resent(
    setup, smtp_server, cafile, pipelining
):
    """Over SMTP the window is between the server's 250 and the ledger's record of it. Outcomes are recorded
    MARK_GROUP at a time and CONNECTIONS sessions are in flight, so a kill can leave at most
    MARK_GROUP + CONNECTIONS - 1 accepted notices unrecorded: the next run sends those again, each with the
    same Message-ID, so the recipient can drop it. Nothing is lost, and nothing else arrives twice."""
    tmp, common = setup
    server = smtp_server("starttls", pipelining=pipelining)
    smtp = ["--smtp-url", server.url("smtp", user=server.user, password=server.password), "--smtp-cafile", cafile]
    smtp += ["--smtp-connections", str(CONNECTIONS)]
    received = server.handler.messages
    kills = 0
    for threshold in (150, 900, 2000):
        proc = egress(*notify_args(common), *smtp, cwd=tmp)
        if kill_when(proc, lambda threshold=threshold: len(received) >= threshold):
            kills += 1
    assert kills >= 2, "the fan-out finished before it could be killed: make it longer"
    proc = egress(*notify_args(common), *smtp, cwd=tmp)
    _out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err.decode()

    import email as email_lib

    ids = [email_lib.message_from_bytes(m.content)["Message-ID"] for m in received]
    recipients = {r for m in received for r in m.rcpt_tos}
    assert len(recipients) == WORKSPACES and len(set(ids)) == WORKSPACES, "a notice is missing"
    resent = len(ids) - len(set(ids))
    assert resent <= kills * (MARK_GROUP + CONNECTIONS - 1), f"{resent} notices resent after {kills} kills"
    ledger = Ledger(f"sqlite:///{tmp}/ledger.db")
    try:
        assert ledger.delivery_counts(ledger.recorded()[CHANGE].batch_id) == {"sent": WORKSPACES}
        assert list(ledger.announcements()) == [CHANGE]
    finally:
        ledger.close()
