"""The worker's parts on their own: job validation and encoding, the embedded queue's leases, the backoff, the
outcome rows in a real ledger (SQLite and PostgreSQL), the local archive's atomic, once-only entries."""

from __future__ import annotations

import datetime as dt
import random
import threading
import time

import pytest
import sqlalchemy as sa

from smtp_egress.ledger import Ledger
from smtp_egress.tables import worker_outcomes
from smtp_egress.worker import handling
from smtp_egress.worker import job as jobs
from smtp_egress.worker.archive import ArchiveEntry, LocalArchive, S3Archive, entry_key
from smtp_egress.worker.backoff import RetryPolicy
from smtp_egress.worker.embedded import EmbeddedQueue
from smtp_egress.worker.record import DeadLetterRow, OutcomeRow, final_states, record, tally

from .conftest import message, run_async

T0 = dt.datetime(2026, 11, 30, 12, tzinfo=dt.UTC)


def a_job(i: int = 0, **kw) -> jobs.SendJob:
    values = {"workspace_id": "ws1", "sender": "a@c.test", "recipients": [f"r{i}@x.test"], "message": message()}
    return jobs.new_job(**{**values, **kw})


@pytest.mark.parametrize(
    ("kw", "needle"),
    [
        ({"recipients": []}, "at least one recipient"),
        ({"recipients": ["a@b.test", "no-at-sign"]}, "the recipient 'no-at-sign' is not an email address"),
        ({"recipients": ["a b@c.test"]}, "is not an email address"),
        ({"recipients": ["a@b..test"]}, "is not an email address"),
        ({"recipients": [f"r{i}@x.test" for i in range(1001)]}, "at most 1000 recipients"),
        ({"sender": "<a@b.test>"}, "the sender '<a@b.test>'"),
        ({"workspace_id": ""}, "the workspace '' is not"),
        ({"campaign_type": "has space"}, "the campaign type 'has space'"),
        ({"message": b""}, "the message is empty"),
        ({"message": b"no header here\r\n"}, "does not start with a header line"),
        ({"message": b"Subject: x\r\n\r\n" + b"x" * jobs.MAX_MESSAGE_BYTES}, "more than the limit"),
    ],
)
def test_a_bad_job_is_refused_naming_the_value(kw, needle):
    with pytest.raises(jobs.JobError, match=needle.replace("(", r"\(").replace("?", r"\?")):
        a_job(**kw)


def test_a_job_survives_encoding_and_the_null_sender_and_utf8_addresses_are_accepted():
    job = a_job(sender="", recipients=["jörg@exämple.test", "b@x.test", "b@x.test"], campaign_type="promo")
    assert job.recipients == ("jörg@exämple.test", "b@x.test")  # each once
    assert jobs.decode(jobs.encode(job)) == job
    with pytest.raises(jobs.JobError, match="not a send job"):
        jobs.decode('{"v": 99}')


