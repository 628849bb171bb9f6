"""systemd's notification protocol against a real AF_UNIX datagram socket the test binds (as systemd does for
NOTIFY_SOCKET): READY once the worker has opened everything, WATCHDOG pings while its loop lives and none once a
batch is stuck, STOPPING on SIGTERM. A no-op without NOTIFY_SOCKET."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from smtp_egress.jobs.worker import WorkerConfig, enqueue, run_worker
from smtp_egress.worker.health import HealthState
from smtp_egress.worker.notify import Notifier
from smtp_egress.worker.ports import StaticServers

from .conftest import FAST, message, run_async, server_for


class Listener:
    """A bound AF_UNIX datagram socket collecting (monotonic time, datagram) in a thread."""

    def __init__(self, address: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(address)
        self.sock.settimeout(0.05)
        self.received: list[tuple[float, str]] = []
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._done.is_set():
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            self.received.append((time.monotonic(), data.decode()))

    def close(self) -> None:
        self._done.set()
        self._thread.join()
        self.sock.close()

    def pings(self, since: float = 0.0, until: float = float("inf")) -> int:
        return sum(1 for at, text in self.received if text == "WATCHDOG=1" and since <= at < until)


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[Listener]:
    listen = Listener(str(tmp_path / "notify.sock"))
    yield listen
    listen.close()


def test_notifications_reach_a_path_socket_and_an_abstract_one(listener: Listener) -> None:
    notifier = Notifier({"NOTIFY_SOCKET": listener.sock.getsockname()})
    assert notifier.enabled and notifier.ready("consuming q") and notifier.stopping()
    name = f"egress-test-{uuid.uuid4().hex}"
    abstract = Listener("\0" + name)
    try:
        assert Notifier({"NOTIFY_SOCKET": "@" + name}).send("WATCHDOG=1")
        time.sleep(0.3)
        assert [text for _, text in abstract.received] == ["WATCHDOG=1"]
    finally:
        abstract.close()
    assert [text for _, text in listener.received] == [
        "READY=1\nSTATUS=consuming q",
        "STOPPING=1\nSTATUS=stopping: finishing or returning the jobs in flight",
    ]


def test_without_notify_socket_nothing_is_sent_and_nothing_fails(tmp_path: Path) -> None:
    assert not Notifier({}).enabled and not Notifier({}).ready()
    assert not Notifier({"NOTIFY_SOCKET": "relative/path"}).enabled
    gone = Notifier({"NOTIFY_SOCKET": str(tmp_path / "nobody-listens")})
    assert gone.enabled and not gone.send("READY=1")  # logged, not raised


def test_the_watchdog_interval_is_this_process_s_only() -> None:
    mine = {"NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}
    assert Notifier(mine).watchdog_seconds == 30.0
    assert Notifier({**mine, "WATCHDOG_PID": str(os.getpid() + 1)}).watchdog_seconds is None
    assert Notifier({"WATCHDOG_USEC": "0"}).watchdog_seconds is None


def test_no_pings_once_the_loop_stops_ticking(listener: Listener) -> None:
    health = HealthState(stale_seconds=0.5)
    env = {"NOTIFY_SOCKET": listener.sock.getsockname(), "WATCHDOG_USEC": "150000"}

    async def scenario() -> float:
        pinger = asyncio.create_task(Notifier(env).ping_while(health.stalled))
        for _ in range(8):  # a live loop: ticks every 0.1 s
            health.tick()
            await asyncio.sleep(0.1)
        silent_from = time.monotonic() + 0.5 + 0.4  # once the last tick is stale (+ slack for a busy machine)
        await asyncio.sleep(1.8)
        pinger.cancel()
        return silent_from

    silent_from = run_async(scenario())
    assert listener.pings(until=silent_from - 0.9) >= 5
    assert listener.pings(since=silent_from) == 0
    assert any(text.startswith("STATUS=stalled: the worker loop has not ticked") for _, text in listener.received)


class Blocked:
    """A deliverer whose deliveries never end: the stalled batch."""

    def __init__(self) -> None:
        self.started = 0

    async def deliver(self, server: object, envelope: object, message: bytes) -> object:
        self.started += 1
        await asyncio.Event().wait()  # forever: only cancellation ends it
        raise AssertionError("unreachable")

    async def aclose(self) -> None:
        pass


def test_a_worker_stuck_in_a_batch_stops_pinging_then_stops_on_sigterm(place, listener: Listener) -> None:
    enqueue(place.queue, workspace_id="ws1", sender="a@customer.example", recipients=["b@x.test"], message=message())
    settings = dataclasses.replace(FAST, lease_seconds=1.5, shutdown_grace=0.5)  # a batch over 1.5 s is stuck
    config = WorkerConfig(place.db, place.queue, str(place.archive), settings=settings)
    env = {"NOTIFY_SOCKET": listener.sock.getsockname(), "WATCHDOG_USEC": "300000", "WATCHDOG_PID": str(os.getpid())}
    deliverer = Blocked()
    marks: dict[str, float] = {}

    async def terminate_later() -> None:
        while not deliverer.started:
            await asyncio.sleep(0.01)
        marks["batch"] = time.monotonic()
        await asyncio.sleep(3.0)
        marks["sigterm"] = time.monotonic()
        os.kill(os.getpid(), signal.SIGTERM)  # the loop's own handler: graceful stop

    async def scenario():
        killer = asyncio.create_task(terminate_later())
        tally = await run_worker(
            config, deliverer=deliverer, servers=StaticServers({"ws1": [server_for(1)]}), notifier=Notifier(env)
        )
        await killer
        return tally

    tally = run_async(scenario())
    texts = [text for _, text in listener.received]
    assert texts[0] == f"READY=1\nSTATUS=consuming {place.queue}"
    # pings while the batch is younger than a lease, none once it is older (+ slack for a busy machine)
    assert listener.pings(until=marks["batch"] + 1.3) >= 3
    assert listener.pings(since=marks["batch"] + 1.5 + 0.5) == 0
    stalled = [t for t in texts if t.startswith("STATUS=stalled:")]
    assert stalled and "a batch has been running for" in stalled[0] and "a delivery is stuck" in stalled[0]
    assert "STOPPING=1\nSTATUS=stopping: finishing or returning the jobs in flight" in texts
    assert tally.returned == 1  # the stuck job went back to the queue
