"""Tracked links from the worker to the tracker, in real processes: `egress domains verify` checks two workspaces'
records against a real knotd on loopback (ws-1 verified, ws-2 failed), `egress worker run --once` delivers over
verified TLS to a real aiosmtpd server, each ws-1 recipient getting its own copy with its links on
https://<tracking domain>/c/<token> and an open pixel (the unsubscribe link untouched), archived byte for byte;
a real `egress tracking serve` answers a token with a redirect to the original URL and records the click for that
job and recipient. ws-2 (not verified) gets plain links; so does every workspace without a tracking key file (the
run says so once), and a bad key file stops the run before anything is delivered."""

from __future__ import annotations

import email
import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from smtp_egress.ledger import Ledger
from smtp_egress.tracking.events import events_for
from smtp_egress.worker.archive import entry_key

from ..egress.delivery.conftest import sink  # noqa: F401  (the fixture)
from ..egress.delivery.helpers import PASSWORD, USER
from .test_worker_end_to_end import egress, worker_env

ROOT = Path(__file__).resolve().parents[2]
PLAN = ROOT / "stacks" / "egress-ips.yaml"
TRACKED, UNVERIFIED = "links.customer.example", "links.other.example"
SHOP = "http://shop.example/sale?x=1"
UNSUBSCRIBE = "https://customer.example/unsubscribe?u=42"
EML = (
    "From: news@customer.example\nTo: someone@example.net\nSubject: sale\n"
    f"List-Unsubscribe: <{UNSUBSCRIBE}>\nMIME-Version: 1.0\nContent-Type: text/html; charset=utf-8\n\n"
    f'<html><body><p><a href="{SHOP}">Shop now</a></p>\n'
    f'<p><a href="{UNSUBSCRIBE}">Unsubscribe</a></p>\n</body></html>\n'
).encode()
CLICK = re.compile(rf"https://{re.escape(TRACKED)}/c/([A-Za-z0-9_-]+)")
PIXEL = re.compile(rf"https://{re.escape(TRACKED)}/o/([A-Za-z0-9_-]+)\.gif")


