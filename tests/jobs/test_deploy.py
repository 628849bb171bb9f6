"""``egress deploy``'s decision (pure), the job with the real stack program deciding the day's attachments, and
the Automation API driver against a stand-in ``pulumi`` executable."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

import pytest
import yaml

from smtp_egress import errors
from smtp_egress.addresses import GuardViolation
from smtp_egress.dates import start_of
from smtp_egress.document import render
from smtp_egress.jobs.deploy import (
    DeployFailed,
    GatewayReplacement,
    UnknownDeployment,
    UpSummary,
    decide,
    run_deploy,
    synthesized_outputs,
)
from smtp_egress.jobs.notices import NoticeSettings
from smtp_egress.jobs.notify import NotifyInputs, run_notify
from smtp_egress.jobs.pulumi_stack import AutomationStack
from smtp_egress.notices.channels import CHANNELS
from smtp_egress.plan import load_plan

from .conftest import ADDED, FIRST, REMOVED, MemoryStack, Region, attached_of

A, B = "us-east-1a", "us-east-1b"


def outputs(attached: dict[str, bool], gateways: dict[str, str]) -> dict:
    return {
        "egress_addresses": {ip: {"state": "live", "attached": on} for ip, on in attached.items()},
        "nat_gateways": {zone: {"primary": ip, "secondaries": []} for zone, ip in gateways.items()},
    }


def test_equal_attachments_need_no_change():
    same = outputs({"192.0.2.1": True, "192.0.2.2": False}, {A: "192.0.2.1"})
    d = decide("us", same, same)
    assert not d.must_change and d.attach == d.detach == () and "no change" in d.describe()


def test_an_attachment_and_a_detachment_are_named():
    want = outputs({"192.0.2.1": True, "192.0.2.2": True, "192.0.2.3": False}, {A: "192.0.2.1"})
    have = outputs({"192.0.2.1": True, "192.0.2.2": False, "192.0.2.3": True}, {A: "192.0.2.1"})
    d = decide("us", want, have)
    assert d.must_change and d.attach == ("192.0.2.2",) and d.detach == ("192.0.2.3",) and d.replaced == ()
    assert d.describe() == "stack us: attach 192.0.2.2; detach 192.0.2.3"


def test_a_new_primary_is_a_replaced_gateway():
    want = outputs({"192.0.2.1": False, "192.0.2.2": True}, {A: "192.0.2.2"})
    have = outputs({"192.0.2.1": True, "192.0.2.2": True}, {A: "192.0.2.1"})
    assert decide("us", want, have).replaced == (A,)
    assert decide("us", outputs({}, {A: "x", B: "y"}), outputs({}, {A: "x"})).replaced == (B,)


@pytest.mark.parametrize("missing", ["egress_addresses", "nat_gateways"])
def test_a_stack_without_the_outputs_is_named(missing):
    have = outputs({"192.0.2.1": True}, {A: "192.0.2.1"})
    del have[missing]
    with pytest.raises(UnknownDeployment, match=f"stack us has no '{missing}' output.*pulumi up"):
        decide("us", outputs({"192.0.2.1": True}, {A: "192.0.2.1"}), have)


def announce(region: Region, plan: Path | None = None) -> None:
    """The daily notice job on FIRST: every change of the plan announced, told to the region's workspace."""
    plan = plan or region.plan
    published = region.root / "published.json"
    published.parent.mkdir(parents=True, exist_ok=True)
    published.write_bytes(render(load_plan(plan), "us", {}, start_of(FIRST)).json_bytes)
    email = CHANNELS["email"].settings({"outbox": str(region.outbox)})
    result = run_notify(
        NotifyInputs(
            "us", str(published), str(plan), region.db, start_of(FIRST), NoticeSettings(channels={"email": email})
        )
    )
    assert result.exit_code == errors.OK and result.told, result.problems


def test_the_job_runs_up_only_on_the_days_the_attachments_change(region):
    announce(region)
    stack = MemoryStack(region, FIRST)
    for day, ups in ((dt.date(2026, 12, 9), []), (dt.date(2026, 12, 10), [dt.date(2026, 12, 10)])):
        stack.day = day
        result = run_deploy(region.deploy_inputs(day), stack)
        assert stack.ups == ups
    assert result.ran_up and result.decision.attach == (ADDED,) and result.attached == attached_of(stack.state)
    assert result.message.startswith(f"stack us: attach {ADDED}: pulumi up succeeded")
    stack.day = dt.date(2026, 12, 20)
    dry = run_deploy(region.deploy_inputs(stack.day, dry_run=True), stack)
    assert not dry.ran_up and dry.decision.detach == (REMOVED,) and "dry run" in dry.message
    assert len(stack.ups) == 1


def test_a_gateway_replacement_is_refused(region, example_plan):
    """The example plan's addition becomes the primary of us-east-1b (it borrowed .12 until then)."""
    announce(region, example_plan)
    swapped = Region(example_plan, region.db, region.outbox, region.root)
    stack = MemoryStack(swapped, FIRST)
    stack.day = dt.date(2026, 12, 10)
    dry = run_deploy(swapped.deploy_inputs(stack.day, dry_run=True), stack)
    assert dry.message.endswith("replaces the NAT gateway of us-east-1b (dry run: not deployed)")
    with pytest.raises(GatewayReplacement, match=r"replaces the NAT gateway of us-east-1b.*pulumi up") as caught:
        run_deploy(swapped.deploy_inputs(stack.day), stack)
    assert caught.value.exit_code == errors.DRIFT and stack.ups == []


