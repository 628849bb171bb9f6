"""The SQS queue and the S3 archive against moto's standalone server: leases (visibility), extension, batch
calls, the dead-letter queue from the redrive policy, the size limit, conditional archive puts; and a whole run."""

from __future__ import annotations

import json
import time

import boto3
import pytest

from smtp_egress.jobs.worker import WorkerConfig, enqueue
from smtp_egress.worker.archive import ArchiveEntry, S3Archive
from smtp_egress.worker.job import new_job
from smtp_egress.worker.ports import StaticServers
from smtp_egress.worker.queue import MessageTooLarge
from smtp_egress.worker.sqs import SqsQueue

from .conftest import FAST, message, run_once, server_for


def a_job(i: int = 0, size: int = 0):
    return new_job(
        workspace_id="ws1", sender="a@c.test", recipients=["r@x.test"], message=message(body="x" * size or f"{i}")
    )


def test_a_lease_hides_a_job_until_it_runs_out_and_extending_keeps_it_hidden(sqs, moto_server):
    _, url, _ = sqs
    queue = SqsQueue(url, endpoint_url=moto_server.url)
    queue.put([a_job(i) for i in range(12)])  # two batch calls
    first = queue.receive(20, lease_seconds=1, wait_seconds=1)
    assert len(first) == 12 and {le.attempt for le in first} == {1}
    queue.extend(first[:6], 30)
    time.sleep(1.5)
    again = queue.receive(20, lease_seconds=30, wait_seconds=1)
    assert {le.job.job_id for le in again} == {le.job.job_id for le in first[6:]}  # the extended six stay hidden
    assert {le.attempt for le in again} == {2}
    queue.done(again)
    queue.retry(first[0], 0)
    assert [le.job.job_id for le in queue.receive(20, 30, 1)] == [first[0].job.job_id]
    queue.close()


def test_a_dead_letter_goes_to_the_redrive_policys_queue_with_its_reason(sqs, moto_server):
    client, url, dlq = sqs
    queue = SqsQueue(url, endpoint_url=moto_server.url)
    job = a_job()
    queue.put([job])
    (lease,) = queue.receive(1, 30, 1)
    queue.dead_letter(lease, "1 recipient(s) failed; first r@x.test: 550 no such mailbox")
    assert queue.counts().dead == 1 and queue.counts().ready == 0
    got = client.receive_message(QueueUrl=dlq, MessageAttributeNames=["All"], WaitTimeSeconds=1)["Messages"]
    assert json.loads(got[0]["Body"])["id"] == job.job_id
    assert got[0]["MessageAttributes"]["reason"]["StringValue"].endswith("550 no such mailbox")
    queue.close()


def test_a_message_too_large_for_sqs_is_refused_before_sending(sqs, moto_server):
    _, url, _ = sqs
    queue = SqsQueue(url, endpoint_url=moto_server.url)
    with pytest.raises(MessageTooLarge, match=r"more than the 258048 an SQS message can carry; set EGRESS_ARCHIVE"):
        queue.put([a_job(size=200 * 1024)])
    assert queue.counts().ready == 0
    queue.close()


def test_the_s3_archive_stores_an_entry_once(bucket, moto_server):
    archive = S3Archive(f"s3://{bucket}/mail", endpoint_url=moto_server.url)
    entry = ArchiveEntry(
        "ws1", "j1", "r@x.test", b"Subject: hi\r\n\r\nbody\r\n", 250, "2.0.0 queued", "ws1/h:587", None
    )
    assert not archive.has("ws1/j1/k")
    assert archive.put("ws1/j1/k", entry) is True
    assert archive.put("ws1/j1/k", entry) is False  # If-None-Match: the second put stores nothing
    assert archive.has("ws1/j1/k")
    s3 = boto3.client("s3", endpoint_url=moto_server.url)
    assert s3.get_object(Bucket=bucket, Key="mail/ws1/j1/k.eml")["Body"].read() == entry.sent
    assert json.loads(s3.get_object(Bucket=bucket, Key="mail/ws1/j1/k.json")["Body"].read())["code"] == 250


def test_a_whole_run_from_sqs_to_the_s3_archive(sqs, bucket, moto_server, place, smtp_server, cafile):
    client, url, dlq = sqs
    server = smtp_server("starttls")
    ok = enqueue(url, workspace_id="ws1", sender="a@c.test", recipients=["r1@x.test", "r2@x.test"], message=message(),
                 endpoint_url=moto_server.url)  # fmt: skip
    bad = enqueue(url, workspace_id="ws1", sender="a@c.test", recipients=["reject550@x.test"], message=message(),
                  endpoint_url=moto_server.url)  # fmt: skip
    config = WorkerConfig(place.db, url, f"s3://{bucket}/mail", endpoint_url=moto_server.url, settings=FAST)
    tally = run_once(config, StaticServers({"ws1": [server_for(server.port)]}), cafile)
    assert (tally.delivered, tally.failed, tally.dead_letters) == (2, 1, 1)
    s3 = boto3.client("s3", endpoint_url=moto_server.url)
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"] if o["Key"].endswith(".eml"))
    assert len(keys) == 2 and all(k.startswith(f"mail/ws1/{ok.job_id}/") for k in keys)
    dead = client.receive_message(QueueUrl=dlq, WaitTimeSeconds=1)["Messages"]
    assert json.loads(dead[0]["Body"])["id"] == bad.job_id
    left = tally.left
    assert (left.ready, left.in_flight, left.delayed) == (0, 0, 0)