def test_a_lease_is_held_by_one_worker_and_returns_when_it_runs_out(tmp_path):
    path = tmp_path / "q.db"
    a, b = EmbeddedQueue(path), EmbeddedQueue(path)
    a.put([a_job(i) for i in range(40)])
    got: dict[str, list] = {"a": [], "b": []}

    def take(name, queue):
        for _ in range(20):
            got[name] += queue.receive(3, 30, 0)

    threads = [threading.Thread(target=take, args=(n, q)) for n, q in (("a", a), ("b", b))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    ids = [le.job.job_id for le in got["a"] + got["b"]]
    assert len(ids) == len(set(ids)) == 40  # no job leased twice
    # the rest with the leases of whichever worker got some (q1), the other worker (q2) standing by
    q1, q2, held = (a, b, got["a"]) if got["a"] else (b, a, got["b"])
    others = len(ids) - len(held)
    short = held[0]
    q1.retry(short, 0.3)  # visible again after the delay, on its second attempt
    assert q2.receive(10, 30, 0) == []
    time.sleep(0.35)
    (again,) = q2.receive(10, 30, 0)
    assert again.job.job_id == short.job.job_id and again.attempt == 2
    q1.done([short])  # q1's handle is stale: q2 holds the job now
    assert q2.counts().in_flight == 40
    q2.dead_letter(again, "550 no such mailbox")
    assert [(d.job_id, d.reason) for d in q2.dead_letters()] == [(short.job.job_id, "550 no such mailbox")]
    q1.extend(held[1:], 0.1)
    time.sleep(0.15)
    assert {le.job.job_id for le in q2.receive(100, 30, 0)} == {le.job.job_id for le in held[1:]}
    assert q2.counts().in_flight == 39 and others == 40 - len(held)
    a.close()
    b.close()


def test_the_backoff_doubles_with_jitter_up_to_the_cap_and_stops_at_the_maximum_age():
    policy = RetryPolicy(base_seconds=60, cap_seconds=600, max_age=dt.timedelta(hours=1), jitter=0.5)
    rng = random.Random(7)
    delays = [policy.delay(n, rng) for n in range(1, 8)]
    for n, delay in enumerate(delays, 1):
        plain = min(600, 60 * 2 ** (n - 1))
        assert plain / 2 <= delay <= plain
    assert len({round(policy.delay(3, rng), 3) for _ in range(20)}) > 10  # jittered, not all equal
    assert not policy.expired(T0, T0 + dt.timedelta(minutes=50), 300)
    assert policy.expired(T0, T0 + dt.timedelta(minutes=56), 300)


def row(job: str, recipient: str, state: str, attempts: int = 1) -> OutcomeRow:
    return OutcomeRow(job, recipient, "ws1", state, 250 if state == "delivered" else 451, state, "s", attempts, None)


def test_outcomes_are_upserted_final_ones_never_overwritten(db_url):
    ledger = Ledger(db_url, create=True)
    conn = ledger.conn
    record(conn, [row("j1", "a@x", "deferred"), row("j1", "b@x", "delivered")], [], T0)
    record(conn, [row("j1", "a@x", "delivered", 2), row("j1", "b@x", "deferred", 2)], [], T0)  # b stays delivered
    record(conn, [row("j1", "b@x", "delivered", 3)], [DeadLetterRow("j2", "ws1", "why")], T0)
    record(conn, [], [DeadLetterRow("j2", "ws1", "again")], T0)  # recorded once
    with conn.begin():
        found = {(r.recipient, r.state, r.attempts) for r in conn.execute(sa.select(worker_outcomes))}
    assert found == {("a@x", "delivered", 2), ("b@x", "delivered", 1)}
    assert final_states(conn, ["j1", "j9"]) == {"j1": {"a@x": "delivered", "b@x": "delivered"}}
    assert tally(conn) == type(tally(conn))(2, 0, 0, 1)
    ledger.close()


def test_the_local_archive_writes_an_entry_once_and_atomically(tmp_path):
    archive = LocalArchive(tmp_path / "a")
    key = entry_key("ws/../1", "job 1", "Someone@X.test")
    assert key == entry_key("ws/../1", "job 1", "someone@x.test")  # one key per job and recipient
    assert " " not in key and all(not part.startswith(".") for part in entry_key("..", ".x", "r").split("/"))
    entry = ArchiveEntry("ws1", "job 1", "someone@x.test", b"bytes\r\n", 250, "ok", "ws1/h:587", "127.0.0.1")
    assert archive.put(key, entry) is True
    assert archive.put(key, ArchiveEntry(**{**entry.__dict__, "sent": b"other"})) is False
    assert (tmp_path / "a" / f"{key}.eml").read_bytes() == b"bytes\r\n"
    assert [p.name for p in (tmp_path / "a").rglob(".*")] == []  # no temporary file left behind


def test_the_local_archive_adds_a_recipient_to_a_job_folder_and_to_a_new_workspace(tmp_path):
    archive = LocalArchive(tmp_path / "a")  # the archive's own folder does not exist yet either
    entry = ArchiveEntry("ws1", "j1", "a@x.test", b"one\r\n", 250, "ok", "ws1/h:587", None)
    first, second = entry_key("ws1", "j1", "a@x.test"), entry_key("ws1", "j1", "b@x.test")
    assert archive.put(first, entry) is True
    (tmp_path / "a" / f"{second}.json").write_text("torn")  # a crash after the sidecar, before the .eml
    assert archive.has(second) is False
    assert archive.put(second, ArchiveEntry(**{**entry.__dict__, "recipient": "b@x.test", "sent": b"two\r\n"}))
    assert (tmp_path / "a" / f"{second}.eml").read_bytes() == b"two\r\n"
    assert '"b@x.test"' in (tmp_path / "a" / f"{second}.json").read_text()  # the sidecar written again, whole
    assert archive.put(first, ArchiveEntry(**{**entry.__dict__, "sent": b"again"})) is False
    assert (tmp_path / "a" / f"{first}.eml").read_bytes() == b"one\r\n"
    assert archive.put(entry_key("ws2", "j9", "c@x.test"), entry) and archive.has(entry_key("ws2", "j9", "c@x.test"))


def test_local_archive_calls_run_on_the_event_loop_and_s3_calls_in_a_thread(tmp_path):
    assert LocalArchive.remote is False and S3Archive.remote is True
    threads: dict[bool, int] = {}

    class Probe:
        def __init__(self, remote: bool):
            self.remote = remote

        def put(self, key, entry) -> bool:
            threads[self.remote] = threading.get_ident()
            return True

    async def both() -> int:
        for remote in (False, True):
            probe = Probe(remote)
            assert await handling._archive(probe, probe.put, "k", None) is True
        return threading.get_ident()

    loop_thread = run_async(both())
    assert threads[False] == loop_thread  # a few file system calls: cheaper than a thread's handover
    assert threads[True] != loop_thread  # a network round trip must not stall the loop
