"""``egress serve`` with clients that go away early and bursts of connections: real sockets, a real process."""

from __future__ import annotations

import os
import signal
import socket
import struct
import subprocess
import sys
import textwrap
import time

import pytest
import requests

from smtp_egress.ledger import Ledger
from smtp_egress.plan import load_plan
from smtp_egress.server import make_server

PLAN = """\
    regions:
      us:
        - ip: 198.51.100.10
    """
REQUEST = b"GET /v1/info/ip_addresses HTTP/1.1\r\nHost: ips.example\r\n\r\n"


@pytest.fixture
def files(tmp_path, monkeypatch):
    for name in ("EGRESS_DB", "EGRESS_BASE_URL", "EGRESS_DEFAULT_REGION", "EGRESS_RATE_LIMIT"):
        monkeypatch.delenv(name, raising=False)
    plan = tmp_path / "plan.yaml"
    plan.write_text(textwrap.dedent(PLAN))
    db = f"sqlite:///{tmp_path}/l.db"
    Ledger(db, create=True).close()
    return plan, db


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def reset(sock: socket.socket) -> None:
    """Close with a TCP reset (SO_LINGER 0) instead of a clean FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def test_clients_that_disconnect_early_are_one_line_each_never_a_traceback(files, tmp_path):
    plan, db = files
    port = free_port()
    argv = [sys.executable, "-m", "smtp_egress.scripts.cli", "serve", "--plan", str(plan), "--db", db]
    proc = subprocess.Popen(
        [*argv, "--port", str(port), "--rate", "100000"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}/v1/info/ip_addresses"
    try:
        for _ in range(100):
            try:
                if requests.get(url, timeout=5).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.1)
        for _ in range(30):  # pipelined requests, then a reset: the answers are written to a dead socket
            sock = socket.create_connection(("127.0.0.1", port))
            sock.sendall(REQUEST * 20)
            reset(sock)
        for _ in range(10):  # a request, then a clean close without reading the answer
            sock = socket.create_connection(("127.0.0.1", port))
            sock.sendall(REQUEST * 20)
            sock.close()
        for _ in range(10):  # half a request, then a reset
            sock = socket.create_connection(("127.0.0.1", port))
            sock.sendall(REQUEST[:20])
            reset(sock)
        time.sleep(0.5)
        assert requests.get(url, timeout=5).json()["region"] == "us"  # still serving
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert "Traceback" not in err and " 500" not in err, err
    assert "client disconnected early (" in err
    assert all(line.isprintable() and len(line) < 200 for line in err.splitlines())


def test_a_burst_of_connections_waits_in_the_listen_backlog(files):
    plan, db = files
    server = make_server(load_plan(plan), db, "127.0.0.1", 0, log=False)  # bound and listening, not yet serving
    socks = []
    try:
        for _ in range(100):  # more than socketserver's default backlog of 5: those connects would time out
            sock = socket.socket()
            sock.settimeout(3)
            sock.connect(server.server_address)
            socks.append(sock)
    finally:
        for sock in socks:
            sock.close()
        server.server_close()
    assert len(socks) == 100
