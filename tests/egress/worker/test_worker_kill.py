"""kill -9 at every point of a delivery, then a restart: no message is lost, none is archived twice.

A real worker process (the real loop, the test-only stand-in deliverer) delivers to a real aiosmtpd STARTTLS+AUTH
server and is killed with SIGKILL where it stands: while the server holds DATA, after the server accepted (not
yet archived), halfway through writing an archive entry, after archiving (not yet recorded), after recording
(not yet acknowledged). A second worker then runs to the end. Every recipient must end delivered in the ledger
with exactly one archive entry. The SMTP-level window is asserted too: killed after the server accepted and
before the entry was written, that message goes out again (the server sees it twice, the archive once); killed
after the entry was written, it never goes out again.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest
import sqlalchemy as sa

from smtp_egress.jobs.worker import enqueue
from smtp_egress.ledger import Ledger
from smtp_egress.tables import worker_outcomes

from ...conftest import PASSWORD, USER
from .conftest import HERE, archived, message

JOBS = 12
BATCH = 5  # the stand-in worker's batch
RECIPIENTS = ("one@x.test", "two@x.test")


def start_worker(tmp_path, place, port, cafile, name, **extra) -> subprocess.Popen:
    config = {
        "db": place.db, "queue": place.queue, "archive": str(place.archive), "port": port, "cafile": cafile,
        "user": USER, "password": PASSWORD, "marker": str(tmp_path / f"{name}.marker"), **extra,
    }  # fmt: skip
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(config))
    log = open(tmp_path / f"{name}.log", "wb")  # noqa: SIM115
    return subprocess.Popen([sys.executable, str(HERE / "standin_worker.py"), str(path)], stdout=log, stderr=log)


def wait_for(condition, what: str, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def kill(process: subprocess.Popen) -> None:
    os.kill(process.pid, signal.SIGKILL)
    process.wait(10)


def finish(tmp_path, place, port, cafile) -> None:
    """A fresh worker runs until nothing is left (the killed one's leases expire after 2 s)."""
    survivor = start_worker(tmp_path, place, port, cafile, "survivor", retry_seconds=20)
    assert survivor.wait(60) == 0, (tmp_path / "survivor.log").read_text()


def check_all_delivered_once(place, jobs, server) -> Counter:
    ledger = Ledger(place.db)
    with ledger.conn.begin():
        rows = ledger.conn.execute(sa.select(worker_outcomes.c.job_id, worker_outcomes.c.state)).all()
    ledger.close()
    assert sorted(rows) == sorted((j.job_id, "delivered") for j in jobs for _ in RECIPIENTS)
    entries = archived(place.archive)
    assert len(entries) == JOBS * len(RECIPIENTS)  # one entry per job and recipient, never two
    assert {e.parent.name for e in entries} == {j.job_id for j in jobs}
    # How often each (job, recipient) reached the server: at least once, nothing lost.
    sent = Counter((m.content.split(b"X-Job: ")[1][:8], r) for m in server.handler.messages for r in m.rcpt_tos)
    assert set(sent) == {(j.message.split(b"X-Job: ")[1][:8], r) for j in jobs for r in RECIPIENTS}
    return sent


@pytest.fixture
def loaded(place):
    return [
        enqueue(place.queue, workspace_id="ws1", sender="news@customer.example", recipients=RECIPIENTS,
                message=message(subject=f"job {i}", headers={"X-Job": f"{i:08d}"}))
        for i in range(JOBS)
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("fault", "resent"),
    [
        ("after-accept", 1),  # the SMTP window: accepted, killed before the entry: sent again, archived once
        ("during-archive", 1),  # .json written, .eml not: the same window
        ("before-record", 0),  # archived: never sent again
        ("before-ack", 0),  # recorded: never sent again
    ],
)
def test_killed_at_a_point_then_restarted_delivers_every_recipient_once_in_the_archive(
    fault, resent, tmp_path, place, loaded, smtp_server, cafile
):
    server = smtp_server("starttls")
    marker = tmp_path / "first.marker"
    first = start_worker(tmp_path, place, server.port, cafile, "first", fault=fault, after=3)
    try:
        wait_for(marker.exists, f"the worker to reach {fault}")
    finally:
        kill(first)
    accepted_before = len(server.handler.messages)
    finish(tmp_path, place, server.port, cafile)
    sent = check_all_delivered_once(place, loaded, server)
    twice = sum(1 for n in sent.values() if n > 1)
    assert accepted_before > 0
    if resent:
        # only what was in the window went out again: at most the messages of the batch in flight (5 jobs)
        assert 1 <= twice <= BATCH * len(RECIPIENTS), sent
    else:
        assert twice == 0, sent


def test_killed_while_the_server_holds_data_then_restarted(tmp_path, place, loaded, smtp_server, cafile):
    server = smtp_server("starttls")
    holding, release = threading.Event(), threading.Event()
    original = server.handler.handle_DATA
    held = []

    async def slow_data(srv, session, envelope):
        if len(server.handler.messages) == 4 and not release.is_set():
            held.append(envelope.original_content.split(b"X-Job: ")[1][:8])
            holding.set()
            while not release.is_set():
                await __import__("asyncio").sleep(0.02)
            return "451 4.3.0 connection went away"
        return await original(srv, session, envelope)

    server.handler.handle_DATA = slow_data
    first = start_worker(tmp_path, place, server.port, cafile, "first")
    try:
        wait_for(holding.is_set, "the server to hold a DATA")
    finally:
        kill(first)
        release.set()
    finish(tmp_path, place, server.port, cafile)
    sent = check_all_delivered_once(place, loaded, server)
    # The held message was never accepted: delivered once, after the restart. (Messages accepted before the kill
    # whose entries were not yet written are in SMTP's window: they may go out twice, never archived twice.)
    assert [sent[(held[0], r)] for r in RECIPIENTS] == [1, 1], sent
