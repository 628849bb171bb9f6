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


def daily(region: Region, project, day: str, capsys) -> tuple[int, dict]:
    doc = region.root / "us" / "v1" / "info" / "ip_addresses"
    code = main(
        [
            "daily",
            "--region",
            "us",
            "--published",
            str(doc),
            "--publish-dir",
            str(region.root),
            "--base-url",
            BASE,
            "--outbox",
            str(region.outbox),
            "--project-dir",
            str(project),
            "--plan",
            str(region.plan),
            "--db",
            region.db,
            "--at",
            day,
            "--json",
        ]
    )
    out = capsys.readouterr().out
    return code, json.loads(out)


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
    assert [s["step"] for s in first["steps"]] == ["notify", "publish", "gateways"]
    assert not any("up" in c["args"] for c in calls())

    day = dt.date(2026, 12, 10)
    (state / "after-up.json").write_text(json.dumps(synthesized_outputs(region.deploy_inputs(day))))
    code, added = daily(region, project, day.isoformat(), capsys)
    assert code == 0, added
    assert [s["step"] for s in added["steps"]] == ["notify", "publish", "gateways", "publish-again"]
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
