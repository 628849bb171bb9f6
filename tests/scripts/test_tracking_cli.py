"""``egress tracking serve`` and ``egress tracking rotate-key`` through the command line: a real ``egress``
process answering real requests on loopback, stopped by SIGTERM; every bad value refused with exit 2, naming it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from smtp_egress.ledger import Ledger
from smtp_egress.scripts.cli import main
from smtp_egress.tracking.keys import load_keyring
from smtp_egress.tracking.rewrite import rewrite_links
from smtp_egress.tracking.tokens import TokenSigner

ENV = ("EGRESS_DB", "EGRESS_TRACKING_KEYS", "EGRESS_TRACKING_LISTEN", "EGRESS_TRACKING_DOMAINS")
DOMAIN = "links.customer.example"


def command(tmp_path: Path, *argv: str, **environ: str) -> tuple[list[str], dict[str, str]]:
    clean = {k: v for k, v in os.environ.items() if k not in ENV}
    return [sys.executable, "-m", "smtp_egress.scripts.cli", "tracking", *argv], {**clean, **environ}


def run(tmp_path: Path, *argv: str, **environ: str) -> subprocess.CompletedProcess:
    cmd, env = command(tmp_path, *argv, **environ)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path)


@pytest.fixture
def project(tmp_path, capsys):
    db = f"sqlite:///{tmp_path}/ledger.db"
    Ledger(db, create=True).close()
    assert main(["tracking", "rotate-key", "--keys", str(tmp_path / "keys")]) == 0
    capsys.readouterr()
    return {"db": db, "keys": str(tmp_path / "keys")}


def test_a_rewritten_message_clicks_through_a_real_tracker_process_until_sigterm(tmp_path, project):
    cmd, env = command(tmp_path, "serve", "--listen", "127.0.0.1:0", "--db", project["db"])
    env |= {"EGRESS_TRACKING_KEYS": project["keys"], "EGRESS_TRACKING_DOMAINS": f"{DOMAIN},other.example"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    try:
        banner = proc.stdout.readline()
        assert banner.startswith("tracking on http://127.0.0.1:") and "(domains from --domain)" in banner
        base = banner.split()[2]
        signer = TokenSigner(load_keyring(project["keys"]))
        message = b"Content-Type: text/plain\r\n\r\nSee https://shop.example/sale?x=1 today\r\n"
        out = rewrite_links(
            message, tracking_domain=DOMAIN, message_id="<m@x>", recipient="ann@d.example", signer=signer
        )
        link = out.decode().split()[-2]
        assert link.startswith(f"https://{DOMAIN}/c/")
        path = link.removeprefix(f"https://{DOMAIN}")
        reply = requests.get(base + path, headers={"Host": DOMAIN}, allow_redirects=False, timeout=10)
        assert (reply.status_code, reply.headers["Location"]) == (302, "https://shop.example/sale?x=1")
        elsewhere = requests.get(base + path, headers={"Host": "other.example"}, allow_redirects=False, timeout=10)
        assert elsewhere.status_code == 404
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0 and "egress tracking serve: stopped" in err and "Traceback" not in err
    ledger = Ledger(project["db"])
    try:
        from smtp_egress.tracking.events import events_for

        with ledger.engine.connect() as conn:
            (event,) = events_for(conn, "<m@x>", "ann@d.example")
    finally:
        ledger.close()
    assert (event.kind, event.link_index, event.destination) == ("click", 0, "https://shop.example/sale?x=1")


@pytest.mark.parametrize(
    ("argv", "environ", "needle"),
    [
        (["--listen", "8081"], {}, "--listen '8081' is not HOST:PORT"),
        (["--listen", "127.0.0.1:99999"], {}, "--listen '127.0.0.1:99999' is not HOST:PORT"),
        ([], {"EGRESS_TRACKING_LISTEN": ":80"}, "EGRESS_TRACKING_LISTEN ':80' is not HOST:PORT"),
        (["--listen", "x" * 300 + ":80"], {}, "--listen 'xxxx"),
        (["--domain", "links.example/x"], {}, "--domain 'links.example/x' is not a host name"),
        ([], {"EGRESS_TRACKING_DOMAINS": "a.example,b c"}, "EGRESS_TRACKING_DOMAINS 'b c' is not a host name"),
        (["--keys", "nope"], {}, "the tracking key file 'nope' (from --keys) does not exist"),
        ([], {"EGRESS_TRACKING_KEYS": "nope"}, "(from EGRESS_TRACKING_KEYS) does not exist"),
        (["--keys", ""], {}, "no tracking key file: give --keys PATH or set EGRESS_TRACKING_KEYS"),
        (["--domain", DOMAIN, "--db", "sqlite:///missing.db"], {}, "no ledger at 'sqlite:///missing.db' (from --db)"),
    ],
)
def test_serve_refuses_bad_values_naming_the_flag_or_variable(tmp_path, project, argv, environ, needle):
    base = ["--db", project["db"]] if "--db" not in argv else []
    keys = {} if "--keys" in argv or "EGRESS_TRACKING_KEYS" in environ else {"EGRESS_TRACKING_KEYS": project["keys"]}
    done = run(tmp_path, "serve", *base, *argv, **keys, **environ)
    assert done.returncode == 2, done.stderr
    assert needle in done.stderr and "Traceback" not in done.stderr and "tracking on" not in done.stdout


def test_serve_refuses_a_port_in_use_and_a_key_file_others_can_read(tmp_path, project):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run(
            tmp_path,
            "serve",
            "--listen",
            f"127.0.0.1:{port}",
            "--domain",
            DOMAIN,
            "--db",
            project["db"],
            "--keys",
            project["keys"],
        )
    assert done.returncode == 2 and f"cannot listen on 127.0.0.1:{port}" in done.stderr
    os.chmod(project["keys"], 0o644)
    done = run(tmp_path, "serve", "--domain", DOMAIN, "--db", project["db"], "--keys", project["keys"])
    assert done.returncode == 2 and "(mode 0644)" in done.stderr and "chmod 600" in done.stderr


def test_rotate_key_appends_a_key_that_signs_and_never_prints_a_secret(tmp_path, capsys):
    keys = tmp_path / "keys"
    assert main(["tracking", "rotate-key", "--keys", str(keys), "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert main(["tracking", "rotate-key", "--keys", str(keys)]) == 0
    out = capsys.readouterr().out
    ring = load_keyring(keys)
    assert first == {"key_id": ring.keys[0].key_id, "keys": 1, "path": str(keys)}
    assert out == f"new signing key {ring.current.key_id} in {keys} (2 keys verify)\n"
    secrets = [line.split()[1] for line in keys.read_text().splitlines() if not line.startswith("#")]
    assert len(secrets) == 2 and not any(s in out or s in json.dumps(first) for s in secrets)
    assert oct(keys.stat().st_mode & 0o777) == "0o600"


def test_help_lists_the_tracking_command(capsys):
    with pytest.raises(SystemExit):
        main(["tracking", "--help"])
    out = capsys.readouterr().out
    assert "serve" in out and "rotate-key" in out
    started = time.monotonic()
    assert (
        subprocess.run([sys.executable, "-m", "smtp_egress.scripts.cli", "--help"], capture_output=True).returncode == 0
    )
    assert time.monotonic() - started < 20


def test_without_domain_flags_the_tracker_answers_the_ledgers_verified_tracking_domains(tmp_path, project):
    import sqlalchemy as sa

    from smtp_egress.jobs.tracking import TrackerInputs, open_tracker
    from smtp_egress.ledger_location import LedgerLocation

    engine = sa.create_engine(project["db"])
    with engine.begin() as conn:  # ws-1 verified; ws-2 has a tracking domain but no verification state
        conn.execute(
            sa.text(
                "INSERT INTO workspaces (workspace_id, region, updated_at, sending_domain, tracking_domain) VALUES "
                "('ws-1', 'us', '2026-11-30 00:00:00', 'customer.example', :d), "
                "('ws-2', 'us', '2026-11-30 00:00:00', 'other.example', 'links.other.example')"
            ),
            {"d": DOMAIN},
        )
        conn.execute(
            sa.text(
                "INSERT INTO domain_states (workspace_id, tracking_domain, sending_domain, state, since, checked_at) "
                "VALUES ('ws-1', :d, 'customer.example', 'verified', '2026-11-30 00:00:00', '2026-11-30 00:00:00')"
            ),
            {"d": DOMAIN},
        )
    engine.dispose()
    inputs = TrackerInputs("127.0.0.1", 0, project["keys"], "--keys", LedgerLocation(project["db"]), log=False)
    tracker = open_tracker(inputs)
    try:
        assert tracker.domains_from == "the ledger"
        assert tracker.server.tracker.domains.is_verified(DOMAIN)
        assert not tracker.server.tracker.domains.is_verified("links.other.example")
        assert not tracker.server.tracker.domains.is_verified("other.example")
    finally:
        tracker.close()
