"""The long-running worker as a real process: /healthz and /metrics over HTTP, and SIGTERM (finish in-flight
jobs within the grace period, else hand them back to the queue)."""

from __future__ import annotations

import asyncio
import signal
import threading
import time
import urllib.error
import urllib.request

from smtp_egress.jobs.worker import enqueue
from smtp_egress.worker.embedded import EmbeddedQueue
from smtp_egress.worker.health import HealthState, serve

from ...conftest import free_port
from .conftest import message, run_async
from .test_worker_kill import start_worker, wait_for


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError:
        return 0, ""


def hold_data(server, when: int):
    """Make the server hold the DATA of its ``when``-th message until released; returns (holding, release)."""
    holding, release = threading.Event(), threading.Event()
    original = server.handler.handle_DATA

    async def data(srv, session, envelope):
        if len(server.handler.messages) == when - 1 and not release.is_set():
            holding.set()
            while not release.is_set():
                await asyncio.sleep(0.02)
        return await original(srv, session, envelope)

    server.handler.handle_DATA = data
    return holding, release


def test_health_and_metrics_of_a_running_worker(tmp_path, place, smtp_server, cafile):
    server = smtp_server("starttls")
    port = free_port()
    worker = start_worker(tmp_path, place, server.port, cafile, "w", once=False, health=f"127.0.0.1:{port}")
    try:
        wait_for(lambda: get(f"http://127.0.0.1:{port}/healthz")[0] == 200, "/healthz to answer 200")
        for i in range(3):
            enqueue(place.queue, workspace_id="ws1", sender="a@c.test", recipients=[f"r{i}@x.test", "reject550@x.test"],
                    message=message())  # fmt: skip
        route = f'route="ws1/127.0.0.1:{server.port}"'
        wait_for(lambda: "dead_letters_total 3" in get(f"http://127.0.0.1:{port}/metrics")[1], "the metrics")
        status, text = get(f"http://127.0.0.1:{port}/metrics")
        assert status == 200
        assert f'egress_worker_recipients_total{{{route},outcome="delivered"}} 3' in text
        assert f"egress_worker_delivery_seconds_count{{{route}}} 6" in text
        assert (
            "egress_worker_dead_letters_total 3" in text and "# TYPE egress_worker_delivery_seconds histogram" in text
        )
        assert get(f"http://127.0.0.1:{port}/nothing")[0] == 404
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(15) == 0, (tmp_path / "w.log").read_text()
    assert get(f"http://127.0.0.1:{port}/healthz")[0] == 0  # gone with the process


def test_sigterm_lets_the_in_flight_delivery_finish_within_the_grace_period(tmp_path, place, smtp_server, cafile):
    server = smtp_server("starttls")
    holding, release = hold_data(server, 1)
    job = enqueue(place.queue, workspace_id="ws1", sender="a@c.test", recipients=["r@x.test"], message=message())
    worker = start_worker(tmp_path, place, server.port, cafile, "w", once=False, grace=10)
    wait_for(holding.is_set, "the delivery to be under way")
    worker.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    assert worker.poll() is None  # still finishing
    release.set()
    assert worker.wait(15) == 0
    assert [m.rcpt_tos for m in server.handler.messages] == [["r@x.test"]]
    queue = EmbeddedQueue(place.queue)
    counts = queue.counts()
    queue.close()
    assert (counts.ready, counts.in_flight, counts.delayed) == (0, 0, 0), job.job_id


def test_sigterm_hands_an_unfinished_job_back_when_the_grace_period_ends(tmp_path, place, smtp_server, cafile):
    server = smtp_server("starttls")
    holding, release = hold_data(server, 1)
    enqueue(place.queue, workspace_id="ws1", sender="a@c.test", recipients=["r@x.test"], message=message())
    worker = start_worker(tmp_path, place, server.port, cafile, "w", once=False, grace=1, lease=300)
    try:
        wait_for(holding.is_set, "the delivery to be under way")
        started = time.monotonic()
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(15) == 0
        assert time.monotonic() - started < 10  # the grace period (1 s), not the delivery's 10 s timeout or more
    finally:
        release.set()
    queue = EmbeddedQueue(place.queue)
    counts = queue.counts()
    queue.close()
    assert (counts.ready, counts.in_flight) == (1, 0)  # handed back at once, not left leased for 300 s


def test_healthz_is_503_when_the_queue_failed_or_the_loop_stalled():
    async def scenario() -> list[tuple[int, str]]:
        state = HealthState()
        port = free_port()
        endpoint = await serve("127.0.0.1", port, state, lambda: "")
        url = f"http://127.0.0.1:{port}/healthz"
        seen = [await asyncio.to_thread(get, url)]
        state.queue_problem = "SQS receive_message failed: connection refused"
        seen.append(await asyncio.to_thread(get, url))
        state.queue_problem = None
        state.last_tick -= 120
        seen.append(await asyncio.to_thread(get, url))
        endpoint.close()
        return seen

    ok, queue_down, stalled = run_async(scenario())
    assert ok == (200, "ok\n")
    assert queue_down[0] == 503 and "connection refused" in queue_down[1]
    assert stalled[0] == 503 and "has not ticked" in stalled[1]
