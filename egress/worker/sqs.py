"""The SQS queue (``EGRESS_QUEUE=https://sqs.REGION.amazonaws.com/ACCOUNT/NAME``), through boto3.

A lease is SQS's visibility timeout: ``receive`` long-polls (up to 20 s) for up to 10 messages, and when that
call comes back full takes the rest of the batch in parallel calls (batch deletes and extensions too),
``extend`` is ``ChangeMessageVisibilityBatch`` (the worker calls it while deliveries run), ``retry`` sets the
message's visibility to the backoff delay (at most 12 hours, SQS's limit), ``done`` is ``DeleteMessageBatch``.
``dead_letter`` sends the job, with its reason as a message attribute, to the dead-letter queue named by the
queue's redrive policy (the component's DLQ, which alarms), then deletes it; without a redrive policy the job
leaves the queue and its dead letter is only in the ledger.

Large jobs: a job whose encoding exceeds :data:`LARGE` (SQS's 256 KiB less room for attributes) has its message
stored in S3 by ``store`` (:class:`~.offload.MessageStore`, beside the S3 archive) and travels as a pointer;
``receive`` fetches and checks it (a missing or changed object makes a lease with a ``problem``: the worker
dead-letters that job with the reason; S3 unreachable hands the job back for :data:`FETCH_RETRY` seconds), and
the object is deleted once the job is done or dead-lettered. Without a store such a job is refused at enqueue
time (:class:`MessageTooLarge`). Small jobs never touch S3.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import functools
import json
import logging
import re
from collections.abc import Callable, Sequence
from typing import Any

from ..masking import excerpt
from . import job as jobs
from .archive import ArchiveError
from .offload import MessageStore, StoredMessageProblem
from .queue import Lease, MessageTooLarge, QueueCounts, QueueError

_REGION = re.compile(r"https://sqs\.([a-z0-9-]+)\.amazonaws\.com/")
MAX_BODY = 256 * 1024  # SQS's limit: body and attributes
LARGE = MAX_BODY - 4096  # a larger encoded job goes through S3 (room for the dead-letter reason attribute)
FETCH_RETRY = 60  # seconds before a job whose stored message could not be read comes back
BATCH = 10  # SQS's limit per batch call
MAX_VISIBILITY = 12 * 3600
PARALLEL = 10  # SQS calls at once
log = logging.getLogger("smtp_egress.worker")


class SqsQueue:
    def __init__(
        self, url: str, *, endpoint_url: str | None = None, region: str | None = None, store: MessageStore | None = None
    ):
        import boto3
        import botocore.exceptions
        from botocore.config import Config

        self.url = url
        self.location = url
        self.store = store
        config = Config(connect_timeout=10, read_timeout=30, retries={"mode": "standard", "max_attempts": 4})
        found = _REGION.match(url)
        region = region or (found.group(1) if found else None)
        try:
            self._sqs: Any = boto3.client("sqs", endpoint_url=endpoint_url, region_name=region, config=config)
        except botocore.exceptions.NoRegionError:
            raise QueueError(f"no AWS region for the queue {excerpt(url)}: give --region or EGRESS_REGION") from None
        except (ValueError, botocore.exceptions.BotoCoreError) as exc:
            raise QueueError(f"the queue {excerpt(url)} cannot be used: {excerpt(str(exc), 200)}") from None
        self._dlq: str | bool | None = False  # False: not looked up yet
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None

    def _call(self, what: str, **kwargs: Any) -> Any:
        import botocore.exceptions

        try:
            return getattr(self._sqs, what)(**kwargs)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
            raise QueueError(f"SQS {what} on {self.url!r} failed: {excerpt(str(exc), 300)}") from None

    def put(self, jobs_: Sequence[jobs.SendJob]) -> None:
        bodies = [(j.job_id, self._body(j)) for j in jobs_]
        for start in range(0, len(bodies), BATCH):
            chunk = bodies[start : start + BATCH]
            entries = [{"Id": str(i), "MessageBody": body} for i, (_, body) in enumerate(chunk)]
            failed = self._call("send_message_batch", QueueUrl=self.url, Entries=entries).get("Failed") or []
            if failed:
                raise QueueError(f"SQS refused {len(failed)} jobs on {self.url!r}: {excerpt(str(failed[0]), 200)}")

    def _body(self, job: jobs.SendJob) -> str:
        """The job's SQS body: the job itself, or (larger than :data:`LARGE`) a pointer to its stored message."""
        body = jobs.encode(job)
        size = len(body.encode())
        if size <= LARGE:
            return body
        if self.store is None:
            raise MessageTooLarge(
                f"job {job.job_id}: the encoded job has {size} bytes, more than the {LARGE} an SQS message can carry; "
                "set EGRESS_ARCHIVE (--archive) to the workers' s3://bucket/prefix to send it through S3, "
                "or use the embedded queue"
            )
        body = jobs.encode(job, self.store.pointer(job))
        if len(body.encode()) > LARGE:  # refused before anything is stored
            raise MessageTooLarge(
                f"job {job.job_id}: even without its message the job has {len(body.encode())} bytes, more than "
                f"the {LARGE} an SQS message can carry: split its recipients over several jobs"
            )
        self.store.put(job)
        return body

    def _receive_once(self, count: int, lease_seconds: float, wait: int) -> list[Lease]:
        answer = self._call(
            "receive_message",
            QueueUrl=self.url,
            MaxNumberOfMessages=count,
            VisibilityTimeout=int(lease_seconds),
            WaitTimeSeconds=wait,
            MessageSystemAttributeNames=["ApproximateReceiveCount"],
        )
        leases = []
        for m in answer.get("Messages") or []:
            attempt = int(m.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
            job, stored = jobs.decode_queued(m["Body"])
            leases.append(Lease(job, m["ReceiptHandle"], attempt, stored))
        return leases

    def _fetched(self, lease: Lease) -> Lease | None:
        """``lease`` with its stored message; with a ``problem`` if that cannot be had; None: S3 is unreachable
        (the job is handed back for :data:`FETCH_RETRY` seconds)."""
        stored = lease.stored
        assert stored is not None
        if self.store is None:
            problem = f"the job's message is stored at {excerpt(stored.url)}, and this worker has no S3 archive "
            return dataclasses.replace(lease, problem=problem + "(EGRESS_ARCHIVE) to fetch it from")
        try:
            message = self.store.fetch(stored)
        except StoredMessageProblem as exc:
            return dataclasses.replace(lease, problem=str(exc))
        except ArchiveError as exc:
            log.warning("job %s: %s; it comes back in %d s", lease.job.job_id, exc, FETCH_RETRY)
            self.retry(lease, FETCH_RETRY)
            return None
        return dataclasses.replace(lease, job=dataclasses.replace(lease.job, message=message))

    def receive(self, limit: int, lease_seconds: float, wait_seconds: float) -> list[Lease]:
        """One long poll; when it comes back full, the rest of ``limit`` in parallel calls (SQS gives 10 a call)."""
        leases = self._receive_once(min(BATCH, limit), lease_seconds, min(20, int(wait_seconds)))
        if len(leases) == BATCH and limit > BATCH:
            counts = [min(BATCH, limit - n) for n in range(BATCH, limit, BATCH)]
            for more in self._parallel([functools.partial(self._receive_once, c, lease_seconds, 0) for c in counts]):
                leases.extend(more)
        stored = [i for i, le in enumerate(leases) if le.stored is not None]
        if not stored:
            return leases
        calls: list[Callable[[], Any]] = [functools.partial(self._fetched, leases[i]) for i in stored]
        fetched: dict[int, Lease | None] = dict(zip(stored, self._parallel(calls), strict=True))
        opened = [fetched.get(i, le) for i, le in enumerate(leases)]
        return [le for le in opened if le is not None]

    def _parallel(self, calls: list[Callable[[], Any]]) -> list[Any]:
        """Run independent SQS calls at once (a batch of 100 jobs is 10 calls: one round trip, not ten)."""
        if len(calls) <= 1:
            return [call() for call in calls]
        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(PARALLEL, thread_name_prefix="sqs")
        return list(self._pool.map(lambda call: call(), calls))

    def _batch(self, what: str, entries: list[dict[str, Any]]) -> set[str]:
        """Run a batch call over ``entries`` (10 a call); the Ids of the entries that failed."""
        chunks = [entries[start : start + BATCH] for start in range(0, len(entries), BATCH)]
        answers = self._parallel([functools.partial(self._call, what, QueueUrl=self.url, Entries=c) for c in chunks])
        failed = [f for answer in answers for f in answer.get("Failed") or []]
        if failed:  # the jobs come back when their lease runs out; what was done is skipped then
            log.warning("SQS %s failed for %d entries: %s", what, len(failed), excerpt(str(failed[0]), 200))
        return {str(f.get("Id")) for f in failed}

    def done(self, leases: Sequence[Lease]) -> None:
        entries = [{"Id": str(i), "ReceiptHandle": le.handle} for i, le in enumerate(leases)]
        failed = self._batch("delete_message_batch", entries)
        # a stored message goes once its job has left the queue (a job that comes back still finds it)
        self._forget([le for i, le in enumerate(leases) if str(i) not in failed])

    def _forget(self, leases: Sequence[Lease]) -> None:
        """Delete the stored messages of these finished jobs."""
        store = self.store
        if store is not None:
            gone = [le.stored for le in leases if le.stored is not None]
            self._parallel([functools.partial(store.delete, stored) for stored in gone])

    def retry(self, lease: Lease, delay_seconds: float) -> None:
        seconds = max(0, min(MAX_VISIBILITY, int(delay_seconds)))
        self._call(
            "change_message_visibility", QueueUrl=self.url, ReceiptHandle=lease.handle, VisibilityTimeout=seconds
        )

    def extend(self, leases: Sequence[Lease], lease_seconds: float) -> None:
        seconds = min(MAX_VISIBILITY, int(lease_seconds))
        entries = [
            {"Id": str(i), "ReceiptHandle": le.handle, "VisibilityTimeout": seconds} for i, le in enumerate(leases)
        ]
        self._batch("change_message_visibility_batch", entries)

    def dead_letter_queue(self) -> str | None:
        """The URL of the queue's dead-letter queue (its redrive policy's target), or None."""
        if self._dlq is False:
            attrs = self._call("get_queue_attributes", QueueUrl=self.url, AttributeNames=["RedrivePolicy"])
            policy = attrs.get("Attributes", {}).get("RedrivePolicy")
            arn = json.loads(policy).get("deadLetterTargetArn") if policy else None
            self._dlq = self._call("get_queue_url", QueueName=arn.rsplit(":", 1)[-1])["QueueUrl"] if arn else None
        return self._dlq if isinstance(self._dlq, str) else None

    def dead_letter(self, lease: Lease, reason: str) -> None:
        dlq = self.dead_letter_queue()
        if dlq is not None:
            self._call(
                "send_message",
                QueueUrl=dlq,
                MessageBody=jobs.encode(lease.job, lease.stored),
                MessageAttributes={"reason": {"DataType": "String", "StringValue": reason[:1000] or "-"}},
            )
        self._call("delete_message", QueueUrl=self.url, ReceiptHandle=lease.handle)
        self._forget([lease])

    def counts(self) -> QueueCounts:
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        names.append("ApproximateNumberOfMessagesDelayed")
        attrs = self._call("get_queue_attributes", QueueUrl=self.url, AttributeNames=names)["Attributes"]
        dead = None
        dlq = self.dead_letter_queue()
        if dlq is not None:
            dead_attrs = self._call("get_queue_attributes", QueueUrl=dlq, AttributeNames=names[:1])["Attributes"]
            dead = int(dead_attrs.get(names[0], 0))
        ready, in_flight, delayed = (int(attrs.get(n, 0)) for n in names)
        return QueueCounts(ready, in_flight, delayed, dead)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
        self._sqs.close()
