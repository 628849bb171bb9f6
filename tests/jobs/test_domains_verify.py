"""``egress domains verify`` end to end: a simulation ledger, workspaces imported from CSV, the checks through a
real knotd on loopback (the real DNS engine of smtp_egress.checks.domains) or a scripted engine (the 72-hour rule over
--at days, time budgets, bounded concurrency), history and transitions in the ledger, notices in a Maildir."""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib.util
import json
import mailbox
from pathlib import Path

import pytest
import sqlalchemy as sa

import smtp_egress.jobs.domains_verify as job
from smtp_egress.domains.records import DomainCheck, RecordCheck
from smtp_egress.jobs.domains_engine import Engine
from smtp_egress.ledger import Ledger
from smtp_egress.scripts.cli import main


def _load(name):
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


standin = _load("domains_standin")
knotzone = _load("knot_zone")
PLAN = str(Path(__file__).parents[2] / "stacks" / "egress-ips.yaml")
CSV = (
    "workspace_id,region,email,sending_domain,tracking_domain\n"
    "ws-1,us,ops@one.example,customer.example,links.customer.example\n"
    "ws-2,us,ops@two.example,other.example,links.other.example\n"
)


@pytest.fixture
def env(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("EGRESS_TRACKING_DOMAIN", raising=False)
    monkeypatch.setenv("EGRESS_OUTBOX", str(tmp_path / "outbox"))
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path}/l.db"
    assert main(["ledger", "init", "--simulation", "--db", url, "--plan", PLAN]) == 0
    (tmp_path / "ws.csv").write_text(CSV)
    assert main(["workspaces", "import", "ws.csv", "--db", url, "--plan", PLAN]) == 0
    capsys.readouterr()
    return url


def egress(capsys, url, *argv):
    code = main([*argv, "--db", url, "--plan", PLAN])
    out, err = capsys.readouterr()
    return code, out, err


def use(monkeypatch, engine):
    monkeypatch.setattr(job, "default_engine", lambda: engine)


def bounce(url, ws):
    ledger = Ledger(url)
    try:
        return ledger.conn.execute(sa.text(f"SELECT bounce_label FROM workspaces WHERE workspace_id = '{ws}'")).scalar()
    finally:
        ledger.close()


def zone(url, *, mx=True, cname="track.us.egress.example.com."):
    lines = [
        "$ORIGIN customer.example.",
        "$TTL 300",
        "@ SOA ns.customer.example. admin.customer.example. 1 3600 600 86400 60",
        "@ NS ns.customer.example.",
        "ns A 127.0.0.1",
        f"links CNAME {cname}",
    ]
    if mx:
        lines.append(f"{bounce(url, 'ws-1')} MX 10 mx.us.egress.example.com.")
    return "\n".join(lines) + "\n"


def history(url, ws):
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT kind, status, previous FROM domain_history WHERE workspace_id = :w ORDER BY history_id"),
            {"w": ws},
        ).all()
    engine.dispose()
    return [tuple(r) for r in rows]


# --- a real knotd on loopback ---------------------------------------------------------------------------------


