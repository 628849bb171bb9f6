"""Fixtures for the command-line tests: a customer's webhook endpoint that answers what a test tells it to."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class Endpoint(ThreadingHTTPServer):
    """A real HTTP server on 127.0.0.1 answering every POST and GET with ``status`` and ``body`` (as
    ``content_type``); it records each request's path and body."""

    daemon_threads = True

    def __init__(self, status: int, body: bytes, content_type: str):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.status, self.body, self.content_type = status, body, content_type
        self.requests: list[tuple[str, bytes]] = []

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: Endpoint

    def do_POST(self):
        self._answer(self.rfile.read(int(self.headers.get("Content-Length") or 0)))

    def do_GET(self):
        self._answer(b"")

    def _answer(self, body: bytes) -> None:
        self.server.requests.append((self.path, body))
        self.send_response(self.server.status)
        self.send_header("Content-Type", self.server.content_type)
        self.send_header("Content-Length", str(len(self.server.body)))
        self.end_headers()
        self.wfile.write(self.server.body)

    def log_message(self, *args):
        pass


@pytest.fixture
def endpoint():
    """``endpoint(status, body, content_type="text/plain")`` -> a started :class:`Endpoint` (stopped after)."""
    started: list[Endpoint] = []

    def start(status: int, body: str | bytes, content_type: str = "text/plain") -> Endpoint:
        server = Endpoint(status, body.encode() if isinstance(body, str) else body, content_type)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.shutdown()
        server.server_close()
