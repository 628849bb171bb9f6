"""Where ``egress synth`` reads what customers were told: --published, else --db/EGRESS_DB (which must exist), else
the project's default ledger when it exists, else the stack's publishedUrl; with none but a placeholder URL it says
so instead of trying the network. Network errors are reported whole, and never claim that "nothing was sent".
"""

from __future__ import annotations

import http.server
import re
import shutil
import threading
import time
from pathlib import Path

import pytest

from smtp_egress.scripts.cli import main

DATA = Path(__file__).resolve().parents[1] / "data"
ADD = "198.51.100.11"


@pytest.fixture
def project(tmp_path, capsys):
    """The example plan in a folder of its own: its default ledger is ``.egress/egress.db`` beside it."""
    plan = tmp_path / "egress-ips.yaml"
    shutil.copy(DATA / "example-plan.yaml", plan)
    return plan


def test_with_no_source_but_a_placeholder_url_synth_says_so_without_the_network(synth, project):
    started = time.monotonic()
    run = synth("us", today="2026-12-10", plan=project)
    assert run.code == 2 and run.plan is None
    assert "nothing says what customers were told, so the deploy guard cannot run" in run.err
    assert f"no ledger at 'sqlite:///{project.parent}/.egress/egress.db' (the default: " in run.err
    assert "'https://us.ips.example.com/v1/info/ip_addresses', an example placeholder" in run.err
    assert "nothing was fetched" in run.err and "Traceback" not in run.err
    assert time.monotonic() - started < 10  # no retries against a name that does not exist
    assert not (project.parent / ".egress").exists()


def test_synth_reads_the_default_ledger_and_says_a_simulation_is_one(synth, project, capsys):
    common = ["--plan", str(project)]
    published = project.parent / "published.json"
    (project.parent / "ws.csv").write_text("workspace_id,region,email\nws-1,us,ops@one.example\n")
    for argv in (
        ["ledger", "init", "--simulation"],
        ["workspaces", "import", str(project.parent / "ws.csv")],
        ["publish", "--region", "us", "--at", "2026-11-26", "--out", str(published)],
        ["notify", "--region", "us", "--published", str(published), "--at", "2026-11-26"],
    ):
        assert main([*argv, *common]) == 0, capsys.readouterr()
    capsys.readouterr()
    run = synth("us", today="2026-12-10", plan=project)
    assert run.code == 0, run.err
    assert ADD in run.on_gateways()  # told in time, per the default ledger
    assert "SIMULATED: what customers were told comes from a simulation ledger" in run.out
    assert run.plan["outputs"]["simulated"] is True
    doc = next(r for r in run.plan["resources"] if r["name"] == "us-published-doc-us-v1-info-ip-addresses")
    assert '"simulated": true' in doc["inputs"]["content"]  # the documents the stack would publish


def test_a_given_ledger_must_exist(synth, project):
    missing = project.parent / "typo.db"
    run = synth("us", today="2026-12-10", plan=project, extra=["--db", f"sqlite:///{missing}"])
    assert run.code == 2 and f"no ledger at 'sqlite:///{missing}' (from --db): the file does not exist" in run.err
    assert not missing.exists()


@pytest.fixture
def untrusted_https(server_tls):
    """An HTTPS server on 127.0.0.1 whose certificate's CA nobody trusts."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    server.socket = server_tls.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"https://127.0.0.1:{server.server_address[1]}/v1/info/ip_addresses"
    server.shutdown()
    server.server_close()


def test_a_network_error_is_reported_whole_and_never_claims_nothing_was_sent(
    synth, project, untrusted_https, monkeypatch
):
    for var in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(var, raising=False)
    run = synth("us", today="2026-12-10", plan=project, published=untrusted_https)
    assert run.code == 3 and run.plan is None
    message = run.err.strip()
    assert message.startswith(f"egress synth: error: published list {untrusted_https}: the connection failed: ")
    # The whole reason, to its last character (it used to be cut after 200, mid-word).
    assert re.search(r"SSLCertVerificationError: \[SSL: CERTIFICATE_VERIFY_FAILED\] [^()]+ \(_ssl\.c:\d+\)", message)
    assert message.endswith("the document was not used: fix the endpoint or pass --published FILE")
    assert "sent" not in message  # synth sends nothing, ever


def test_a_name_that_does_not_resolve_says_so_whole(synth, project):
    url = "https://ips.smtp-egress.invalid/v1/info/ip_addresses"  # RFC 6761: never resolves
    run = synth("us", today="2026-12-10", plan=project, published=url)
    assert run.code == 3
    assert f"published list {url}: the host name did not resolve (gaierror: " in run.err
    assert "sent" not in run.err


def test_a_deploy_refuses_a_simulation_ledger(tmp_path, monkeypatch):
    """Under `pulumi up` (no inputs given) the program never acts on a simulation."""
    from smtp_egress.errors import ConfigError
    from smtp_egress.ledger import Ledger
    from smtp_egress.synth import engine

    url = f"sqlite:///{tmp_path}/sim.db"
    Ledger(url, create=True, simulation=True).close()
    monkeypatch.setenv("EGRESS_DB", url)
    with pytest.raises(ConfigError, match="a deploy never acts on one"):
        engine.run_program("us", None)
