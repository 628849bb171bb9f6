"""One leased job, handled: route, (rewrite links,) deliver, archive what was delivered; outcomes per recipient.

:func:`handle` never raises for a delivery problem: whatever happens becomes a per-recipient outcome. Order
matters for crashes: a delivered recipient is archived *before* anything is recorded or acknowledged, and a job
received again skips every recipient already archived (delivered) or recorded final. So a restart never
archives twice; the one window left is SMTP's own (the server accepted, the worker died before the archive
entry was written): that recipient is sent again, and archived once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import time
from collections.abc import Callable, Sequence
from typing import Any

from ..delivery.model import Delivery, Envelope, RecipientOutcome
from ..smtp.model import NoRoute, SmtpServer, choose
from .archive import Archive, ArchiveEntry, entry_key
from .backoff import RetryPolicy
from .queue import Lease
from .record import OutcomeRow

REPLY_LIMIT = 1000


@dataclasses.dataclass(frozen=True)
class Tools:
    """What :func:`handle` works with (the loop builds it once)."""

    servers: Any  # ServerSource
    tracking: Any  # TrackingSource
    rewriter: Any  # LinkRewriter | None
    signer: Any
    deliverer: Any  # DelivererLike
    archive: Archive
    policy: RetryPolicy
    observe: Callable[[str, str, float], None]  # (route, outcome kind, seconds)


@dataclasses.dataclass(frozen=True)
class JobResult:
    """What became of a job: the rows to record, then ``retry_in`` (seconds) or ``dead`` (a reason) or neither."""

    lease: Lease
    rows: tuple[OutcomeRow, ...]
    retry_in: float | None = None
    dead: str | None = None


def _row(lease: Lease, outcome: RecipientOutcome, server: str | None, key: str | None) -> OutcomeRow:
    job = lease.job
    reply = outcome.reply[:REPLY_LIMIT]
    return OutcomeRow(
        job.job_id, outcome.recipient, job.workspace_id, outcome.kind, outcome.code, reply, server, lease.attempt, key
    )


def _scrub(reply: str, server: SmtpServer) -> str:
    """A reply without the server's password in it (a server may echo what it was sent)."""
    if server.password is not None and len(server.password.value) >= 3:
        return reply.replace(server.password.value, "***")
    return reply


async def handle(lease: Lease, tools: Tools, done_before: dict[str, str], now: dt.datetime) -> JobResult:
    """Deliver ``lease``'s job to its recipients not in ``done_before`` (recipient -> final state recorded earlier)."""
    job = lease.job
    rows: list[OutcomeRow] = []
    pending: list[str] = []
    for recipient in job.recipients:
        if recipient in done_before:
            continue
        key = entry_key(job.workspace_id, job.job_id, recipient)
        if lease.attempt > 1 and await _archive(tools.archive, tools.archive.has, key):
            found = RecipientOutcome(recipient, "delivered", None, "delivered before a restart: see the archive entry")
            rows.append(_row(lease, found, None, key))
        else:
            pending.append(recipient)
    if pending and lease.problem is not None:  # no message to send (its stored copy is gone): they failed
        rows.extend(_row(lease, RecipientOutcome(r, "failed", None, lease.problem), None, None) for r in pending)
    elif pending:
        rows.extend(await _deliver(lease, pending, tools))
    failed_before = sum(1 for state in done_before.values() if state == "failed")
    return _settle(lease, rows, tools.policy, now, failed_before)


async def _deliver(lease: Lease, pending: Sequence[str], tools: Tools) -> list[OutcomeRow]:
    job = lease.job
    try:
        server = choose(tools.servers.servers(job.workspace_id), job.campaign_type)
    except NoRoute as exc:
        return [_row(lease, RecipientOutcome(r, "failed", None, str(exc)), None, None) for r in pending]
    domain = tools.tracking.tracking_domain(job.workspace_id) if tools.rewriter is not None else None
    if domain is None:
        groups = [(tuple(pending), job.message)]
    else:  # each recipient gets links of its own
        groups = [
            (
                (r,),
                tools.rewriter(
                    job.message, tracking_domain=domain, message_id=job.job_id, recipient=r, signer=tools.signer
                ),
            )
            for r in pending
        ]
    rows: list[OutcomeRow] = []
    for recipients, message in groups:
        rows.extend(await _one(lease, server, recipients, message, tools))
    return rows


async def _one(
    lease: Lease, server: SmtpServer, recipients: tuple[str, ...], message: bytes, tools: Tools
) -> list[OutcomeRow]:
    started = time.monotonic()
    try:
        delivery: Delivery = await tools.deliverer.deliver(server, Envelope(lease.job.sender, recipients), message)
    except (TimeoutError, OSError) as exc:
        reason = f"connection trouble with {server.label}: {type(exc).__name__}: {_scrub(str(exc), server)}"
        outcomes = tuple(RecipientOutcome(r, "deferred", None, reason) for r in recipients)
        delivery = Delivery(outcomes, b"", server.label)
    elapsed = time.monotonic() - started
    rows = []
    for said in delivery.outcomes:
        outcome = dataclasses.replace(said, reply=_scrub(said.reply, server))
        tools.observe(server.label, outcome.kind, elapsed)
        key = None
        if outcome.kind == "delivered":
            key = entry_key(lease.job.workspace_id, lease.job.job_id, outcome.recipient)
            entry = ArchiveEntry(
                lease.job.workspace_id, lease.job.job_id, outcome.recipient, delivery.sent,
                outcome.code, outcome.reply, delivery.server_label, delivery.peer,
            )  # fmt: skip
            await _archive(tools.archive, tools.archive.put, key, entry)
        rows.append(_row(lease, outcome, server.label, key))
    return rows


async def _archive(archive: Archive, call: Callable[..., bool], *args: Any) -> bool:
    """``call`` (a method of ``archive``): in a thread if it waits on a network, else right here on the loop."""
    if archive.remote:
        return await asyncio.to_thread(call, *args)
    return call(*args)


def _settle(
    lease: Lease, rows: list[OutcomeRow], policy: RetryPolicy, now: dt.datetime, failed_before: int = 0
) -> JobResult:
    """Retry if any recipient is deferred (until the maximum age), else finish; dead-letter if any failed."""
    if any(r.state == "deferred" for r in rows):
        delay = policy.delay(lease.attempt)
        if not policy.expired(lease.job.enqueued_at, now, delay):
            return JobResult(lease, tuple(rows), retry_in=delay)
        age = policy.max_age
        rows = [
            dataclasses.replace(
                r, state="failed", reply=f"expired: still deferred after {age} ({r.reply})"[:REPLY_LIMIT]
            )
            if r.state == "deferred"
            else r
            for r in rows
        ]
    failed = [r for r in rows if r.state == "failed"]
    if not failed and not failed_before:
        return JobResult(lease, tuple(rows))
    count = len(failed) + failed_before
    first = f"; first {failed[0].recipient}: {failed[0].code or '-'} {failed[0].reply}" if failed else ""
    reason = f"{count} recipient(s) failed{first}"
    return JobResult(lease, tuple(rows), dead=reason[:REPLY_LIMIT])
