"""The HTTP server: a real ThreadingHTTPServer on 127.0.0.1, real requests, a real SQLite ledger."""

from __future__ import annotations

import contextlib
import datetime as dt
import email.utils
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import xml.etree.ElementTree as ET

import pytest
import requests

from smtp_egress.dates import UTC, start_of
from smtp_egress.document import canonical_text, load_schema
from smtp_egress.ledger import Ledger
from smtp_egress.plan import load_plan
from smtp_egress.ratelimit import RateLimiter
from smtp_egress.scripts.cli import main
from smtp_egress.server import make_server

PLAN = """\
    notice_days: 7
    regions:
      us:
        - ip: 198.51.100.10
        - ip: 198.51.100.11
          active_from: 2026-12-10
        - ip: 198.51.100.12
          retire_on: 2026-12-20
      eu:
        - ip: 203.0.113.20
        - ip: 203.0.113.21
          active_from: 2026-12-20
    """
TODAY = dt.date(2026, 12, 2)
NOW = start_of(TODAY)
ATOM = "{http://www.w3.org/2005/Atom}"
BASE = "/v1/info/ip_addresses"


@pytest.fixture
def env(tmp_path, monkeypatch):
    for name in ("EGRESS_DB", "EGRESS_BASE_URL", "EGRESS_DEFAULT_REGION", "EGRESS_RATE_LIMIT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "plan.yaml"
    path.write_text(textwrap.dedent(PLAN))
    plan = load_plan(path)
    db = f"sqlite:///{tmp_path}/l.db"
    ledger = Ledger(db, create=True)
    yield {"plan": plan, "path": path, "db": db, "ledger": ledger, "tmp": tmp_path}
    ledger.close()


def announce(env, ip: str, at: dt.datetime = NOW - dt.timedelta(days=1)):
    plan = env["plan"]
    change = next(c for c in plan.changes() if c.ip == ip)
    return env["ledger"].announce(change, at, plan.notice_days, plan.sha256, [])


@contextlib.contextmanager
def serving(env, **kwargs):
    kwargs = {"rate": 1000, "clock": lambda: NOW, "log": False, **kwargs}
    server = make_server(env["plan"], env["db"], "127.0.0.1", 0, **kwargs)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.url
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def get(url, **headers):
    return requests.get(url, headers=headers, timeout=10)


def published(capsys, env, region, *extra):
    code = main(
        [
            "publish",
            "--plan",
            str(env["path"]),
            "--db",
            env["db"],
            "--region",
            region,
            "--at",
            TODAY.isoformat(),
            *extra,
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    return out.encode()


def test_served_documents_match_egress_publish(env, capsys):
    announce(env, "198.51.100.11")
    with serving(env) as url:
        for region in ("us", "eu"):
            r = get(f"{url}{BASE}?region={region}")
            assert r.status_code == 200 and r.headers["Content-Type"] == "application/json"
            assert r.content == published(capsys, env, region)
            t = get(f"{url}{BASE}.txt?region={region}")
            assert t.headers["Content-Type"] == "text/plain; charset=utf-8"
            assert t.content == published(capsys, env, region, "--format", "txt")
    import jsonschema

    jsonschema.validate(json.loads(r.content), load_schema())


def test_txt_is_canonical_and_its_sha256_is_the_documents(env):
    with serving(env) as url:
        doc = get(f"{url}{BASE}?region=us").json()
        txt = get(f"{url}{BASE}.txt?region=us")
    assert txt.text == canonical_text(doc["ip_addresses"]) == "198.51.100.10\n198.51.100.12\n"
    assert hashlib.sha256(txt.content).hexdigest() == doc["sha256"]
    assert txt.headers["Content-Length"] == str(len(txt.content))


def test_region_selection_and_default_region(env):
    with serving(env) as url:
        assert get(f"{url}{BASE}").json()["region"] == "us"  # the plan's first region
        assert get(f"{url}{BASE}?region=eu").json()["ip_addresses"] == ["203.0.113.20"]
        assert get(f"{url}{BASE}.txt").text == "198.51.100.10\n198.51.100.12\n"
    with serving(env, default_region="eu") as url:
        assert get(f"{url}{BASE}").json()["region"] == "eu"
        assert get(f"{url}{BASE}?region=us").json()["region"] == "us"


def test_etag_and_if_none_match(env):
    with serving(env) as url:
        first = get(f"{url}{BASE}?region=us")
        etag = first.headers["ETag"]
        assert etag.startswith('"') and not etag.startswith("W/")
        assert first.headers["Cache-Control"] == "public, max-age=300"
        again = get(f"{url}{BASE}?region=us", **{"If-None-Match": etag})
        assert again.status_code == 304 and again.content == b"" and again.headers["ETag"] == etag
        assert get(f"{url}{BASE}?region=us", **{"If-None-Match": '"other"'}).status_code == 200
        changes = get(f"{url}{BASE}/changes.json")
        assert changes.headers["ETag"] == f'"{hashlib.sha256(changes.content).hexdigest()[:32]}"'
        assert get(f"{url}{BASE}/changes.json", **{"If-None-Match": changes.headers["ETag"]}).status_code == 304


def test_last_modified_is_sent_but_only_the_etag_gives_304(env):
    announce(env, "198.51.100.11", at=dt.datetime(2026, 11, 28, 14, 30, 5, tzinfo=UTC))
    with serving(env) as url:
        r = get(f"{url}{BASE}?region=us")
        assert r.headers["Last-Modified"] == "Sat, 28 Nov 2026 14:30:05 GMT"
        assert r.json()["created_at"] == "2026-11-28T14:30:05Z"
        assert r.headers["ETag"] == f'"{hashlib.sha256(r.content).hexdigest()[:32]}"'
        # A plan edit can change the list without moving created_at: If-Modified-Since alone never gives 304.
        later = email.utils.format_datetime(dt.datetime(2026, 11, 29, tzinfo=UTC), usegmt=True)
        assert get(f"{url}{BASE}?region=us", **{"If-Modified-Since": later}).status_code == 200
        txt = get(f"{url}{BASE}.txt?region=us")
        assert txt.headers["ETag"] == f'"{hashlib.sha256(txt.content).hexdigest()[:32]}"' != r.headers["ETag"]


def test_head_has_the_headers_and_no_body(env):
    with serving(env) as url:
        g = get(f"{url}{BASE}?region=eu")
        h = requests.head(f"{url}{BASE}?region=eu", timeout=10)
    assert h.status_code == 200 and h.content == b""
    for name in ("ETag", "Last-Modified", "Content-Length", "Content-Type", "Cache-Control"):
        assert h.headers[name] == g.headers[name]


def test_rate_limit_answers_429_with_retry_after(env):
    with serving(env, rate=2, burst=2) as url, requests.Session() as s:
        statuses = []
        for _ in range(20):
            r = s.get(f"{url}{BASE}?region=us", timeout=10)
            statuses.append(r.status_code)
            if r.status_code == 429:
                break
        assert statuses[:2] == [200, 200] and statuses[-1] == 429, statuses
        assert int(r.headers["Retry-After"]) >= 1
        assert r.headers["Content-Type"] == "application/json" and "rate limit" in r.json()["error"]
        assert s.get(f"{url}/healthz", timeout=10).status_code == 200  # health checks are never limited


def test_token_bucket_refills_at_the_rate():
    now = [100.0]
    bucket = RateLimiter(rate=2, burst=3, clock=lambda: now[0])
    assert [bucket.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take("a") == pytest.approx(0.5)
    assert bucket.take("b") == 0.0  # per client
    now[0] += 0.5
    assert bucket.take("a") == 0.0 and bucket.take("a") > 0
    now[0] += 60
    assert [bucket.take("a") for _ in range(4)][-1] > 0  # refills only up to the burst


def test_errors_are_json_404_and_405(env):
    with serving(env) as url:
        r = get(f"{url}{BASE}?region=ap")
        assert r.status_code == 404 and r.headers["Content-Type"] == "application/json"
        assert "'ap'" in r.json()["error"] and "eu, us" in r.json()["error"]
        assert get(f"{url}/v1/info/other").status_code == 404
        assert get(f"{url}{BASE}/").status_code == 404
        p = requests.post(f"{url}{BASE}?region=us", data=b"x" * 100, timeout=10)
        assert p.status_code == 405 and p.headers["Allow"] == "GET, HEAD" and "POST" in p.json()["error"]
        assert requests.delete(f"{url}{BASE}", timeout=10).status_code == 405


def test_atom_feed_has_one_entry_per_announced_change(env):
    announce(env, "198.51.100.11")
    announce(env, "203.0.113.21")
    with serving(env, base_url="https://ips.example.com") as url:
        r = get(f"{url}{BASE}/changes.atom")
    assert r.headers["Content-Type"].startswith("application/atom+xml")
    feed = ET.fromstring(r.content)
    ids = sorted(e.findtext(f"{ATOM}id") for e in feed.findall(f"{ATOM}entry"))
    assert ids == [
        "urn:smtp-egress:change:eu/add/203.0.113.21/2026-12-20",
        "urn:smtp-egress:change:us/add/198.51.100.11/2026-12-10",
    ]
    assert (
        feed.find(f"{ATOM}link[@rel='self']").get("href") == "https://ips.example.com/v1/info/ip_addresses/changes.atom"
    )


def test_a_new_announcement_shows_up_without_restart(env):
    with serving(env) as url:
        before = get(f"{url}{BASE}?region=eu")
        assert before.json()["upcoming"] == []
        assert get(f"{url}{BASE}/changes.json").json()["changes"] == []
        announce(env, "203.0.113.21")
        after = get(f"{url}{BASE}?region=eu", **{"If-None-Match": before.headers["ETag"]})
        assert after.status_code == 200 and after.headers["ETag"] != before.headers["ETag"]
        assert after.json()["upcoming"] == [
            {"ip": "203.0.113.21", "action": "add", "effective": "2026-12-20", "announced_at": "2026-12-01T00:00:00Z"}
        ]
        assert [c["ip"] for c in get(f"{url}{BASE}/changes.json").json()["changes"]] == ["203.0.113.21"]


def test_unknown_default_region_is_a_config_error(env):
    from smtp_egress.errors import ConfigError

    with pytest.raises(ConfigError, match="'ap'"):
        make_server(env["plan"], env["db"], "127.0.0.1", 0, default_region="ap")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_egress_serve_subprocess_starts_and_stops_on_sigterm(env):
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "smtp_egress.scripts.cli",
        "serve",
        "--plan",
        str(env["path"]),
        "--db",
        env["db"],
        "--port",
        str(port),
    ]
    environ = {**os.environ, "EGRESS_DEFAULT_REGION": "eu", "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.Popen(
        argv, cwd=env["tmp"], env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        for _ in range(100):
            try:
                if get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert proc.poll() is None, proc.communicate()[1]
            time.sleep(0.1)
        else:
            pytest.fail("egress serve did not answer /healthz within 10 s")
        assert get(f"http://127.0.0.1:{port}{BASE}").json()["region"] == "eu"  # EGRESS_DEFAULT_REGION
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert out.splitlines()[0] == f"serving http://127.0.0.1:{port}/v1/info/ip_addresses (regions: us, eu)"
    assert "Traceback" not in err and f"GET {BASE} 200" in err


def test_egress_serve_bad_rate_exits_2(env, capsys, monkeypatch):
    monkeypatch.setenv("EGRESS_RATE_LIMIT", "fast")
    code = main(["serve", "--plan", str(env["path"]), "--db", env["db"], "--port", "0"])
    assert code == 2 and "EGRESS_RATE_LIMIT 'fast'" in capsys.readouterr().err
