"""The synth job without a command line: typed inputs in, the plan, its summary and policy findings out."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from smtp_egress.jobs import synth
from smtp_egress.ledger import Ledger

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "stacks" / "data"


def inputs(stack: str = "us", **change) -> synth.SynthInputs:
    published = {"us": "published-us-announced.json", "eu": "published-eu.json"}[stack]
    kw = dict(
        stack=stack, plan_path=DATA / "egress-ips.yaml", today=dt.date(2026, 11, 26), published=str(DATA / published)
    )
    return synth.SynthInputs(**{**kw, **change})


@pytest.mark.parametrize("stack", ["us", "eu"])
def test_the_plan_is_the_golden_one_and_nothing_is_written(stack, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = synth.run(inputs(stack))
    assert result.plan_bytes() == (ROOT / "tests" / "golden" / f"synth-{stack}.json").read_bytes()
    assert list(tmp_path.iterdir()) == []
    assert result.violations == ()


def test_the_summary_is_typed_and_renders_as_before():
    summary = synth.run(inputs()).summary
    assert isinstance(summary, synth.SynthSummary)
    assert (summary.stack, summary.today, summary.resources) == (
        "us",
        "2026-11-26",
        123,
    )  # + the workers' secrets: 2 secrets (no value), their role policy, the Secrets Manager endpoint;
    # + the autoscaling endpoint and the workers' role-health policy (they mark themselves unhealthy);
    # 117: + KMS endpoint, SMTP key, scaling, DLQ alarm; + the branded domains' re-check: 17 (2 components, the task,
    # scheduler role and policy, DLQ and policy, schedule; alerts: key, topic, policy, 2 rules, 2 targets, the
    # dead-letter alarm, 1 email subscription)
    # 88, the .sig, the daily task's role policy, and silence's 5: the task role's heartbeat policy, the
    # dead-letter queue and its policy, 2 alarms
    assert summary.by_type["aws:ec2/eip:Eip"] == 4 and summary.guard_overrides == []
    assert {ip: a["state"] for ip, a in summary.egress_addresses.items()} == {
        "198.51.100.10": "live",
        "198.51.100.11": "announced",
        "198.51.100.12": "retiring",
    }
    as_json = summary.as_dict()
    assert set(as_json) == {
        "stack",
        "today",
        "plan_sha256",
        "resources",
        "by_type",
        "egress_addresses",
        "worker_ports",
        "guard_overrides",
        "policy_violations",
        "simulated",
    }
    assert as_json["policy_violations"] == [] and as_json["simulated"] is False


def test_policy_violations_are_findings_not_errors(monkeypatch):
    from smtp_egress.checks import policies

    def no_nat_gateways(r):
        return [policies.Violation("no-nat", r["urn"], "NAT gateway found")] if r["type"].endswith("NatGateway") else []

    monkeypatch.setitem(policies.RESOURCE_RULES, "no-nat", ("test rule", no_nat_gateways))
    result = synth.run(inputs())
    assert len(result.violations) == 2 and all(isinstance(v, policies.Violation) for v in result.violations)
    assert [v for v in result.summary.as_dict()["policy_violations"] if "NAT gateway found" in v] != []


def test_config_overrides_and_the_ledger_reach_the_program(tmp_path):
    """An empty ledger: nothing was announced, so the addition due today needs the override given as config."""
    reason = "INC-4711: approved"
    Ledger(f"sqlite:///{tmp_path}/l.db", create=True).close()
    result = synth.run(
        inputs(
            today=dt.date(2026, 12, 10),
            published=None,
            ledger_url=f"sqlite:///{tmp_path}/l.db",
            config={"smtp-egress:emergencyOverride": reason},
        )
    )
    (override,) = result.summary.guard_overrides
    assert (override["ip"], override["reason"]) == ("198.51.100.11", reason)
    assert "never announced" in override["violation"]


def test_a_bad_plan_fails_before_the_engine_starts(tmp_path):
    from smtp_egress.errors import EgressError

    bad = tmp_path / "plan.yaml"
    bad.write_text("regions:\n  us: [{ip: 300.1.1.1}]\n")
    with pytest.raises(EgressError, match=r"plan.yaml:2"):
        synth.run(inputs(plan_path=bad))
