"""systemd's service notification protocol (``sd_notify``), in pure Python, and the worker's watchdog pinger.

The worker's unit is ``Type=notify`` with ``WatchdogSec=`` and ``NotifyAccess=main``: systemd passes
``NOTIFY_SOCKET`` (an AF_UNIX datagram socket; a name starting with ``@`` is in the abstract namespace) and,
with a watchdog, ``WATCHDOG_USEC`` (and ``WATCHDOG_PID``). The worker sends ``READY=1`` once its queue, ledger
and archive are open, ``WATCHDOG=1`` every third of the watchdog interval *only while* the loop shows the signs
of life ``/healthz`` uses (:meth:`~smtp_egress.worker.health.HealthState.stalled`), and ``STOPPING=1`` when told
to stop. A hung worker (its event loop blocked, its loop no longer ticking, a batch running longer than a lease)
stops pinging, and systemd kills and restarts it after ``WatchdogSec``. Without ``NOTIFY_SOCKET`` (a shell,
``--once``, tests) every call is a no-op.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable, Mapping

log = logging.getLogger("smtp_egress.worker")
PINGS_PER_INTERVAL = 3  # a ping every third of WatchdogSec: one late ping is not a kill


class Notifier:
    """Sends notifications to ``NOTIFY_SOCKET``; a no-op when there is none. Never raises: a notification that
    cannot be sent is logged once (systemd then times the start or the watchdog out, which says it all)."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self.address = _address(env.get("NOTIFY_SOCKET", ""))
        self.watchdog_seconds = _watchdog_seconds(env)
        self._warned = False

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def send(self, *fields: str) -> bool:
        """Send ``fields`` (``READY=1``...) as one datagram; whether it was sent."""
        if self.address is None:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.sendto("\n".join(fields).encode(), self.address)
        except OSError as exc:
            if not self._warned:
                log.warning("cannot notify systemd at NOTIFY_SOCKET %r: %s", self.address[:108], exc)
                self._warned = True
            return False
        return True

    def ready(self, status: str = "") -> bool:
        return self.send("READY=1", *([f"STATUS={status}"] if status else []))

    def stopping(self) -> bool:
        return self.send("STOPPING=1", "STATUS=stopping: finishing or returning the jobs in flight")

    async def ping_while(self, stalled: Callable[[], str | None]) -> None:
        """Until cancelled: ``WATCHDOG=1`` every third of the watchdog interval while ``stalled()`` is None. On the
        worker's own event loop, so a blocked loop stops the pings too. Returns at once without a watchdog."""
        if self.watchdog_seconds is None or self.address is None:
            return
        every = self.watchdog_seconds / PINGS_PER_INTERVAL
        quiet = False
        while True:
            problem = stalled()
            if problem is None:
                self.send("WATCHDOG=1")
                quiet = False
            elif not quiet:  # said once: systemd's kill follows within WatchdogSec
                log.error("not pinging the systemd watchdog: %s", problem)
                self.send(f"STATUS=stalled: {problem}"[:200])
                quiet = True
            await asyncio.sleep(every)


def _address(value: str) -> str | None:
    if not value:
        return None
    if value.startswith("@"):
        return "\0" + value[1:]  # the abstract namespace
    return value if value.startswith("/") else None


def _watchdog_seconds(env: Mapping[str, str]) -> float | None:
    """The watchdog interval systemd asks for, if it is this process's (``WATCHDOG_PID``, when set)."""
    usec, pid = env.get("WATCHDOG_USEC", ""), env.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if pid and (not pid.isdigit() or int(pid) != os.getpid()):
        return None
    return int(usec) / 1_000_000
