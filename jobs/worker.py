"""The delivery worker as a workflow: enqueue jobs, run the loop (until stopped, or once), report status.

Typed inputs, typed results, nothing printed. :func:`run_worker` takes every collaborator as an argument (the
deliverer, the servers, the tracking domains, the rewriter), so a test runs the same loop against real SMTP
servers with collaborators of its own; :func:`run` wires the production ones (:mod:`.worker_wiring`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import signal
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from smtp_egress.worker import job as jobs
from smtp_egress.worker.handling import Tools
from smtp_egress.worker.health import HealthState, parse_address, serve
from smtp_egress.worker.loop import RunTally, Worker, WorkerSettings
from smtp_egress.worker.metrics import Metrics
from smtp_egress.worker.notify import Notifier
from smtp_egress.worker.opening import open_archive, open_queue
from smtp_egress.worker.ports import StaticTracking
from smtp_egress.worker.queue import QueueCounts

if TYPE_CHECKING:
    from smtp_egress.worker.instance import HealthReport


@dataclasses.dataclass(frozen=True)
class WorkerConfig:
    """Where everything is (EGRESS_DB, EGRESS_QUEUE, EGRESS_ARCHIVE, EGRESS_WORKER_HEALTH, EGRESS_REGION,
    EGRESS_TRACKING_KEYS; in production EGRESS_DB_SECRET and EGRESS_TRACKING_KEYS_SECRET instead of the first and
    the last: the Secrets Manager secrets that hold them, read at start by :mod:`.worker_wiring`)."""

    ledger: Any = dataclasses.field(repr=False)  # a LedgerLocation or a URL (None with ledger_secret)
    queue: str
    archive: str
    health: str | None = None  # HOST:PORT, or None: no endpoint
    health_source: str = "EGRESS_WORKER_HEALTH"  # where the address came from, for messages
    region: str | None = None
    endpoint_url: str | None = None  # another AWS endpoint (tests: moto's server)
    tracking_keys: str | None = None  # the tracking key file (EGRESS_TRACKING_KEYS); None: links stay plain
    tracking_keys_source: str = "EGRESS_TRACKING_KEYS"  # where the path came from, for messages
    ledger_secret: str | None = None  # the secret (ARN or name) holding the ledger URL (EGRESS_DB_SECRET)
    tracking_keys_secret: str | None = None  # the secret holding the tracking keyring (EGRESS_TRACKING_KEYS_SECRET)
    settings: WorkerSettings = dataclasses.field(default_factory=WorkerSettings)


def enqueue(
    queue: str,
    *,
    workspace_id: str,
    sender: str,
    recipients: Sequence[str],
    message: bytes,
    campaign_type: str | None = None,
    job_id: str | None = None,
    endpoint_url: str | None = None,
    region: str | None = None,
    archive: str | None = None,
) -> jobs.SendJob:
    """Validate a send job and put it on ``queue`` (a file path or an SQS URL); the job, with its id. A job too
    large for SQS has its message stored beside the S3 ``archive`` (the workers' ``EGRESS_ARCHIVE``)."""
    job = jobs.new_job(
        workspace_id=workspace_id, sender=sender, recipients=tuple(recipients), message=message,
        campaign_type=campaign_type, job_id=job_id,
    )  # fmt: skip
    q = open_queue(queue, endpoint_url=endpoint_url, region=region, archive=archive)
    try:
        q.put([job])
    finally:
        q.close()
    return job


async def run_worker(
    config: WorkerConfig,
    *,
    deliverer: Any,
    servers: Any,
    tracking: Any = None,
    rewriter: Any = None,
    signer: Any = None,
    once: bool = False,
    retry_seconds: float | None = None,
    stop: asyncio.Event | None = None,
    notifier: Notifier | None = None,
) -> RunTally:
    """Run the loop with these collaborators; SIGTERM/SIGINT stop it gracefully. The ledger is opened here.
    Under systemd (``NOTIFY_SOCKET``, :mod:`smtp_egress.worker.notify`): ``READY=1`` once everything is open,
    watchdog pings while the loop lives, ``STOPPING=1`` on SIGTERM/SIGINT."""
    from smtp_egress.ledger import Ledger

    stop = stop or asyncio.Event()
    notifier = notifier or Notifier()
    loop = asyncio.get_running_loop()

    def stopping() -> None:
        stop.set()
        notifier.stopping()

    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stopping)
    ledger = Ledger(config.ledger)
    queue = open_queue(config.queue, endpoint_url=config.endpoint_url, region=config.region, archive=config.archive)
    metrics, health = Metrics(), HealthState(max_batch_seconds=config.settings.lease_seconds)
    endpoint = (
        await serve(*parse_address(config.health, config.health_source), health, metrics.render, config.health_source)
        if config.health
        else None
    )
    tools = Tools(
        servers=servers,
        tracking=tracking or StaticTracking(),
        rewriter=rewriter,
        signer=signer,
        deliverer=deliverer,
        archive=open_archive(config.archive, endpoint_url=config.endpoint_url, region=config.region),
        policy=config.settings.policy,
        observe=metrics.observe,
    )
    worker = Worker(queue, ledger.conn, tools, config.settings, metrics, health)
    notifier.ready(f"consuming {config.queue}"[:200])
    pinger = asyncio.create_task(notifier.ping_while(health.stalled))
    try:
        until = time.monotonic() + retry_seconds if retry_seconds is not None else None
        return await worker.run(stop, once=once, retry_until=until)
    finally:
        pinger.cancel()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(sig)
        if endpoint is not None:
            endpoint.close()
        await deliverer.aclose()
        queue.close()
        ledger.close()


