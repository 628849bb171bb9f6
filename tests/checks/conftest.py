"""A real HTTP server on 127.0.0.1 whose replies are scripted per path, real published documents, and the real
policy pack process."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import socket
import struct
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from smtp_egress.dates import UTC
from smtp_egress.document import list_sha256, render
from smtp_egress.plan import load_plan
from smtp_egress.timeline import Announcement

PLAN = """\
notice_days: 7
regions:
  us:
    - ip: 198.51.100.11
    - ip: 198.51.100.10
    - ip: 2001:db8::10
    - ip: 203.0.113.7
      active_from: 2026-12-10
  eu:
    - ip: 203.0.113.5
"""
MOMENT = dt.datetime(2026, 11, 26, 9, 30, tzinfo=UTC)
# The addition of 203.0.113.7, announced 20 days ahead: it shows in "upcoming", not in "ip_addresses".
ANNOUNCED = {
    "us/add/203.0.113.7/2026-12-10": Announcement(
        "us/add/203.0.113.7/2026-12-10",
        "us",
        "203.0.113.7",
        "add",
        dt.date(2026, 12, 10),
        dt.datetime(2026, 11, 20, 8, 0, tzinfo=UTC),
        7,
    ),
}


@dataclasses.dataclass
class Reply:
    """One scripted answer. ``reset`` closes the socket with RST before any response; ``delay`` waits first;
    ``content_length`` overrides the header and closes after the body: larger than the body gives a
    truncated body, -1 sends no Content-Length (the body ends when the connection closes)."""

    status: int = 200
    body: bytes = b""
    content_type: str | None = "application/json"
    headers: dict = dataclasses.field(default_factory=dict)
    delay: float = 0.0
    reset: bool = False
    content_length: int | None = None
    drip: float = 0.0  # seconds between single body bytes: a server that trickles forever


class Script:
    def __init__(self, base: str):
        self.base = base
        self.replies: dict[str, list[Reply]] = {}
        self.seen: list[tuple[str, dict]] = []  # (path, request headers) of every request
        self.stop = threading.Event()
        self.lock = threading.Lock()

    def on(self, path: str, *replies: Reply) -> str:
        """Serve ``replies`` in turn at ``path``; the last one is repeated forever. Returns the URL."""
        self.replies[path] = list(replies)
        return self.base + path

    def next_reply(self, path: str) -> Reply | None:
        with self.lock:
            queue = self.replies.get(path)
            if not queue:
                return None
            return queue.pop(0) if len(queue) > 1 else queue[0]

    def hits(self, path: str) -> int:
        return sum(1 for p, _ in self.seen if p == path)


def _handler(script: Script):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_GET(self):
            script.seen.append((self.path, dict(self.headers)))
            reply = script.next_reply(self.path) or Reply(404, b"not scripted", "text/plain")
            if reply.delay and script.stop.wait(reply.delay):
                self.close_connection = True
                return
            if reply.reset:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.close_connection = True
                self.connection.close()
                return
            try:
                self.send_response(reply.status)
                if reply.content_type is not None:
                    self.send_header("Content-Type", reply.content_type)
                length = reply.content_length if reply.content_length is not None else len(reply.body)
                if length >= 0:
                    self.send_header("Content-Length", str(length))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                if reply.content_length is not None:
                    self.send_header("Connection", "close")
                    self.close_connection = True
                self.end_headers()
                if reply.drip:
                    for i in range(len(reply.body)):
                        if script.stop.wait(reply.drip):
                            break
                        self.wfile.write(reply.body[i : i + 1])
                        self.wfile.flush()
                else:
                    self.wfile.write(reply.body)
            except OSError:  # the client gave up (timeout tests)
                self.close_connection = True

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], OSError):  # clients that give up or reset are part of the tests
            super().handle_error(request, client_address)


@pytest.fixture
def server():
    httpd = _Server(("127.0.0.1", 0), None)
    script = Script(f"http://127.0.0.1:{httpd.server_address[1]}")
    httpd.RequestHandlerClass = _handler(script)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield script
    script.stop.set()
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


@pytest.fixture
def session():
    """A session that ignores proxy settings from the environment: tests only ever talk to 127.0.0.1."""
    with requests.Session() as s:
        s.trust_env = False
        yield s


@pytest.fixture
def sleeps():
    """An injectable ``sleep`` that records the waits instead of sleeping."""
    return []  # pass ``sleep=sleeps.append``


@pytest.fixture
def refused_url():
    """A URL on 127.0.0.1 where nothing listens (a port bound then released, never listened on)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1/info/ip_addresses"


@pytest.fixture
def plan(tmp_path):
    path = tmp_path / "egress-ips.yaml"
    path.write_text(PLAN)
    return load_plan(path)


@pytest.fixture
def document(plan):
    """``make(region="us", **changes)``: a real rendered document as a dict, optionally altered.

    The sha256 is recomputed after changes to ``ip_addresses`` unless ``sha256`` is given, so each test
    isolates the one fault it is about."""

    def make(region: str = "us", announced: bool = False, **changes) -> dict:
        doc = json.loads(render(plan, region, ANNOUNCED if announced else {}, MOMENT).json_bytes)
        doc.update(changes)
        if "ip_addresses" in changes and "sha256" not in changes and isinstance(doc["ip_addresses"], list):
            doc["sha256"] = list_sha256(str(a) for a in doc["ip_addresses"])
        return doc

    return make


@pytest.fixture
def valid_bytes(plan) -> bytes:
    return render(plan, "us", {}, MOMENT).json_bytes


@pytest.fixture(scope="module")
def policy_analyzer():
    """The real policy pack, started as the Pulumi CLI starts it (it prints its port); yields its gRPC stub."""
    pytest.importorskip("pulumi_policy")
    import grpc
    from pulumi.runtime.proto import analyzer_pb2_grpc

    pack = Path(__file__).resolve().parents[2] / "checks" / "policy_pack"
    proc = subprocess.Popen(
        [sys.executable, str(pack / "__main__.py")],
        cwd=pack,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(pack.parents[1])},
    )
    try:
        port = int(proc.stdout.readline().decode().strip())
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield analyzer_pb2_grpc.AnalyzerStub(channel)
    finally:
        proc.kill()
        proc.wait(timeout=10)
