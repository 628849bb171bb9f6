"""Jobs too large for SQS: the message waits in S3, the queued job carries a pointer (:class:`StoredMessage`).

SQS carries at most 256 KiB per message, body and attributes together. A job whose encoding is larger than
:data:`~smtp_egress.worker.sqs.LARGE` has its message stored at ``s3://BUCKET/PREFIX/.queue/JOB_ID``, beside the
archive of ``EGRESS_ARCHIVE`` (``s3://BUCKET/PREFIX``: the enqueuer and the workers name the same one), by a
conditional put (``If-None-Match: *``): the same job enqueued again finds its own bytes there and goes on, a
different message under the same job id is refused. No archive entry's key starts with a dot, so ``.queue``
holds nothing else: the component's lifecycle rule expires what is left there after :data:`EXPIRE_DAYS` days.

The worker fetches the object when it receives the job and checks its size and SHA-256. A missing object, a
changed one, or a pointer outside this folder is a failure of that job (:class:`StoredMessageProblem`: it is
dead-lettered with the reason); S3 unreachable is not (:class:`~.archive.ArchiveError`: the job waits and comes
back). The object is deleted once the job is finished (done or dead-lettered), never on a retry.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from ..masking import excerpt
from .archive import ArchiveError, path_component, s3_client, s3_location
from .job import SendJob, StoredMessage

QUEUE_FOLDER = ".queue"
EXPIRE_DAYS = 15  # SQS's longest retention (14 days) + a day: no queued job points at an older object
_MISSING = ("NoSuchKey", "404", "NotFound")
_TAKEN = ("PreconditionFailed", "412", "ConditionalRequestConflict")
log = logging.getLogger("smtp_egress.worker")


class StoredMessageProblem(Exception):
    """Why a job's stored message cannot be used: missing, changed, or not where this store keeps messages."""


def _code(exc: Any) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class MessageStore:
    """The ``.queue`` folder beside the S3 archive ``archive_url`` (``s3://bucket/prefix``)."""

    def __init__(self, archive_url: str, *, endpoint_url: str | None = None, region: str | None = None):
        self.bucket, prefix = s3_location(archive_url)
        self.folder = f"{prefix}/{QUEUE_FOLDER}/" if prefix else f"{QUEUE_FOLDER}/"
        self.location = f"s3://{self.bucket}/{self.folder}"
        self._s3: Any = s3_client(endpoint_url, region)

    def pointer(self, job: SendJob) -> StoredMessage:
        """Where :meth:`put` stores ``job``'s message, with its size and SHA-256 (nothing is stored yet)."""
        digest = hashlib.sha256(job.message).hexdigest()
        return StoredMessage(self.bucket, self.folder + path_component(job.job_id), len(job.message), digest)

    def put(self, job: SendJob) -> StoredMessage:
        """Store ``job``'s message (once); the pointer the queued job carries."""
        import botocore.exceptions

        stored = self.pointer(job)
        digest = stored.sha256
        try:
            self._s3.put_object(
                Bucket=stored.bucket, Key=stored.key, Body=job.message, IfNoneMatch="*",
                Metadata={"sha256": digest}, ContentType="message/rfc822",
            )  # fmt: skip
        except botocore.exceptions.ClientError as exc:
            if _code(exc) not in _TAKEN:
                raise ArchiveError(
                    f"cannot store job {job.job_id}'s message at {stored.url}: {excerpt(str(exc), 200)}"
                ) from None
            if self._digest(stored) != digest:
                raise ArchiveError(
                    f"job {excerpt(job.job_id)}: another message is already stored at {stored.url}; "
                    "give this job an id of its own"
                ) from None
        except botocore.exceptions.BotoCoreError as exc:
            raise ArchiveError(f"cannot reach {self.location} to store job {job.job_id}'s message: {exc}") from None
        return stored

    def _digest(self, stored: StoredMessage) -> str | None:
        import botocore.exceptions

        try:
            head = self._s3.head_object(Bucket=stored.bucket, Key=stored.key)
            found = head.get("Metadata", {}).get("sha256")
            return str(found) if found is not None else None
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
            raise ArchiveError(f"cannot read {stored.url}: {excerpt(str(exc), 200)}") from None

    def owns(self, stored: StoredMessage) -> bool:
        """True if ``stored`` is in this store's folder (a job names no other object to fetch or delete)."""
        name = stored.key.removeprefix(self.folder)
        return stored.bucket == self.bucket and name != stored.key and bool(name) and "/" not in name

    def fetch(self, stored: StoredMessage) -> bytes:
        """The message, checked against the pointer's size and SHA-256."""
        import botocore.exceptions

        if not self.owns(stored):
            raise StoredMessageProblem(f"the job's message is said to be at {excerpt(stored.url)}, outside "
                                       f"{self.location}: not fetched")  # fmt: skip
        try:
            got = self._s3.get_object(Bucket=stored.bucket, Key=stored.key)
            if got.get("ContentLength") != stored.size:
                raise StoredMessageProblem(
                    f"the job's stored message {stored.url} has {got.get('ContentLength')} bytes, the job says "
                    f"{stored.size}: it is not the job's message"
                )
            data: bytes = got["Body"].read(stored.size + 1)
        except botocore.exceptions.ClientError as exc:
            if _code(exc) in _MISSING:
                raise StoredMessageProblem(
                    f"the job's stored message {stored.url} is missing (expired or deleted)"
                ) from None
            raise ArchiveError(f"cannot read {stored.url}: {excerpt(str(exc), 200)}") from None
        except botocore.exceptions.BotoCoreError as exc:
            raise ArchiveError(f"cannot read {stored.url}: {exc}") from None
        if len(data) != stored.size or hashlib.sha256(data).hexdigest() != stored.sha256:
            raise StoredMessageProblem(
                f"the job's stored message {stored.url} does not match the job's SHA-256: it was changed after the "
                "job was queued"
            )
        return data

    def delete(self, stored: StoredMessage) -> None:
        """Remove a finished job's message (a failure is logged: the lifecycle rule removes it later)."""
        import botocore.exceptions

        if not self.owns(stored):
            return
        try:
            self._s3.delete_object(Bucket=stored.bucket, Key=stored.key)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
            log.warning("cannot delete %s (the lifecycle rule will): %s", stored.url, excerpt(str(exc), 200))