def test_the_guard_refuses_before_anything_is_read(region):
    """Nothing announced: the addition planned for 2026-12-10 may not be attached; the synth refuses."""

    class Untouched:
        def outputs(self):
            raise AssertionError("the deployed stack is not read when the guard refuses")

        up = outputs

    with pytest.raises(GuardViolation, match=r"198\.51\.100\.13 is planned to send from 2026-12-10"):
        run_deploy(region.deploy_inputs(dt.date(2026, 12, 10)), Untouched())


def test_an_up_that_leaves_other_attachments_fails(region):
    announce(region)
    stack = MemoryStack(region, FIRST)
    stack.day = dt.date(2026, 12, 10)
    stack.up = lambda targets: UpSummary("succeeded", {"same": 90})  # the outputs stay as they were
    with pytest.raises(DeployFailed, match=r"now hold 198\.51\.100\.10, 198\.51\.100\.11, 198\.51\.100\.12 instead of"):
        run_deploy(region.deploy_inputs(stack.day), stack)


def test_up_runs_through_the_automation_api_with_the_policy_pack(region, standin):
    state, project, calls = standin
    announce(region)
    day = dt.date(2026, 12, 10)
    (state / "outputs.json").write_text(json.dumps(synthesized_outputs(region.deploy_inputs(FIRST))))
    (state / "after-up.json").write_text(json.dumps(synthesized_outputs(region.deploy_inputs(day))))
    lines: list[str] = []
    driver = AutomationStack("us", project, env={"EGRESS_DB": region.db}, on_output=lines.append)
    result = run_deploy(region.deploy_inputs(day), driver)
    assert result.ran_up and result.attached == {"198.51.100.10", "198.51.100.11", REMOVED, ADDED}
    assert result.up == UpSummary("succeeded", {"same": 88, "update": 1})
    assert any("us-nat-us-east-1a updated" in line for line in lines)
    made = [c["args"] for c in calls()]
    assert made[0] == ["version"]
    assert made[1] == ["--non-interactive", "stack", "select", "--stack", "us"]
    assert made[2][:4] == ["--non-interactive", "stack", "output", "--json"]
    up = next(a for a in made if "up" in a)
    assert up[:4] == ["--non-interactive", "up", "--yes", "--skip-preview"]
    assert [up[i + 1] for i, a in enumerate(up) if a == "--target"] == [
        f"urn:pulumi:us::smtp-egress::smtp-egress:network:RegionalEgress$aws:ec2/natGateway:NatGateway::us-nat-{z}"
        for z in (A, B)
    ]
    pack = Path(up[up.index("--policy-pack") + 1])  # written for this Python, removed after the run
    assert pack.name == "policy_pack" and not pack.exists()
    settings = yaml.safe_load((state / "policy-pack.yaml").read_text())
    assert settings["runtime"] == {"name": "python", "options": {"virtualenv": sys.prefix}}
    assert up[-2:] == ["--stack", "us"]
    assert any(a[1:3] == ["stack", "history"] for a in made)
    stack_calls = calls()[1:]  # after `pulumi version`, which the SDK runs on its own to check the CLI
    assert {c["EGRESS_DB"] for c in stack_calls} == {region.db}  # the program's deploy guard reads this ledger
    assert {c["cwd"] for c in stack_calls} == {str(project)}


def test_nothing_to_change_runs_no_up(region, standin):
    state, project, calls = standin
    announce(region)
    (state / "outputs.json").write_text(json.dumps(synthesized_outputs(region.deploy_inputs(FIRST))))
    result = run_deploy(region.deploy_inputs(dt.date(2026, 12, 9)), AutomationStack("us", project))
    assert not result.ran_up and "no change" in result.message
    assert not any("up" in c["args"] for c in calls())


def test_a_failed_up_is_drift_with_the_cli_s_words(region, standin):
    state, project, _ = standin
    announce(region)
    (state / "outputs.json").write_text(json.dumps(synthesized_outputs(region.deploy_inputs(FIRST))))
    (state / "fail-up").write_text("")
    with pytest.raises(DeployFailed, match="AccessDenied: ec2:AssociateNatGatewayAddress") as caught:
        run_deploy(region.deploy_inputs(dt.date(2026, 12, 10)), AutomationStack("us", project))
    assert caught.value.exit_code == errors.DRIFT


def test_an_unknown_stack_or_no_cli_is_a_clear_error(standin, tmp_path, monkeypatch):
    _, project, _ = standin
    with pytest.raises(errors.ConfigError, match=r"(?s)cannot select stack 'eu'.*no stack named 'eu' found"):
        AutomationStack("eu", project).outputs()
    with pytest.raises(errors.ConfigError, match=r"holds no Pulumi\.yaml"):
        AutomationStack("us", tmp_path).outputs()
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))
    with pytest.raises(errors.ConfigError, match="Pulumi CLI is not installed"):
        AutomationStack("us", project).outputs()