def test_verified_then_missing_record_through_a_real_knotd(env, capsys, monkeypatch, tmp_path):
    with knotzone.knot(tmp_path / "knot", {"customer.example": zone(env)}) as (host, port):
        code, out, _ = egress(
            capsys,
            env,
            "domains",
            "verify",
            "links.customer.example",
            "--nameserver",
            f"{host}:{port}",
            "--json",
            "--at",
            "2026-12-01",
        )
        report = json.loads(out)
        assert code == 0, out
        (ws,) = report["workspaces"]
        assert (ws["workspace_id"], ws["status"], ws["state"], ws["transition"]) == (
            "ws-1",
            "verified",
            "verified",
            {"from": None, "to": "verified"},
        )
        assert [r["found"] for r in ws["records"]] == [
            ["CNAME track.us.egress.example.com."],
            ["MX 10 mx.us.egress.example.com."],
        ]

        knotzone.reload(tmp_path / "knot", "customer.example", zone(env, mx=False).replace(" 1 3600", " 2 3600"))
        import time

        deadline = time.monotonic() + 5
        while True:
            code, out, _ = egress(
                capsys,
                env,
                "domains",
                "verify",
                "--workspace",
                "ws-1",
                "--nameserver",
                f"{host}:{port}",
                "--at",
                "2026-12-02",
            )
            if code != 0 or time.monotonic() > deadline:
                break
        assert code == job.DOMAIN_FAILED, out
        assert "ws-1: failed (links.customer.example); state verified since 2026-12-01T00:00:00Z" in out
        assert "fails at 2026-12-05T00:00:00Z if still failing" in out
        assert f"MX {bounce(env, 'ws-1')}.customer.example. -> 10 mx.us.egress.example.com.: failed" in out
    assert history(env, "ws-1")[:2] == [("check", "verified", None), ("transition", "verified", None)]


def test_a_cname_elsewhere_and_a_server_that_does_not_answer(env, capsys, monkeypatch, tmp_path):
    with knotzone.knot(tmp_path / "knot", {"customer.example": zone(env, cname="elsewhere.example.net.")}) as (h, p):
        code, out, _ = egress(capsys, env, "domains", "verify", "customer.example", "--nameserver", f"{h}:{p}")
        assert code == job.DOMAIN_FAILED and "found CNAME elsewhere.example.net." in out, out
        assert "change the CNAME's target to track.us.egress.example.com." in out
        assert "now failed (was never checked)" in out
    port = knotzone._free_udp_port()  # nothing listens there: every lookup times out -> unknown, nothing changes
    code, out, _ = egress(
        capsys, env, "domains", "verify", "--workspace", "ws-1", "--nameserver", f"127.0.0.1:{port}", "--timeout", "0.2"
    )
    assert code == job.DOMAIN_UNKNOWN and "ws-1: unknown" in out and "state failed since" in out
    assert [k for k, *_ in history(env, "ws-1")] == ["check", "transition", "check"]


# --- the 72-hour rule, over simulated days ---------------------------------------------------------------------


def test_a_verified_domain_fails_only_after_72_hours_of_definite_failures(env, capsys, monkeypatch):
    outcomes = {"ws-1": "verified", "ws-2": "verified"}
    use(monkeypatch, standin.scripted(outcomes))
    states = []
    for day, status in [("01", "verified"), ("02", "failed"), ("03", "unknown"), ("04", "failed"), ("05", "failed")]:
        outcomes["ws-1"] = status
        code, out, _ = egress(capsys, env, "domains", "verify", "--all", "--json", "--at", f"2026-12-{day}")
        (ws1, _ws2) = json.loads(out)["workspaces"]
        states.append((ws1["status"], ws1["state"], ws1["failing_since"], code))
    assert states == [
        ("verified", "verified", None, 0),
        ("failed", "verified", "2026-12-02T00:00:00Z", 7),
        ("unknown", "verified", "2026-12-02T00:00:00Z", 8),
        ("failed", "verified", "2026-12-02T00:00:00Z", 7),
        ("failed", "failed", None, 7),  # 72 hours after the first failure
    ]
    assert [r for r in history(env, "ws-1") if r[0] == "transition"] == [
        ("transition", "verified", None),
        ("transition", "failed", "verified"),
    ]
    assert [r for r in history(env, "ws-2") if r[0] == "transition"] == [("transition", "verified", None)]
    engine = sa.create_engine(env)
    with engine.connect() as conn:
        ats = conn.execute(sa.text("SELECT at FROM domain_history WHERE workspace_id = 'ws-1' AND kind = 'check'"))
        assert [str(a)[:10] for (a,) in ats] == [f"2026-12-{d}" for d in ("01", "02", "03", "04", "05")]
    engine.dispose()


