"""Webhook endpoints that never answer must not hold the others back: the daily job's fan-out has an overall
deadline and a slow endpoint does not delay a healthy one (a real process, real sockets)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from smtp_egress.scripts.cli import main

EXAMPLE_PLAN = Path(__file__).resolve().parents[1] / "data" / "example-plan.yaml"
HEALTHY_WITHIN = 10.0  # seconds from the start of the run until the healthy endpoint has its notice
RUN_WITHIN = 60.0  # seconds until the whole run has ended, whatever the silent endpoints do


def test_two_silent_endpoints_do_not_delay_a_healthy_one(tmp_path, endpoint):
    silent = []
    for _ in range(2):  # they accept the connection (the kernel does) and never answer
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        silent.append(sock)
    healthy = endpoint(200, "ok")
    shutil.copy(EXAMPLE_PLAN, tmp_path / "plan.yaml")
    rows = [f"ws-{i},us,ops{i}@example.com,http://127.0.0.1:{s.getsockname()[1]}/hook" for i, s in enumerate(silent)]
    rows.append(f"ws-9,us,ops9@example.com,{healthy.base}/hook")  # last: a sequential fan-out reaches it last
    (tmp_path / "ws.csv").write_text("workspace_id,region,email,webhook_url\n" + "\n".join(rows) + "\n")
    common = ["--plan", str(tmp_path / "plan.yaml"), "--db", f"sqlite:///{tmp_path}/l.db"]
    assert main(["ledger", "init", "--simulation", *common]) == 0
    assert main(["workspaces", "import", str(tmp_path / "ws.csv"), *common]) == 0
    published = str(tmp_path / "published.json")
    assert main(["publish", "--region", "us", "--at", "2026-11-26", "--out", published, *common]) == 0
    environ = {**os.environ, "EGRESS_WEBHOOK_SECRET": "whsec-test", "EGRESS_WEBHOOK_ALLOW_PRIVATE": "1"}
    argv = [sys.executable, "-m", "smtp_egress.scripts.cli", "notify", "--region", "us", "--published", published]
    argv += ["--at", "2026-11-26", "--outbox", str(tmp_path / "outbox"), "--base-url", "https://ips.example", *common]
    started = time.monotonic()
    proc = subprocess.Popen(argv, cwd=tmp_path, env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        while not healthy.requests and time.monotonic() - started < HEALTHY_WITHIN:
            time.sleep(0.1)
        assert healthy.requests, f"the healthy endpoint had no notice {HEALTHY_WITHIN:g} s into the run"
        _, err = proc.communicate(timeout=RUN_WITHIN - (time.monotonic() - started))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        for sock in silent:
            sock.close()
    said = err.decode()
    assert proc.returncode == 6, said  # the silent endpoints' notices failed transiently: tried again tomorrow
    assert said.count("no answer within") == 2 and "Traceback" not in said
    assert len(healthy.requests) == 1
