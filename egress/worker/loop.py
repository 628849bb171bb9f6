"""The worker's loop: lease a batch of jobs, handle them concurrently, record, acknowledge; until told to stop.

Per batch, in this order (what makes kill -9 safe, see :mod:`.handling`): deliveries and archive entries, then
one ledger transaction for every outcome of the batch, then the queue's acknowledgements (``done``,
``retry``, ``dead_letter``; one transaction or batch call each). A worker killed anywhere before the
acknowledgement leaves its jobs leased: they come back when the lease runs out, and the recipients already
archived or recorded final are skipped. Leases are extended while the batch runs (every third of a lease).

Stopping (SIGTERM/SIGINT set ``stop``): no new batch is leased; the running one gets ``shutdown_grace``
seconds to finish, then its unfinished jobs are cancelled and handed back to the queue at once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
import time
from collections.abc import Sequence
from typing import Any

from .backoff import RetryPolicy
from .handling import JobResult, Tools, handle
from .health import HealthState
from .metrics import Metrics
from .queue import JobQueue, Lease, QueueCounts, QueueError
from .record import DeadLetterRow, final_states, record

log = logging.getLogger("smtp_egress.worker")
TICK = 5.0  # seconds between two signs of life while a batch runs (/healthz, the systemd watchdog)


@dataclasses.dataclass(frozen=True)
class WorkerSettings:
    batch: int = 100  # jobs leased (and handled concurrently) at once
    lease_seconds: float = 300.0  # longer than the longest delivery; extended while one runs
    wait_seconds: float = 10.0  # how long a receive waits for work (SQS: long polling, at most 20)
    shutdown_grace: float = 30.0
    policy: RetryPolicy = dataclasses.field(default_factory=RetryPolicy)


@dataclasses.dataclass
class RunTally:
    jobs: int = 0
    delivered: int = 0
    deferred: int = 0
    failed: int = 0
    dead_letters: int = 0
    returned: int = 0  # handed back to the queue unfinished (shutdown)
    left: QueueCounts | None = None


class Worker:
    def __init__(
        self,
        queue: JobQueue,
        ledger: Any,
        tools: Tools,
        settings: WorkerSettings,
        metrics: Metrics,
        health: HealthState,
    ):
        self.queue, self.ledger, self.tools, self.settings = queue, ledger, tools, settings
        self.metrics, self.health = metrics, health
        self.tally = RunTally()

    async def _queue(self, what: str, *args: Any) -> Any:
        try:
            result = await asyncio.to_thread(getattr(self.queue, what), *args)
        except QueueError as exc:
            self.health.queue_problem = str(exc)
            raise
        self.health.queue_problem = None
        return result

    async def batch(self, stop: asyncio.Event, wait: float) -> int:
        """Lease one batch and see it through; the number of jobs leased."""
        s = self.settings
        leases: list[Lease] = await self._queue("receive", s.batch, s.lease_seconds, wait)
        if not leases:
            return 0
        if stop.is_set():  # told to stop while waiting: hand them back untouched
            for lease in leases:
                await self._queue("retry", lease, 0)
            self.tally.returned += len(leases)
            return len(leases)
        again = [le.job.job_id for le in leases if le.attempt > 1]
        finals = final_states(self.ledger, again) if again else {}
        now = dt.datetime.now(dt.UTC)
        tasks = {asyncio.create_task(handle(le, self.tools, finals.get(le.job.job_id, {}), now)): le for le in leases}
        extender = asyncio.create_task(self._extend(leases))
        self.health.batch(True)  # a batch longer than a lease is a stuck one (/healthz, the watchdog)
        try:
            await self._finish(set(tasks), stop)
        finally:
            self.health.batch(False)
            extender.cancel()
        results, returned = [], []
        for task, lease in tasks.items():
            if task.cancelled() or task.exception() is not None:
                if not task.cancelled():
                    log.error("job %s: %r", lease.job.job_id, task.exception())
                returned.append(lease)
            else:
                results.append(task.result())
        await self._conclude(results, returned)
        return len(leases)

    async def _finish(self, tasks: set[asyncio.Task[JobResult]], stop: asyncio.Event) -> None:
        # One waiter on all the tasks (not a wait on every task left after each one ends: a hundred jobs would
        # cost some five thousand callbacks a batch), woken also by a stop and every TICK.
        everything = asyncio.ensure_future(asyncio.wait(tasks))
        stopping = asyncio.create_task(stop.wait())
        deadline: float | None = None
        try:
            while not everything.done():
                if deadline is None and stop.is_set():
                    deadline = time.monotonic() + self.settings.shutdown_grace
                if deadline is not None and time.monotonic() >= deadline:
                    break
                waiting: set[asyncio.Future[Any]] = {everything} if deadline is not None else {everything, stopping}
                timeout = TICK if deadline is None else min(TICK, max(0.0, deadline - time.monotonic()))
                await asyncio.wait(waiting, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
                self.health.tick()  # the loop is alive while a long batch runs
        finally:
            stopping.cancel()
            everything.cancel()  # the waiter only: the tasks still running are cancelled here
            left = [task for task in tasks if not task.done()]
            for task in left:
                task.cancel()
            await asyncio.gather(*left, return_exceptions=True)

    async def _extend(self, leases: Sequence[Lease]) -> None:
        every = self.settings.lease_seconds / 3
        while True:
            await asyncio.sleep(every)
            try:
                await self._queue("extend", leases, self.settings.lease_seconds)
            except QueueError as exc:
                log.warning("extending %d leases failed: %s", len(leases), exc)

    async def _conclude(self, results: list[JobResult], returned: list[Lease]) -> None:
        rows = [row for r in results for row in r.rows]
        await asyncio.to_thread(self.tools.archive.sync)  # syncfs waits on the disk: in a thread, local or not
        dead = [DeadLetterRow(r.lease.job.job_id, r.lease.job.workspace_id, r.dead) for r in results if r.dead]
        record(self.ledger, rows, dead, dt.datetime.now(dt.UTC))
        finished = [r.lease for r in results if r.retry_in is None and r.dead is None]
        if finished:
            await self._queue("done", finished)
        for r in results:
            if r.retry_in is not None:
                await self._queue("retry", r.lease, r.retry_in)
            elif r.dead is not None:
                await self._queue("dead_letter", r.lease, r.dead)
        for lease in returned:
            await self._queue("retry", lease, 0)
        t = self.tally
        t.jobs += len(results)
        t.returned += len(returned)
        t.dead_letters += len(dead)
        for row in rows:
            setattr(t, row.state, getattr(t, row.state) + 1)
        self.metrics.finished(sum(1 for r in results if r.retry_in is None), len(dead))

    async def run(self, stop: asyncio.Event, *, once: bool = False, retry_until: float | None = None) -> RunTally:
        """Until ``stop`` (or, ``once``, until the queue has nothing ready; with ``retry_until``, a monotonic
        deadline, also waiting for delayed retries until then)."""
        while not stop.is_set():
            self.health.tick()
            leased = await self.batch(stop, 0.0 if once else self.settings.wait_seconds)
            if once and not leased:
                counts = await self._queue("counts")
                if retry_until is None or counts.delayed + counts.in_flight == 0 or time.monotonic() >= retry_until:
                    break
                await asyncio.sleep(0.2)
        self.tally.left = await self._queue("counts")
        return self.tally
