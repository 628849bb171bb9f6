"""Webhook notices in flight at once, against real HTTP servers on 127.0.0.1 and a real SQLite ledger: an endpoint
that never answers takes one slot, one host gets at most two at once, and the fan-out's deadline stops the run
from starting more (issue: webhook fan-out with no overall deadline)."""

from __future__ import annotations

import datetime as dt
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from smtp_egress.dates import UTC
from smtp_egress.ledger import Ledger, Workspace
from smtp_egress.notices.channels.parallel import PER_HOST
from smtp_egress.notices.channels.webhook import WebhookChannelSender
from smtp_egress.notices.fanout import Channels, deliver
from smtp_egress.notices.webhook import WebhookSender
from smtp_egress.plan import parse_plan

NOW = dt.datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
PLAN = parse_plan(
    b"regions:\n  us:\n    - ip: 198.51.100.10\n    - ip: 198.51.100.11\n      active_from: 2026-12-10\n", "p.yaml"
)


class Hooks(ThreadingHTTPServer):
    """A webhook receiver that answers 200 after ``delay`` seconds and notes when each request came and went."""

    daemon_threads = True

    def __init__(self, delay: float = 0.0):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.delay = delay
        self.lock = threading.Lock()
        self.arrived: list[float] = []
        self.now_open = 0
        self.most_open = 0
        threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hook"


class _Handler(BaseHTTPRequestHandler):
    server: Hooks

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        with self.server.lock:
            self.server.arrived.append(time.monotonic())
            self.server.now_open += 1
            self.server.most_open = max(self.server.most_open, self.server.now_open)
        time.sleep(self.server.delay)
        with self.server.lock:
            self.server.now_open -= 1
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


@pytest.fixture
def hooks():
    started: list[Hooks] = []

    def start(delay: float = 0.0) -> Hooks:
        server = Hooks(delay)
        started.append(server)
        return server

    yield start
    for server in started:
        server.shutdown()
        server.server_close()


@pytest.fixture
def silent():
    """URLs of listening sockets that accept connections (the kernel does) and never answer."""
    socks: list[socket.socket] = []

    def make() -> str:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        socks.append(sock)
        return f"http://127.0.0.1:{sock.getsockname()[1]}/hook"

    yield make
    for sock in socks:
        sock.close()


@pytest.fixture
def ledger(tmp_path):
    led = Ledger(f"sqlite:///{tmp_path}/ledger.db", create=True)
    yield led
    led.close()


def fan_out(ledger: Ledger, urls: list[str], *, timeout: float = 10.0, **options):
    ledger.upsert_workspaces([Workspace(f"ws-{i:03d}", "us", {"webhook": u}) for i, u in enumerate(urls)], NOW)
    (change,) = PLAN.changes("us")
    ledger.announce(change, NOW, 7, PLAN.sha256, ledger.workspaces("us"))
    http = WebhookSender(b"whsec-test", timeout=timeout, attempts=1, allow_private=True)
    channels = Channels({"webhook": WebhookChannelSender(http)}, "https://ips.example.com")
    pending = ledger.unsent()
    notices = {pending[0].batch_id: channels.context(list(ledger.recorded().values()), NOW)}
    try:
        return deliver(ledger, pending, notices, channels, progress=False, **options)
    finally:
        channels.close()


def test_endpoints_that_never_answer_do_not_delay_a_healthy_one(ledger, hooks, silent):
    healthy = hooks()
    started = time.monotonic()
    summary = fan_out(ledger, [silent(), silent(), healthy.url], timeout=3.0)
    assert (summary.sent, summary.failed) == (1, 2)
    assert healthy.arrived[0] - started < 2.0  # sent one after the other, it would wait for 2 timeouts of 3 s
    assert summary.seconds < 5.0  # the two silent ones timed out side by side, not one after the other
    assert all("no answer within 3 s" in e for e in summary.errors)


def test_one_host_gets_at_most_two_at_once_and_the_others_go_past_it(ledger, hooks):
    slow, quick = hooks(delay=0.4), hooks()
    started = time.monotonic()
    summary = fan_out(ledger, [slow.url] * 6 + [quick.url])
    assert summary.sent == 7
    assert slow.most_open == PER_HOST == 2
    assert quick.arrived[0] - started < 0.4  # it did not wait behind the slow host's queue


def test_no_notice_is_started_after_the_deadline(ledger, hooks):
    slow = hooks(delay=1.0)
    summary = fan_out(ledger, [slow.url] * 10, deadline=1.5)
    # two at t=0, two more at t=1 (before the deadline), none after: the in-flight ones end on their own
    assert 2 <= summary.sent <= 4 and summary.left_pending == 10 - summary.sent and summary.failed == 0
    left = 10 - summary.sent
    why = f"the run's deadline of 1.5 s passed before they were started; {left} webhook notices left pending"
    assert summary.errors == [f"{why} for the next run"]
    assert sum(1 for d in ledger.unsent() if d.channel == "webhook") == 10 - summary.sent


def test_a_bug_in_a_sender_stops_the_run_and_is_raised(ledger, hooks, monkeypatch):
    ok = hooks()

    def broken(self, d, notice, now):
        raise RuntimeError("a bug")

    monkeypatch.setattr(WebhookChannelSender, "send", broken)
    with pytest.raises(RuntimeError, match="a bug"):
        fan_out(ledger, [ok.url] * 3)
    assert not ok.arrived and len(ledger.unsent()) == 3  # nothing recorded as sent or failed
