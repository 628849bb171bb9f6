"""Jobs too large for SQS go through S3 (moto's standalone server): a pointer on the queue, the bytes in the
archive bucket's ``.queue`` folder, fetched and checked by the worker, deleted once the job is finished (done or
dead-lettered), kept while it is retried; a missing, changed or foreign object dead-letters the job with the
reason. Delivery is the real client to a real aiosmtpd STARTTLS + AUTH server."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import io
import json

import boto3
import pytest
import sqlalchemy as sa

from smtp_egress.jobs.worker import WorkerConfig, enqueue, run_worker
from smtp_egress.ledger import Ledger
from smtp_egress.scripts.cli import main
from smtp_egress.tables import worker_dead_letters
from smtp_egress.worker.archive import ArchiveError
from smtp_egress.worker.backoff import RetryPolicy
from smtp_egress.worker.job import encode, new_job
from smtp_egress.worker.offload import MessageStore
from smtp_egress.worker.ports import StaticServers
from smtp_egress.worker.queue import MessageTooLarge
from smtp_egress.worker.sqs import SqsQueue

from .conftest import FAST, message, run_async, server_for

MIB = 1024 * 1024


def big_message(seed: str = "a") -> bytes:
    body = "".join(f"line {i:07d} {seed * 60}\n" for i in range(MIB // 73 + 1))
    return message(body=body)


def stored_keys(moto_server, bucket: str) -> list[str]:
    s3 = boto3.client("s3", endpoint_url=moto_server.url)
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="archive/.queue/").get("Contents", []))


def run_real(config: WorkerConfig, port: int, cafile: str):
    """The loop with the real delivery client (made inside the loop it runs on)."""
    from smtp_egress.delivery import Deliverer

    async def go():
        deliverer = Deliverer(allow_private=True, ca_file=cafile, timeout=10)
        servers = StaticServers({"ws1": [server_for(port)]})
        return await run_worker(config, deliverer=deliverer, servers=servers, once=True)

    return run_async(go())


@pytest.fixture
def large(sqs, bucket, moto_server, place, smtp_server, cafile):
    """enqueue(recipients, msg) through the Python API onto SQS with the S3 archive, run() the worker once."""

    class Large:
        client, url, dlq = sqs
        archive = f"s3://{bucket}/archive"
        server = smtp_server("starttls")

        def enqueue(self, recipients=("r1@x.test",), msg: bytes | None = None, **kw):
            msg = msg or big_message()
            return enqueue(self.url, workspace_id="ws1", sender="a@c.test", recipients=list(recipients), message=msg,
                           endpoint_url=moto_server.url, archive=self.archive, **kw)  # fmt: skip

        def run(self, settings=FAST):
            config = WorkerConfig(place.db, self.url, self.archive, endpoint_url=moto_server.url, settings=settings)
            return run_real(config, self.server.port, cafile)

        def dead_reasons(self) -> list[str]:
            got = self.client.receive_message(QueueUrl=self.dlq, MessageAttributeNames=["All"], WaitTimeSeconds=1)
            return [m["MessageAttributes"]["reason"]["StringValue"] for m in got.get("Messages", [])]

        def ledger_dead(self) -> list[str]:
            ledger = Ledger(place.db)
            try:
                return [r.reason for r in ledger.conn.execute(sa.select(worker_dead_letters))]
            finally:
                ledger.close()

    return Large()


def test_a_1_mib_message_is_queued_as_a_pointer_and_delivered_byte_for_byte(large, bucket, moto_server, tmp_path):
    msg = big_message()
    (tmp_path / "big.eml").write_bytes(msg)
    out = io.StringIO()
    where = ["--queue", large.url, "--archive", large.archive, "--endpoint-url", moto_server.url]
    argv = ["worker", "enqueue", "--workspace", "ws1", "--from", "a@c.test", "--to", "r1@x.test", "--json", *where,
            str(tmp_path / "big.eml")]  # fmt: skip
    with contextlib.redirect_stdout(out):
        assert main(argv) == 0
    job_id = json.loads(out.getvalue())["job_id"]
    (queued,) = large.client.receive_message(QueueUrl=large.url, VisibilityTimeout=0)["Messages"]
    body = json.loads(queued["Body"])
    assert "message" not in body and len(queued["Body"]) < 1000
    digest = hashlib.sha256(msg).hexdigest()
    key = f"archive/.queue/{job_id}"
    assert body["stored"] == {"bucket": bucket, "key": key, "size": len(msg), "sha256": digest}
    assert stored_keys(moto_server, bucket) == [key]

    tally = large.run()
    assert (tally.delivered, tally.failed, tally.dead_letters) == (1, 0, 0)
    (got,) = large.server.handler.messages
    sent = msg.replace(b"\n", b"\r\n")
    assert len(got.content) > MIB and got.content == sent  # byte for byte
    s3 = boto3.client("s3", endpoint_url=moto_server.url)
    archived = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="archive/ws1/")["Contents"]]
    eml = next(k for k in archived if k.endswith(".eml"))
    assert s3.get_object(Bucket=bucket, Key=eml)["Body"].read() == sent
    assert stored_keys(moto_server, bucket) == []  # deleted once the job was done
    assert (tally.left.ready, tally.left.in_flight, tally.left.delayed) == (0, 0, 0)


def test_a_small_job_never_touches_s3(large, bucket, moto_server):
    large.enqueue(msg=message())
    (queued,) = large.client.receive_message(QueueUrl=large.url, VisibilityTimeout=0)["Messages"]
    assert "message" in json.loads(queued["Body"]) and "stored" not in json.loads(queued["Body"])
    assert stored_keys(moto_server, bucket) == []


def test_the_stored_message_stays_while_the_job_is_retried(large, bucket, moto_server):
    job = large.enqueue(recipients=["defer451@x.test"])
    later = dataclasses.replace(FAST, policy=RetryPolicy(60, 120, max_age=dt.timedelta(hours=1)))
    tally = large.run(later)  # deferred: the job comes back in a minute
    left = tally.left
    assert (tally.deferred, tally.dead_letters) == (1, 0) and left.in_flight + left.delayed + left.ready == 1
    assert stored_keys(moto_server, bucket) == [f"archive/.queue/{job.job_id}"]


def _tamper(how: str, bucket: str, key: str, moto_server) -> None:
    s3 = boto3.client("s3", endpoint_url=moto_server.url)
    data = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    if how == "missing":
        s3.delete_object(Bucket=bucket, Key=key)
    elif how == "changed":  # same size, other bytes
        s3.put_object(Bucket=bucket, Key=key, Body=data.replace(b"line 0000001", b"line 9999991"))
    else:
        s3.put_object(Bucket=bucket, Key=key, Body=data[:-100])


@pytest.mark.parametrize(
    "how, said",
    [
        ("missing", "is missing (expired or deleted)"),
        ("changed", "does not match the job's SHA-256"),
        ("truncated", "bytes, the job says"),
    ],
)
def test_a_missing_or_changed_object_dead_letters_the_job_with_the_reason(large, bucket, moto_server, how, said):
    ok = large.enqueue(recipients=["r2@x.test"], msg=big_message("b"))
    job = large.enqueue()
    _tamper(how, bucket, f"archive/.queue/{job.job_id}", moto_server)
    tally = large.run()  # one worker run: the other job is delivered, the worker goes on
    assert (tally.delivered, tally.failed, tally.dead_letters) == (1, 1, 1)
    assert [m.rcpt_tos for m in large.server.handler.messages] == [["r2@x.test"]]
    (reason,) = large.dead_reasons()
    assert said in reason and job.job_id in reason
    (recorded,) = large.ledger_dead()
    assert said in recorded
    assert stored_keys(moto_server, bucket) == []  # both finished: the ok one done, the other dead-lettered
    assert ok.job_id != job.job_id


def test_a_pointer_outside_the_queue_folder_is_neither_fetched_nor_deleted(large, bucket, moto_server):
    s3 = boto3.client("s3", endpoint_url=moto_server.url)
    s3.put_object(Bucket=bucket, Key="archive/ws1/other/entry.eml", Body=message())
    data = message()
    job = new_job(workspace_id="ws1", sender="a@c.test", recipients=["r1@x.test"], message=data)
    from smtp_egress.worker.job import StoredMessage

    forged = StoredMessage(bucket, "archive/ws1/other/entry.eml", len(data), hashlib.sha256(data).hexdigest())
    large.client.send_message(QueueUrl=large.url, MessageBody=encode(job, forged))
    tally = large.run()
    assert (tally.delivered, tally.dead_letters) == (0, 1)
    (reason,) = large.dead_reasons()
    assert "outside s3://" in reason and "not fetched" in reason
    assert s3.get_object(Bucket=bucket, Key="archive/ws1/other/entry.eml")["Body"].read() == data


def test_a_job_is_stored_once_and_another_message_under_its_id_is_refused(large, bucket, moto_server):
    msg = big_message()
    large.enqueue(msg=msg, job_id="j-1")
    large.enqueue(msg=msg, job_id="j-1")  # enqueued again (a retry of the enqueuer): the same bytes, accepted
    with pytest.raises(ArchiveError, match=r"another message is already stored at s3://.*/archive/\.queue/j-1"):
        large.enqueue(msg=big_message("z"), job_id="j-1")
    assert stored_keys(moto_server, bucket) == ["archive/.queue/j-1"]


def test_s3_unreachable_hands_the_job_back_instead_of_dead_lettering_it(large, moto_server):
    large.enqueue()
    store = MessageStore(large.archive, endpoint_url="http://127.0.0.1:9")  # nothing listens on port 9
    queue = SqsQueue(large.url, endpoint_url=moto_server.url, store=store)
    try:
        assert queue.receive(10, lease_seconds=30, wait_seconds=1) == []
        counts = queue.counts()
        assert (counts.ready, counts.in_flight + counts.delayed, counts.dead) == (0, 1, 0)
    finally:
        queue.close()


def test_a_job_too_large_even_without_its_message_is_refused_before_anything_is_stored(large, bucket, moto_server):
    recipients = [f"{'r' * 60}{i:04d}@{'x' * 200}.test" for i in range(1000)]  # about 270 KB of addresses
    with pytest.raises(MessageTooLarge, match=r"even without its message .* split its recipients"):
        large.enqueue(recipients=recipients)
    assert stored_keys(moto_server, bucket) == []
