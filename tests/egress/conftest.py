"""Fixtures for the notice tests: a rendered notice, a recording HTTP(S) receiver (the SMTP servers and the
CA are in tests/conftest.py)."""

from __future__ import annotations

import datetime as dt
import http.server
import ssl
import threading
import time

import pytest


@pytest.fixture
def rendered_notice():
    from smtp_egress.notices.render import NoticeChange, NoticeContext, render_notice

    ctx = NoticeContext(
        batch_id="us/2026-11-26T09:30:00Z/0123456789ab",
        region="us",
        changes=(NoticeChange("us/add/203.0.113.7/2026-12-10", "203.0.113.7", "add", dt.date(2026, 12, 10)),),
        sent_at=dt.datetime(2026, 11, 26, 9, 30, tzinfo=dt.UTC),
        notice_days=7,
        endpoint_url="https://ips.example.com/v1/info/ip_addresses?region=us",
        changes_url="https://ips.example.com/v1/info/ip_addresses/changes.json",
    )
    return render_notice(ctx)


class Receiver(http.server.ThreadingHTTPServer):
    """A real HTTP(S) server on 127.0.0.1 for the HTTP channels' tests: records every POST (path, headers,
    body) and answers each with the next scripted ``(status, headers[, body])``, then 200 "ok"."""

    daemon_threads = True

    def __init__(self, script, tls: ssl.SSLContext | None = None, path: str = "/hooks/egress"):
        super().__init__(("127.0.0.1", 0), _RecordingHandler)
        if tls is not None:
            self.socket = tls.wrap_socket(self.socket, server_side=True)
        self.scheme, self.path = ("https" if tls is not None else "http"), path
        self.script = list(script)
        self.requests: list[dict] = []
        self.connections = 0
        self.delay = 0.0  # seconds before each answer

    def verify_request(self, request, client_address):
        self.connections += 1
        return True

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.server_address[1]}{self.path}"


class _RecordingHandler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
        time.sleep(self.server.delay)
        status, extra, *text = self.server.script.pop(0) if self.server.script else (200, {})
        data = (text[0] if text else "ok").encode()
        self.send_response(status)
        for name, value in {**extra, "Content-Type": "text/plain", "Content-Length": str(len(data))}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def http_receiver():
    """http_receiver(*script, tls=None, path=...) -> a started :class:`Receiver`; all stopped after the test."""
    servers = []

    def start(*script, tls: ssl.SSLContext | None = None, path: str = "/hooks/egress") -> Receiver:
        server = Receiver(script, tls, path)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()
