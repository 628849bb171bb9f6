"""``egress daily`` and ``egress deploy`` end to end through the command line: a simulation ledger, the real notice
job (maildir), the real publish step into a folder, the real stack program deciding, and the stand-in ``pulumi``
(see conftest.py: the Pulumi CLI cannot be installed here) answering for the deployed stack."""

from __future__ import annotations

import datetime as dt
import json

from smtp_egress.jobs.deploy import synthesized_outputs
from smtp_egress.scripts.cli import main

from .conftest import ADDED, FIRST, Region

BASE = "https://us.ips.test"


def daily_argv(region: Region, project, day: str) -> list[str]:
    doc = str(region.root / "us" / "v1" / "info" / "ip_addresses")
    where = ["--published", doc, "--publish-dir", str(region.root), "--base-url", BASE, "--outbox", str(region.outbox)]
    ledger = ["--project-dir", str(project), "--plan", str(region.plan), "--db", region.db, "--at", day]
    return ["daily", "--region", "us", "--stack", "us", *where, *ledger]


def daily(region: Region, project, day: str, capsys) -> tuple[int, dict]:
    code = main([*daily_argv(region, project, day), "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_the_daily_command_publishes_then_attaches_through_the_stand_in(region, standin, capsys, monkeypatch):
    state, project, calls = standin
    for var in ("EGRESS_DB", "EGRESS_BASE_URL", "EGRESS_SMTP_URL", "EGRESS_FROM", "EGRESS_SIGNING_KEY"):
        monkeypatch.delenv(var, raising=False)
    assert main(["publish", "--static-dir", str(region.root), "--base-url", BASE, "--plan", str(region.plan),
                 "--db", region.db, "--at", FIRST.isoformat()]) == 0  # fmt: skip
    capsys.readouterr()
    (state / "outputs.json").write_text(json.dumps(synthesized_outputs(region.deploy_inputs(FIRST))))

    code, first = daily(region, project, FIRST.isoformat(), capsys)
    assert code == 0, first
    assert [s["step"] for s in first["steps"]] == ["notify", "publish", "gateways", "heartbeat"]
    assert first["heartbeat"]["job"] == "daily" and first["heartbeat"]["metric"] == "not configured"
    assert not any("up" in c["args"] for c in calls())

    day = dt.date(2026, 12, 10)
    (state / "after-up.json").write_text(json.dumps(synthesized_outputs(region.deploy_inputs(day))))
    code, added = daily(region, project, day.isoformat(), capsys)
    assert code == 0, added
    assert [s["step"] for s in added["steps"]] == ["notify", "publish", "gateways", "publish-again", "heartbeat"]
    assert f"attach {ADDED}: pulumi up succeeded" in added["steps"][2]["message"]
    up = next(c for c in calls() if "up" in c["args"])
    assert "--target" in up["args"] and "--policy-pack" in up["args"] and up["EGRESS_DB"] == region.db
    listed = json.loads((region.root / "us" / "v1" / "info" / "ip_addresses").read_text())["ip_addresses"]
    assert ADDED in listed

    deploy = ["deploy", "--stack", "us", "--project-dir", str(project), "--plan", str(region.plan)]
    assert main([*deploy, "--db", region.db, "--at", day.isoformat(), "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["must_change"] is False and again["ran_up"] is False and "no change" in again["message"]


def test_usage_errors_are_named_before_anything_runs(region, standin, capsys, monkeypatch):
    _, project, calls = standin
    monkeypatch.delenv("EGRESS_BASE_URL", raising=False)
    doc = str(region.root / "us" / "v1" / "info" / "ip_addresses")
    common = ["--plan", str(region.plan), "--db", region.db, "--project-dir", str(project)]
    assert main(["daily", "--region", "us", "--published", doc, "--publish-dir", str(region.root), *common]) == 2
    assert "egress daily needs --base-url" in capsys.readouterr().err
    assert main(["deploy", "--stack", "mars", *common]) == 2
    assert "--stack: stack 'mars'" in capsys.readouterr().err
    assert not (region.root / "us").exists() and not any("up" in c["args"] for c in calls())


def exit_of(argv: list[str]) -> int | str:
    """The command's exit code; a traceback (what the malformed-value tests exist to catch) as its words."""
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else str(exc.code)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"[:200]


MALFORMED = ["", "-1", "nope.json", "http://[::1", "a\nb", "x" * 300, "\udcff"]


def test_malformed_values_of_their_own_flags_exit_2_naming_them(region, standin, capsys, monkeypatch):
    """As tests/scripts/test_cli_malformed.py does for the other commands: never a traceback, and a refusal names
    the flag. The stand-in answers for the deployed stack, so a value that happens to be usable runs for real."""
    state, project, _ = standin
    for var in ("EGRESS_DB", "EGRESS_BASE_URL", "EGRESS_SIGNING_KEY", "EGRESS_SMTP_URL", "EGRESS_FROM"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(region.root.parent)
    assert main(["publish", "--static-dir", str(region.root), "--base-url", BASE, "--plan", str(region.plan),
                 "--db", region.db, "--at", FIRST.isoformat()]) == 0  # fmt: skip
    (state / "outputs.json").write_text(json.dumps(synthesized_outputs(region.deploy_inputs(FIRST))))
    common = ["--project-dir", str(project), "--plan", str(region.plan), "--db", region.db, "--at", FIRST.isoformat()]
    bases = {
        "deploy": ["deploy", "--stack", "us", "--dry-run", *common],
        "daily": daily_argv(region, project, FIRST.isoformat()),
    }
    own = {
        "deploy": ["--stack", "--project-dir", "--at"],
        "daily": ["--stack", "--published", "--publish-dir", "--base-url", "--signing-key", "--project-dir"],
    }
    wrong = []
    for name, base in bases.items():
        capsys.readouterr()
        assert main(base) == 0, capsys.readouterr()
        for flag in own[name]:
            for value in MALFORMED:
                argv = list(base)
                if flag in argv:
                    argv[argv.index(flag) + 1] = value
                else:
                    argv += [flag, value]
                code = exit_of(argv)
                out, err = capsys.readouterr()
                if code not in (0, 2, 3) or (code and flag not in err + out):
                    wrong.append(f"{name} {flag} {value[:20]!r}: exit {code!r}: {err.strip()[-200:]!r}")
    assert not wrong, "\n".join(wrong)