def _knot():
    spec = importlib.util.spec_from_file_location("knot_zone", ROOT / "tests" / "jobs" / "knot_zone.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.knot


def zone(origin: str, records: str) -> str:
    soa = f"@ SOA ns.{origin}. admin.{origin}. 1 3600 600 86400 60\n@ NS ns.{origin}.\nns A 127.0.0.1\n"
    return f"$ORIGIN {origin}.\n$TTL 300\n{soa}{records}"


@pytest.fixture
def platform(tmp_path, sink, cafile):  # noqa: F811
    """Two workspaces on one STARTTLS+AUTH server; ws-1's tracking domain verified, ws-2's failed; a key file."""
    server = sink("starttls", pipelining=True)
    env = worker_env(tmp_path, cafile)
    env.update(EGRESS_PLAN=str(PLAN), EGRESS_TRACKING_DOMAIN="platform.test")  # track.us.platform.test, mx.us...

    def ok(*argv: str) -> str:
        done = egress(tmp_path, env, *argv)
        assert done.returncode == 0, done.stderr
        return done.stdout

    (tmp_path / "pw.txt").write_text(PASSWORD + "\n")
    (tmp_path / "m.eml").write_bytes(EML)
    (tmp_path / "ws.csv").write_text(
        "workspace_id,region,email,sending_domain,tracking_domain\n"
        f"ws-1,us,ops@customer.example,customer.example,{TRACKED}\n"
        f"ws-2,us,ops@other.example,other.example,{UNVERIFIED}\n"
    )
    ok("workspaces", "import", "ws.csv")
    ok("smtp", "keygen", "--out", str(tmp_path / "smtp.key"))
    for ws in ("ws-1", "ws-2"):
        ok(
            "smtp", "add", "--workspace", ws, "--host", "127.0.0.1", "--port", str(server.port),
            "--security", "starttls", "--username", USER, "--password-file", "pw.txt", "--default",
        )  # fmt: skip
    ok("tracking", "rotate-key", "--keys", str(tmp_path / "tracking.keys"))
    zones = {
        "customer.example": zone(
            "customer.example", ok("domains", "expected", "--workspace", "ws-1", "--format", "zone")
        ),
        "other.example": zone("other.example", ""),  # nothing added: a definite failure
        "platform.test": zone("platform.test", "track.us A 192.0.2.10\nmx.us A 192.0.2.25\n"),
    }
    with _knot()(tmp_path / "knot", zones) as (host, port):
        done = egress(tmp_path, env, "domains", "verify", "--all", "--nameserver", f"{host}:{port}", "--json")
    states = {w["workspace_id"]: w["state"] for w in json.loads(done.stdout)["workspaces"]}
    assert states == {"ws-1": "verified", "ws-2": "failed"}, done.stdout + done.stderr
    return tmp_path, env, server, ok


def run_once(here: Path, env: dict[str, str], ok, jobs: dict[str, list[str]]) -> tuple[dict[str, str], str]:
    """Enqueue one job per workspace (to its recipients), run the worker once: the job ids and its stderr."""
    ids = {
        ws: json.loads(
            ok("worker", "enqueue", "--workspace", ws, "--from", "news@customer.example",
               *[a for r in rcpts for a in ("--to", r)], "m.eml", "--json")
        )["job_id"]
        for ws, rcpts in jobs.items()
    }  # fmt: skip
    run = egress(here, env, "worker", "run", "--once")
    assert run.returncode == 0, run.stderr
    return ids, run.stderr


def body(content: bytes) -> str:
    return email.message_from_bytes(content).get_payload(decode=True).decode()


def test_verified_domain_links_are_tracked_per_recipient_archived_and_answered(platform):
    here, env, server, ok = platform
    env["EGRESS_TRACKING_KEYS"] = str(here / "tracking.keys")
    ids, log = run_once(here, env, ok, {"ws-1": ["a@example.net", "b@example.net"], "ws-2": ["c@example.net"]})
    assert "no tracking keys" not in log

    got = {tuple(m.rcpt_tos): m.content for m in server.handler.messages}
    assert sorted(got) == [("a@example.net",), ("b@example.net",), ("c@example.net",)]  # ws-1: a copy each
    tokens = {}
    for rcpt in ("a@example.net", "b@example.net"):
        html = body(got[(rcpt,)])
        assert SHOP not in html and len(CLICK.findall(html)) == 1, html
        assert f'href="{UNSUBSCRIBE}"' in html and len(PIXEL.findall(html)) == 1
        tokens[rcpt] = CLICK.search(html).group(1)
        entry = here / ".egress" / "archive" / f"{entry_key('ws-1', ids['ws-1'], rcpt)}.eml"
        assert entry.read_bytes() == got[(rcpt,)]  # the exact bytes this recipient was sent
    assert tokens["a@example.net"] != tokens["b@example.net"]
    plain = body(got[("c@example.net",)])
    assert f'href="{SHOP}"' in plain and "/c/" not in plain and "/o/" not in plain
    assert got[("c@example.net",)] == EML.replace(b"\n", b"\r\n")

    cmd = [sys.executable, "-m", "smtp_egress.scripts.cli", "tracking", "serve", "--listen", "127.0.0.1:0"]
    proc = subprocess.Popen(cmd, cwd=here, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        banner = proc.stdout.readline()
        assert "(domains from the ledger)" in banner, banner + proc.stderr.read() if proc.poll() else banner
        base, path = banner.split()[2], f"/c/{tokens['b@example.net']}"
        reply = requests.get(base + path, headers={"Host": TRACKED}, allow_redirects=False, timeout=10)
        assert (reply.status_code, reply.headers["Location"]) == (302, SHOP)
        for host in (UNVERIFIED, "shop.example"):  # the token on any other Host, ws-2's domain included: 404
            assert requests.get(base + path, headers={"Host": host}, timeout=10).status_code == 404
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    ledger = Ledger(env["EGRESS_DB"])
    try:
        with ledger.engine.connect() as conn:
            (event,) = events_for(conn, ids["ws-1"], "b@example.net")
            assert not events_for(conn, ids["ws-1"], "a@example.net")
    finally:
        ledger.close()
    assert (event.kind, event.destination, event.tracking_domain) == ("click", SHOP, TRACKED)


def test_without_a_key_file_links_stay_plain_and_a_bad_one_stops_the_run(platform):
    here, env, server, ok = platform
    _, log = run_once(here, env, ok, {"ws-1": ["a@example.net", "b@example.net"]})
    assert (
        log.count("egress worker: no tracking keys (neither EGRESS_TRACKING_KEYS nor EGRESS_TRACKING_KEYS_SECRET") == 1
    )
    (sent,) = server.handler.messages  # one transaction for both: nothing per recipient to rewrite
    assert sent.content == EML.replace(b"\n", b"\r\n")

    keys = here / "tracking.keys"
    for bad, said in ((here / "missing.keys", "does not exist"), (keys, "(mode 0644)")):
        os.chmod(keys, 0o644)
        ok("worker", "enqueue", "--workspace", "ws-1", "--from", "news@customer.example", "--to", "d@example.net",
           "m.eml")  # fmt: skip
        done = egress(here, {**env, "EGRESS_TRACKING_KEYS": str(bad)}, "worker", "run", "--once")
        assert done.returncode == 2 and said in done.stderr and "EGRESS_TRACKING_KEYS" in done.stderr, done.stderr
        assert "Traceback" not in done.stderr and len(server.handler.messages) == 1  # nothing delivered