def test_a_real_ledger_refuses_a_date_and_time_never_goes_back(env, capsys, monkeypatch, tmp_path):
    use(monkeypatch, standin.scripted({"ws-1": "verified", "ws-2": "verified"}))
    assert egress(capsys, env, "domains", "verify", "--all", "--at", "2026-12-05")[0] == 0
    code, _, err = egress(capsys, env, "domains", "verify", "--all", "--at", "2026-12-04")
    assert code == 2 and "before the latest moment" in err
    real = f"sqlite:///{tmp_path}/real.db"
    assert egress(capsys, real, "workspaces", "import", "ws.csv")[0] == 0
    code, _, err = egress(capsys, real, "domains", "verify", "--all", "--at", "2026-12-04")
    assert code == 2 and "is refused" in err


def test_changed_names_start_again_with_no_state(env, capsys, monkeypatch, tmp_path):
    use(monkeypatch, standin.scripted({"ws-1": "verified", "ws-2": "verified"}))
    egress(capsys, env, "domains", "verify", "--all", "--at", "2026-12-01")
    (tmp_path / "ws.csv").write_text(CSV.replace("links.customer.example", "go.customer.example"))
    assert egress(capsys, env, "workspaces", "import", "ws.csv")[0] == 0
    monkeypatch.setattr(job, "default_engine", lambda: standin.scripted({"ws-1": "failed", "ws-2": "verified"}))
    _code, out, _ = egress(capsys, env, "domains", "verify", "--all", "--json", "--at", "2026-12-02")
    ws1 = json.loads(out)["workspaces"][0]
    assert (ws1["tracking_domain"], ws1["state"], ws1["transition"]) == (
        "go.customer.example",
        "failed",
        {"from": None, "to": "failed"},
    )


# --- bulk runs always finish, with bounded concurrency -----------------------------------------------------------


def test_a_hanging_engine_gives_unknown_within_the_budget(env, capsys, monkeypatch):
    use(monkeypatch, standin.scripted({"ws-1": "hang", "ws-2": "verified"}))
    code, out, _ = egress(capsys, env, "domains", "verify", "--all", "--json", "--timeout", "0.05")
    ws1, ws2 = json.loads(out)["workspaces"]
    assert code == job.DOMAIN_UNKNOWN and (ws1["status"], ws1["state"], ws2["status"]) == ("unknown", None, "verified")
    assert "did not finish within 0.6 s" in ws1["records"][0]["diagnosis"]


def test_concurrency_is_bounded_and_every_workspace_is_checked_and_recorded(tmp_path, monkeypatch):
    monkeypatch.setattr(job, "RECORD_GROUP", 50)  # recorded in groups of 50, the last one smaller
    url = f"sqlite:///{tmp_path}/l.db"
    ledger = Ledger(url, create=True, simulation=True)
    from smtp_egress.ledger import Workspace

    rows = [
        Workspace(f"ws-{i:03}", "us", {"email": "o@x.example"}, f"s{i}.example", f"t.s{i}.example") for i in range(120)
    ]
    ledger.upsert_workspaces(rows, dt.datetime(2026, 12, 1, tzinfo=dt.UTC))
    ledger.close()
    live, peak = 0, 0

    async def check(workspace_id, expected, resolver):
        nonlocal live, peak
        live += 1
        peak = max(peak, live)
        await asyncio.sleep(0.01)
        live -= 1
        return DomainCheck(
            workspace_id, tuple(RecordCheck(e, "verified", (e.value,), "ok") for e in expected), dt.datetime.now(dt.UTC)
        )

    result = job.run_verify(
        job.VerifyInputs(
            db=url,
            platform_domains={"us": "egress.example.com"},
            selection=job.Selection(all=True),
            moment=dt.datetime(2026, 12, 1, tzinfo=dt.UTC),
            concurrency=7,
            engine=Engine(check, lambda *a: None),
        )
    )
    assert peak == 7 and len(result.items) == 120 and result.exit_code == 0
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        counts = conn.execute(sa.text("SELECT kind, count(*) FROM domain_history GROUP BY kind ORDER BY kind")).all()
        assert counts == [("check", 120), ("transition", 120)]
        assert conn.execute(sa.text("SELECT count(*) FROM domain_states WHERE state = 'verified'")).scalar() == 120
    engine.dispose()


