"""The worker's HTTP endpoint (``EGRESS_WORKER_HEALTH``, default ``127.0.0.1:9464``), on the worker's own loop.

``GET /healthz``: 200 ``ok`` while the loop is alive (it ticked within :data:`STALE_SECONDS` and no batch has
been running longer than a lease) and the queue answered its last call; 503 with the reason otherwise. The same
signs of life (:meth:`HealthState.stalled`, without the queue's state) gate the systemd watchdog's pings
(:mod:`.notify`): a hung worker is killed and restarted by systemd, and one that keeps failing marks its
instance unhealthy in the auto-scaling group (``egress worker report-unhealthy``), which replaces it.
``GET /metrics``: Prometheus text. Anything else: 404. One short request per connection.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from ..errors import ConfigError

DEFAULT_HEALTH = "127.0.0.1:9464"
STALE_SECONDS = 60.0


def parse_address(text: str, source: str = "EGRESS_WORKER_HEALTH") -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ConfigError(f"{source} {text[:80]!r} is not HOST:PORT (e.g. {DEFAULT_HEALTH})")
    return host.strip("[]"), int(port)


class HealthState:
    """``max_batch_seconds``: how long one batch may run before the worker counts as stuck (the lease: longer
    than the longest delivery, see :class:`~smtp_egress.worker.loop.WorkerSettings`)."""

    def __init__(self, max_batch_seconds: float = 300.0, stale_seconds: float = STALE_SECONDS) -> None:
        self.last_tick = time.monotonic()
        self.batch_started: float | None = None
        self.max_batch_seconds, self.stale_seconds = max_batch_seconds, stale_seconds
        self.queue_problem: str | None = None

    def tick(self) -> None:
        self.last_tick = time.monotonic()

    def batch(self, running: bool) -> None:
        """A batch starts (``True``) or ends (``False``)."""
        self.batch_started = time.monotonic() if running else None

    def stalled(self) -> str | None:
        """Why the loop counts as hung (it stopped ticking, or a batch never ends); None while it lives."""
        now = time.monotonic()
        if now - self.last_tick > self.stale_seconds:
            return f"the worker loop has not ticked for {now - self.last_tick:.0f} s"
        if self.batch_started is not None and now - self.batch_started > self.max_batch_seconds:
            return (
                f"a batch has been running for {now - self.batch_started:.0f} s, longer than a lease "
                f"({self.max_batch_seconds:.0f} s): a delivery is stuck"
            )
        return None

    def problem(self) -> str | None:
        return self.stalled() or self.queue_problem


async def serve(
    host: str, port: int, state: HealthState, metrics: Callable[[], str], source: str = "EGRESS_WORKER_HEALTH"
) -> asyncio.Server:
    """Start the endpoint (``source``: where the address came from, for the error); the caller closes it."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            path = request.split(b" ", 2)[1].decode("latin-1") if request.count(b" ") >= 2 else ""
            status, ctype, body = _route(path.split("?", 1)[0], state, metrics)
            head = f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
            head += "Connection: close\r\n\r\n"
            writer.write(head.encode() + body)
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        finally:
            writer.close()

    try:
        return await asyncio.start_server(answer, host, port)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port} for /healthz and /metrics ({source}): {exc}") from None


def _route(path: str, state: HealthState, metrics: Callable[[], str]) -> tuple[str, str, bytes]:
    if path == "/healthz":
        problem = state.problem()
        if problem is None:
            return "200 OK", "text/plain", b"ok\n"
        return "503 Service Unavailable", "text/plain", f"unhealthy: {problem}\n".encode()
    if path == "/metrics":
        return "200 OK", "text/plain; version=0.0.4; charset=utf-8", metrics().encode()
    return "404 Not Found", "text/plain", b"not found\n"