def run(
    config: WorkerConfig,
    *,
    once: bool = False,
    retry_seconds: float | None = None,
    say: Callable[[str], None] | None = None,
) -> RunTally:
    """``egress worker run``: the production collaborators (:mod:`.worker_wiring`), then the loop; ``say`` gets
    what the run has to tell its log at start (links staying plain without a tracking key file)."""
    from .worker_wiring import ledger_from_secret, production

    config = ledger_from_secret(config)  # a secret that cannot be read stops the run before anything is opened

    async def main() -> RunTally:  # the deliverer is made inside the loop it runs on
        return await run_worker(config, once=once, retry_seconds=retry_seconds, **production(config, say))

    return asyncio.run(main())


@dataclasses.dataclass(frozen=True)
class WorkerStatus:
    queue: QueueCounts
    delivered: int
    deferred: int
    failed: int
    dead_letters: list[tuple[str, str, str]]  # (job id, workspace, reason), newest first


def status(config: WorkerConfig, limit: int = 20) -> WorkerStatus:
    """What is queued, the recipients per state, the latest dead letters (``egress worker status``)."""
    from smtp_egress.ledger import Ledger
    from smtp_egress.worker.record import dead_letters, tally

    from .worker_wiring import ledger_from_secret

    config = ledger_from_secret(config)
    queue = open_queue(config.queue, endpoint_url=config.endpoint_url, region=config.region)
    ledger = Ledger(config.ledger)
    try:
        counts = queue.counts()
        t = tally(ledger.conn)
        dead = [(d.job_id, d.workspace_id, d.reason) for d in dead_letters(ledger.conn, limit)]
    finally:
        queue.close()
        ledger.close()
    return WorkerStatus(counts, t.delivered, t.deferred, t.failed, dead)


def report_unhealthy(
    *, region: str | None = None, endpoint_url: str | None = None, environ: Mapping[str, str] | None = None
) -> HealthReport:
    """``egress worker report-unhealthy``: this instance (IMDSv2) marked Unhealthy in its auto-scaling group."""
    from smtp_egress.worker import instance

    found = instance.instance_id(os.environ if environ is None else environ)
    return instance.report_unhealthy(found, region=region, endpoint_url=endpoint_url)
