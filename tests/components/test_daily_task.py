"""The daily task's role: exactly what ``egress daily`` needs (publish, invalidate, the stack's state, the NAT
gateways' secondary addresses), reviewed by the ``parliament`` IAM linter, and the task that runs it."""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import os
import sys
import types
from pathlib import Path

import pytest

from smtp_egress.components import daily_task, iam_policies
from smtp_egress.jobs import synth

DATA = Path(__file__).resolve().parents[1] / "stacks" / "data"
ACCOUNT, REGION = "123456789012", "us-east-1"


def parliament_findings(policy: str) -> list[tuple[str, object]]:
    """parliament's findings on a policy document, as (issue, detail)."""
    if "pkg_resources" not in sys.modules and importlib.util.find_spec("pkg_resources") is None:
        # parliament 1.6.4 finds its data files with pkg_resources, which setuptools >= 81 no longer ships:
        # this stand-in answers the one call it makes (resource_filename) from the package's folder.
        shim = types.ModuleType("pkg_resources")
        shim.resource_filename = lambda package, name: os.path.join(  # type: ignore[attr-defined]
            importlib.util.find_spec(package).submodule_search_locations[0], name
        )
        sys.modules["pkg_resources"] = shim
    from parliament import analyze_policy_string

    return [(f.issue, f.detail) for f in analyze_policy_string(policy).findings]


def policy(**change) -> str:
    args = dict(
        publish_bucket_arn="arn:aws:s3:::us-published-documents-3cb55e5",
        publish_prefix="us/",
        distribution_arn=f"arn:aws:cloudfront::{ACCOUNT}:distribution/E91880C40A30AE",
        state_bucket_arn="arn:aws:s3:::example-pulumi-state",
        state_prefix="smtp-egress",
        nat_gateway_arns=[f"arn:aws:ec2:{REGION}:{ACCOUNT}:natgateway/nat-25f9856e640f69527"],
        elastic_ip_arns=[f"arn:aws:ec2:{REGION}:{ACCOUNT}:elastic-ip/eipalloc-a5796884ecabfd5bb"],
        network_interfaces_arn=f"arn:aws:ec2:{REGION}:{ACCOUNT}:network-interface/*",
    )
    return iam_policies.daily_task_policy(**{**args, **change})


def test_parliament_finds_nothing_in_the_daily_role():
    assert parliament_findings(policy()) == []
    kms = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    assert parliament_findings(policy(secrets_kms_key_arn=kms)) == []


def test_parliament_would_catch_a_broader_role():
    """The linter is not a formality: the same role with Resource "*" on the NAT actions is flagged."""
    broad = json.loads(policy())
    for s in broad["Statement"]:
        if s["Sid"] == "GatewayAddresses":
            s["Resource"] = "*"
    assert ("RESOURCE_STAR", list(iam_policies.DAILY_NAT_ACTIONS)) in parliament_findings(json.dumps(broad))


def test_exactly_these_actions_and_no_wildcard_action():
    statements = json.loads(policy())["Statement"]
    actions = sorted({a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])})
    assert actions == [
        "cloudfront:CreateInvalidation",
        "cloudfront:GetInvalidation",
        "cloudfront:ListInvalidations",
        "ec2:AssociateNatGatewayAddress",
        "ec2:DescribeAddresses",
        "ec2:DescribeNatGateways",
        "ec2:DisassociateNatGatewayAddress",
        "s3:DeleteObject",
        "s3:GetObject",
        "s3:ListBucket",
        "s3:PutObject",
    ]
    for s in statements:
        assert s["Effect"] == "Allow"
        if s["Resource"] == "*":
            assert all(a.startswith("ec2:Describe") for a in s["Action"]), s  # no resource-level form exists
    by_sid = {s["Sid"]: s for s in statements}
    assert by_sid["PublishObjects"]["Resource"] == "arn:aws:s3:::us-published-documents-3cb55e5/us/*"
    assert "s3:DeleteObject" not in by_sid["PublishObjects"]["Action"]  # the publish step deletes one key only:
    assert (
        by_sid["PublishUnsign"]["Resource"] == "arn:aws:s3:::us-published-documents-3cb55e5/us/v1/info/ip_addresses.sig"
    )
    assert by_sid["StackState"]["Resource"] == "arn:aws:s3:::example-pulumi-state/smtp-egress/*"


@pytest.mark.parametrize("stack", ["us", "eu"])
def test_the_stacks_task_runs_the_day_with_a_role_parliament_accepts(stack):
    published = {"us": "published-us-announced.json", "eu": "published-eu.json"}[stack]
    plan = synth.run(
        synth.SynthInputs(stack, DATA / "egress-ips.yaml", dt.date(2026, 11, 26), published=str(DATA / published))
    ).document
    by_name = {r["name"]: r for r in plan["resources"]}
    role_policy = by_name[f"{stack}-notices-daily-role-policy"]["inputs"]["policy"]
    assert parliament_findings(role_policy) == []
    nat_ids = {r["id"] for r in plan["resources"] if r["type"] == "aws:ec2/natGateway:NatGateway"}
    granted = next(s for s in json.loads(role_policy)["Statement"] if s["Sid"] == "GatewayAddresses")["Resource"]
    assert {a.rsplit("/", 1)[1] for a in granted if ":natgateway/" in a} == nat_ids
    task = by_name[f"{stack}-notices-task"]["inputs"]
    (container,) = json.loads(task["containerDefinitions"])
    assert container["command"][:6] == ["egress", "daily", "--region", stack, "--stack", stack]
    # the publish steps reach customers: the publisher's bucket at the distribution's origin path, invalidated
    bucket = by_name[f"{stack}-published-documents"]["id"]  # the mocks name a bucket by its physical ID
    distribution = by_name[f"{stack}-published-distribution"]["id"]
    upload = container["command"][container["command"].index("--upload") :][:4]
    assert upload == ["--upload", f"s3://{bucket}/{stack}", "--invalidate", distribution]
    assert (
        plan["outputs"]["publisher_bucket"] == bucket and plan["outputs"]["publisher_distribution_id"] == distribution
    )
    assert {"name": "PULUMI_BACKEND_URL", "value": "s3://example-pulumi-state/smtp-egress"} in container["environment"]
    assert container["readonlyRootFilesystem"] is True and container["mountPoints"][0]["containerPath"] == "/tmp"


def test_without_a_state_backend_the_task_notifies_only_with_no_permissions():
    plan = synth.run(
        synth.SynthInputs(
            "us",
            DATA / "egress-ips.yaml",
            dt.date(2026, 11, 26),
            published=str(DATA / "published-us-announced.json"),
            config={"smtp-egress:stateBackend": ""},
        )
    ).document
    names = {r["name"] for r in plan["resources"]}
    assert "us-notices-daily-role-policy" not in names
    task = next(r for r in plan["resources"] if r["name"] == "us-notices-task")["inputs"]
    assert json.loads(task["containerDefinitions"])[0]["command"][:2] == ["egress", "notify"]


def test_a_bad_state_backend_is_named():
    args = daily_task.DailyTaskArgs("us", "https://state.example.com/x", "b", "E1", [], [])
    (problem,) = daily_task.problems(args)
    assert "'https://state.example.com/x'" in problem and "s3://BUCKET/PREFIX" in problem
