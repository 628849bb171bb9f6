"""A send job: what the platform hands the worker (one rendered message, its envelope, whose it is).

A job is validated when it is made (:func:`new_job`): envelope addresses, a message that is not empty, at most
:data:`MAX_MESSAGE_BYTES`, with a header block. On a queue it travels as JSON (:func:`encode` /
:func:`decode`; the message base64-encoded): the same text in the embedded queue and on SQS. A job too large for
SQS travels without its message: ``"stored"`` holds a :class:`StoredMessage` (where the bytes wait in S3, their
size and SHA-256) instead of ``"message"`` (:func:`decode_queued` reads both forms).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime as dt
import json
import re
import uuid
from collections.abc import Sequence

from ..errors import InputError
from ..masking import excerpt

MAX_MESSAGE_BYTES = 10 * 1024 * 1024  # a rendered message larger than this is refused at enqueue time
MAX_RECIPIENTS = 1000
FORMAT = 1  # the JSON layout's version, in every encoded job
# An envelope address: local@domain, printable ASCII or UTF-8 (SMTPUTF8), no spaces, brackets or controls.
_ADDRESS = re.compile(r"[^\s<>()\[\]\\,;:@\"]{1,64}@[^\s<>()\[\]\\,;:@\"]{1,253}")
_CAMPAIGN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


class JobError(InputError):
    """A send job that cannot be accepted: a bad address, an empty or oversized message, a malformed payload."""


@dataclasses.dataclass(frozen=True)
class SendJob:
    """One rendered message for ``recipients`` of ``workspace_id``; ``job_id`` names it everywhere (the outcome
    rows, the archive's keys), ``enqueued_at`` starts the clock of its maximum age."""

    job_id: str
    workspace_id: str
    campaign_type: str | None
    sender: str
    recipients: tuple[str, ...]
    message: bytes
    enqueued_at: dt.datetime


@dataclasses.dataclass(frozen=True)
class StoredMessage:
    """Where a job's message waits when the job is too large for its queue: an S3 object, its size and SHA-256."""

    bucket: str
    key: str
    size: int
    sha256: str

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def address_problem(address: str, *, null_ok: bool = False) -> str | None:
    """Why ``address`` is not an envelope address (None: it is one; ``""`` is the null sender if ``null_ok``)."""
    if address == "" and null_ok:
        return None
    if not _ADDRESS.fullmatch(address) or not address.isprintable() or ".." in address.split("@")[1]:
        return f"{excerpt(address)} is not an email address (local@domain, no spaces, brackets or commas)"
    return None


def check_workspace(workspace_id: str) -> None:
    if not workspace_id or len(workspace_id) > 200 or not workspace_id.isprintable():
        raise JobError(f"the workspace {excerpt(workspace_id)} is not a workspace id (1-200 printable characters)")


def check_campaign_type(campaign_type: str | None) -> None:
    if campaign_type is not None and not _CAMPAIGN.fullmatch(campaign_type):
        raise JobError(f"the campaign type {excerpt(campaign_type)} is not one (letters, digits, _ . -; 1-64)")


def check_sender(sender: str) -> None:
    problem = address_problem(sender, null_ok=True)
    if problem:
        raise JobError(f"the sender {problem}")


def check_recipients(recipients: Sequence[str]) -> None:
    if not recipients:
        raise JobError("a job needs at least one recipient (--to ADDR)")
    if len(recipients) > MAX_RECIPIENTS:
        raise JobError(f"a job has at most {MAX_RECIPIENTS} recipients, not {len(recipients)}: split it")
    for recipient in recipients:
        problem = address_problem(recipient)
        if problem:
            raise JobError(f"the recipient {problem}")


def new_job(
    *,
    workspace_id: str,
    sender: str,
    recipients: Sequence[str],
    message: bytes,
    campaign_type: str | None = None,
    job_id: str | None = None,
    now: dt.datetime | None = None,
) -> SendJob:
    """A validated job; :class:`JobError` names the first bad value and what to do."""
    check_workspace(workspace_id)
    check_campaign_type(campaign_type)
    check_sender(sender)
    check_recipients(recipients)
    message_problem(message)
    return SendJob(
        job_id=job_id or uuid.uuid4().hex,
        workspace_id=workspace_id,
        campaign_type=campaign_type,
        sender=sender,
        recipients=tuple(dict.fromkeys(recipients)),  # each recipient once, in order
        message=message,
        enqueued_at=now or dt.datetime.now(dt.UTC),
    )


def message_problem(message: bytes) -> None:
    """Refuse a message the worker could never send: empty, larger than the bound, or without a header block."""
    if not message.strip():
        raise JobError("the message is empty: give the rendered message (RFC 5322: headers, blank line, body)")
    if len(message) > MAX_MESSAGE_BYTES:
        raise JobError(f"the message has {len(message)} bytes, more than the limit of {MAX_MESSAGE_BYTES}")
    head = message.split(b"\n", 1)[0]
    if b":" not in head or head[:1] in (b" ", b"\t"):
        raise JobError(f"the message does not start with a header line (found {excerpt(head[:60].decode('latin-1'))})")


def encode(job: SendJob, stored: StoredMessage | None = None) -> str:
    """The job as JSON text (what a queue stores); with ``stored``, the pointer instead of the message."""
    data: dict[str, object] = {
        "v": FORMAT,
        "id": job.job_id,
        "workspace": job.workspace_id,
        "campaign_type": job.campaign_type,
        "from": job.sender,
        "to": list(job.recipients),
        "enqueued_at": job.enqueued_at.isoformat(),
    }
    if stored is None:
        data["message"] = base64.b64encode(job.message).decode("ascii")
    else:
        data["stored"] = dataclasses.asdict(stored)
    return json.dumps(data, separators=(",", ":"))


def decode(text: str) -> SendJob:
    """A job from :func:`encode`'s text; :class:`JobError` for anything else (a foreign or damaged message, or a
    job whose message is stored elsewhere: :func:`decode_queued` reads those)."""
    job, stored = decode_queued(text)
    if stored is not None:
        raise JobError(f"a queued job's message is stored at {excerpt(stored.url)}, not in the job")
    return job


def decode_queued(text: str) -> tuple[SendJob, StoredMessage | None]:
    """A job from :func:`encode`'s text, and where its message is if it is stored (then the job's message is
    empty until it is fetched); :class:`JobError` for anything else."""
    try:
        data = json.loads(text)
        if data.get("v") != FORMAT:
            raise ValueError(f"layout version {data.get('v')!r}")
        stored = None
        if "stored" in data:
            s = data["stored"]
            stored = StoredMessage(str(s["bucket"]), str(s["key"]), int(s["size"]), str(s["sha256"]))
            if not 0 < stored.size <= MAX_MESSAGE_BYTES or not re.fullmatch(r"[0-9a-f]{64}", stored.sha256):
                raise ValueError(f"a stored message of {stored.size} bytes, digest {stored.sha256[:70]!r}")
        job = SendJob(
            job_id=str(data["id"]),
            workspace_id=str(data["workspace"]),
            campaign_type=data["campaign_type"],
            sender=str(data["from"]),
            recipients=tuple(str(r) for r in data["to"]),
            message=b"" if stored is not None else base64.b64decode(data["message"], validate=True),
            enqueued_at=dt.datetime.fromisoformat(data["enqueued_at"]),
        )
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error) as exc:
        raise JobError(f"a queued message is not a send job ({excerpt(str(exc))}): {excerpt(text, 60)}") from None
    return job, stored
