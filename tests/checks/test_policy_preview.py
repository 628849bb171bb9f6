"""The policy pack during a first ``pulumi preview``: through pulumi-policy's real analyzer (the pack's own process,
spoken to over gRPC as the Pulumi CLI does), with every ID the plans take from another resource sent as unknown,
as a first preview sends them. Rules read only what they check, so they still decide; a rule whose own input is
unknown reports what it can and is reported as not run at preview (advisory), to be decided at ``pulumi up``."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

pytest.importorskip("pulumi_policy")

from google.protobuf import struct_pb2
from pulumi.runtime.proto import analyzer_pb2
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from smtp_egress.checks import policies

ROOT = Path(__file__).resolve().parents[2]
MANDATORY = analyzer_pb2.EnforcementLevel.Value("MANDATORY")
ADVISORY = analyzer_pb2.EnforcementLevel.Value("ADVISORY")


@pytest.fixture(scope="module")
def analyzer(policy_analyzer):
    return policy_analyzer


def golden(stack: str) -> list[dict]:
    plan = json.loads((ROOT / "tests" / "golden" / f"synth-{stack}.json").read_text())
    return [r for r in plan["resources"] if r["custom"]]


def as_first_preview(resources: list[dict]) -> list[tuple[dict, dict, dict[str, list[str]]]]:
    """(resource, properties, property -> URNs it depends on) with every other resource's ID unknown."""
    urn_of = {r["id"]: r["urn"] for r in resources if r.get("id")}

    def hide(value, found: set[str]):
        if isinstance(value, str) and value in urn_of:
            found.add(urn_of[value])
            return UNKNOWN_STRING_VALUE
        if isinstance(value, list):
            return [hide(v, found) for v in value]
        if isinstance(value, dict):
            return {k: hide(v, found) for k, v in value.items()}
        return value

    out = []
    for r in resources:
        props, deps = {}, {}
        for key, value in r["inputs"].items():
            found: set[str] = set()
            props[key] = hide(value, found)
            if found:
                deps[key] = sorted(found)
        out.append((r, props, deps))
    return out


def struct(props: dict) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update(props)
    return s


def analyze(stub, resources: list[dict], *, dependencies: bool = True) -> list:
    """Every diagnostic the pack returns for the resources (each on its own, then the stack), as a preview."""
    previewed = as_first_preview(resources)
    assert sum(UNKNOWN_STRING_VALUE in json.dumps(props) for _, props, _ in previewed) > 20
    diagnostics = []
    for r, props, _ in previewed:
        request = analyzer_pb2.AnalyzeRequest(
            type=r["type"],
            properties=struct(props),
            urn=r["urn"],
            name=r["name"],
            options=analyzer_pb2.AnalyzerResourceOptions(protect=r["protect"]),
        )
        diagnostics += stub.Analyze(request, timeout=30).diagnostics
    stack = analyzer_pb2.AnalyzeStackRequest(
        resources=[
            analyzer_pb2.AnalyzerResource(
                type=r["type"],
                properties=struct(props),
                urn=r["urn"],
                name=r["name"],
                options=analyzer_pb2.AnalyzerResourceOptions(protect=r["protect"]),
                propertyDependencies={
                    k: analyzer_pb2.AnalyzerPropertyDependencies(urns=v) for k, v in deps.items() if dependencies
                },
            )
            for r, props, deps in previewed
        ]
    )
    return diagnostics + list(stub.AnalyzeStack(stack, timeout=60).diagnostics)


def summary(diagnostics) -> list[tuple[str, int, str]]:
    return sorted((d.policyName, d.enforcementLevel, d.urn or d.message) for d in diagnostics)


def named(resources: list[dict], type_: str, suffix: str) -> dict:
    return next(r for r in resources if r["type"] == type_ and r["name"].endswith(suffix))


@pytest.mark.parametrize("stack", ["us", "eu"])
def test_every_rule_decides_on_a_first_preview_of_both_stacks(analyzer, stack):
    assert analyze(analyzer, golden(stack)) == []


def test_violations_are_caught_at_preview_while_ids_are_unknown(analyzer):
    resources = golden("us")
    workers = named(resources, policies.SG, "-smtp-workers")
    workers["inputs"]["egress"].append({"protocol": "tcp", "fromPort": 25, "toPort": 25, "cidrBlocks": ["0.0.0.0/0"]})
    workers["inputs"]["ingress"] = [{"protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrBlocks": ["0.0.0.0/0"]}]
    eip = next(r for r in resources if r["type"] == policies.EIP)
    eip["protect"] = False
    named(resources, policies.LAUNCH_TEMPLATE, "")["inputs"]["metadataOptions"]["httpTokens"] = "optional"
    archive_block = named(resources, policies.PUBLIC_ACCESS_BLOCK, "archive-public-access-block")
    resources.remove(archive_block)
    found = summary(analyze(analyzer, resources))
    assert all(level == MANDATORY for _, level, _ in found), found
    assert {name for name, _, _ in found} == {
        "no-smtp-port-25",
        "no-open-ingress",
        "eip-protected",
        "imdsv2-required",
        "buckets-locked-down",
    }
    stack_urns = {urn for name, _, urn in found if name in policies.STACK_RULES}
    archive = named(resources, policies.BUCKETS[0], "-archive")
    assert stack_urns == {workers["urn"], archive["urn"]}


def test_a_rule_whose_own_input_is_unknown_says_so_and_still_reports_what_it_decided(analyzer):
    """The workers' first egress port is unknown: no-smtp-port-25 cannot decide that rule, so the pack reports
    the policy as not run at preview (advisory, naming the value); the notice job's port-25 rule is still
    reported (mandatory). Every other rule decides as before."""
    resources = golden("us")
    workers = named(resources, policies.SG, "-smtp-workers")
    workers["inputs"]["egress"][0]["fromPort"] = UNKNOWN_STRING_VALUE
    notices = named(resources, policies.SG, "-notices")
    notices["inputs"]["egress"].append({"protocol": "tcp", "fromPort": 25, "toPort": 25, "cidrBlocks": ["0.0.0.0/0"]})
    found = analyze(analyzer, resources)
    assert [(d.policyName, d.enforcementLevel, d.urn) for d in found if d.enforcementLevel == MANDATORY] == [
        ("no-smtp-port-25", MANDATORY, notices["urn"])
    ]
    advisory = [d for d in found if d.enforcementLevel == ADVISORY]
    assert [d.policyName for d in advisory] == ["no-smtp-port-25"]
    assert "can't run policy 'no-smtp-port-25'" in advisory[0].message and "during preview" in advisory[0].message
    assert workers["urn"] in advisory[0].message and "fromPort" in advisory[0].message


def test_an_unknown_imds_setting_is_not_passed_as_required(analyzer):
    resources = golden("eu")
    named(resources, policies.LAUNCH_TEMPLATE, "")["inputs"]["metadataOptions"] = UNKNOWN_STRING_VALUE
    found = analyze(analyzer, resources)
    assert [(d.policyName, d.enforcementLevel) for d in found] == [("imdsv2-required", ADVISORY)]
    assert "metadataOptions.httpTokens" in found[0].message


def test_without_dependencies_an_unknown_bucket_reference_leaves_buckets_undecided(analyzer):
    """A public access block whose ``bucket`` is unknown and names no dependency could cover any bucket: the
    rule neither passes nor fails the buckets, it says it could not run."""
    found = analyze(analyzer, copy.deepcopy(golden("us")), dependencies=False)
    assert [(d.policyName, d.enforcementLevel) for d in found] == [("buckets-locked-down", ADVISORY)]