def test_the_progress_bar_shows_only_when_asked_off_a_terminal(env, capsys, monkeypatch):
    use(monkeypatch, standin.scripted({"ws-1": "verified", "ws-2": "verified"}))
    _, _, err = egress(capsys, env, "domains", "verify", "--all")
    assert "verifying" not in err
    _, _, err = egress(capsys, env, "domains", "verify", "--all", "--progress")
    assert "verifying: 100%" in err and "2/2" in err


# --- transitions notify the workspace -------------------------------------------------------------------------


def test_a_transition_is_announced_on_the_workspace_s_channels(env, capsys, monkeypatch, tmp_path):
    use(monkeypatch, standin.scripted({"ws-1": "verified", "ws-2": "failed"}))
    code, out, _ = egress(capsys, env, "domains", "verify", "--all", "--notify", "--at", "2026-12-01")
    assert code == job.DOMAIN_FAILED and "transition notices: 2 sent, 0 failed" in out
    box = mailbox.Maildir(tmp_path / "outbox", create=False)
    subjects = sorted(" ".join(m["Subject"].split()) for m in box)  # unfolded
    assert subjects == [
        "[SIMULATION] Your tracking domain links.customer.example is verified",
        "[SIMULATION] Your tracking domain links.other.example failed verification",
    ]
    bodies = {m["To"]: m.get_payload(decode=True).decode() for m in box}
    assert "CNAME links.other.example. -> track.us.egress.example.com.\n  failed\n" in bodies["ops@two.example"]
    assert "no longer tracked on links.other.example" in bodies["ops@two.example"]
    assert [r for r in history(env, "ws-1") if r[0] == "notice"] == [("notice", "sent", None)]
    code, out, _ = egress(capsys, env, "domains", "verify", "--all", "--notify", "--at", "2026-12-02")
    assert "transition notices" not in out and len(box) == 2  # no transition, no notice


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        ([], "exactly one of them"),
        (["--all", "--workspace", "ws-1"], "exactly one of them"),
        (["--all", "--nameserver", "localhost"], "--nameserver 'localhost' must be HOST:PORT"),
        (["--all", "--timeout", "0"], "--timeout 0 must be above 0"),
        (["--all", "--concurrency", "0"], "--concurrency 0 must be from 1"),
        (["no_such.example"], "DOMAIN 'no_such.example' holds an underscore"),
        (["nobody.example"], "no workspace has the tracking or sending domain 'nobody.example'"),
    ],
)
def test_bad_input_exits_2_naming_the_value(env, capsys, argv, said):
    code, _, err = egress(capsys, env, "domains", "verify", *argv)
    assert code == 2 and said in err and "Traceback" not in err


def test_one_verify_run_at_a_time(env, capsys, monkeypatch):
    use(monkeypatch, standin.scripted({"ws-1": "verified", "ws-2": "verified"}))
    ledger = Ledger(env)
    try:
        with ledger.lock("domains-verify"):
            code, _, err = egress(capsys, env, "domains", "verify", "--all")
    finally:
        ledger.close()
    assert code == 2 and "another 'egress domains' run holds the lock" in err
    assert history(env, "ws-1") == []


def test_a_run_leaves_the_thread_s_event_loop_as_it_was(env, capsys, monkeypatch):
    """The Pulumi engine (egress synth, deploy) still calls asyncio.get_event_loop() in the same process."""
    import warnings

    use(monkeypatch, standin.scripted({"ws-1": "verified", "ws-2": "verified"}))
    assert egress(capsys, env, "domains", "verify", "--all")[0] == 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        loop = asyncio.get_event_loop()  # asyncio.run() would have left none: RuntimeError
    assert not loop.is_closed()
