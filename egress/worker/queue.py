"""The queue interface the worker consumes, whatever is behind it (the embedded queue, SQS).

Semantics (both implementations): :meth:`JobQueue.receive` leases jobs: a leased job is invisible to every
other receiver until its lease runs out, then it is handed out again (a killed worker's jobs come back by
themselves). :meth:`~JobQueue.done` removes jobs for good, :meth:`~JobQueue.retry` makes one visible again after
a delay, :meth:`~JobQueue.extend` lengthens leases while a delivery runs, :meth:`~JobQueue.dead_letter` moves a
job aside with its reason. A handle is only good for its lease: a job leased again by someone else is not
removed by a worker whose lease expired.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Protocol

from ..errors import EgressError
from .job import SendJob, StoredMessage


class QueueError(EgressError):
    """The queue cannot be reached or refused an operation (a path, a URL, a permission)."""


class MessageTooLarge(QueueError):
    """A job's encoded message exceeds what the queue can carry (SQS: 256 KiB) and no archive bucket holds it."""


@dataclasses.dataclass(frozen=True)
class Lease:
    """A received job: ``handle`` identifies this lease to the queue, ``attempt`` counts receptions (1 first).
    ``stored``: where the job's message was fetched from (SQS, a large job); ``problem``: why the job cannot be
    handled at all (its stored message is missing or changed), the reason it is dead-lettered with."""

    job: SendJob
    handle: str
    attempt: int
    stored: StoredMessage | None = None
    problem: str | None = None


@dataclasses.dataclass(frozen=True)
class QueueCounts:
    """How many jobs are ready now, leased (in flight), waiting for a retry, and dead-lettered (None: unknown)."""

    ready: int
    in_flight: int
    delayed: int
    dead: int | None


@dataclasses.dataclass(frozen=True)
class DeadLetter:
    job_id: str
    workspace_id: str
    reason: str


class JobQueue(Protocol):
    """Where send jobs wait. Every method may raise :class:`QueueError`."""

    location: str  # for messages: a path or a (masked) URL

    def put(self, jobs: Sequence[SendJob]) -> None: ...

    def receive(self, limit: int, lease_seconds: float, wait_seconds: float) -> list[Lease]:
        """Up to ``limit`` jobs, waiting at most ``wait_seconds`` for the first one."""
        ...

    def done(self, leases: Sequence[Lease]) -> None: ...

    def retry(self, lease: Lease, delay_seconds: float) -> None: ...

    def extend(self, leases: Sequence[Lease], lease_seconds: float) -> None: ...

    def dead_letter(self, lease: Lease, reason: str) -> None: ...

    def counts(self) -> QueueCounts: ...

    def close(self) -> None: ...
