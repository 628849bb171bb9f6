"""Deploy policies: each rule on crafted resources (one that holds, one broken on purpose), on the synth
plans of both stacks, through the pulumi-policy adapters, and through the real policy pack process."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from smtp_egress.checks import policies
from smtp_egress.checks.policies import validate_plan, validate_resources

ROOT = Path(__file__).resolve().parents[2]


def res(
    typ: str, name: str = "r", *, protect: bool = False, retain: bool = False, id: str | None = None, **inputs
) -> dict:
    return {
        "type": typ,
        "name": name,
        "urn": f"urn:pulumi:t::p::{typ}::{name}",
        "id": id or f"{name}-id",
        "protect": protect,
        "retain_on_delete": retain,
        "inputs": inputs,
    }


def sg(egress=(), ingress=()) -> dict:
    return res(policies.SG, "workers", egress=list(egress), ingress=list(ingress))


def rule(protocol="tcp", lo=465, hi=None, **kw) -> dict:
    return {"protocol": protocol, "fromPort": lo, "toPort": lo if hi is None else hi, **kw}


def names(violations) -> list[str]:
    return [v.policy for v in violations]


# no-smtp-port-25 -------------------------------------------------------------------------------------


def test_submission_ports_pass_and_port_25_fails_in_every_rule_style():
    ok = sg(
        egress=[rule(lo=p, cidrBlocks=["0.0.0.0/0"]) for p in (465, 587, 2525)]
        + [rule("udp", 53, cidrBlocks=["10.0.0.2/32"])]
    )
    assert policies.no_smtp_port_25([ok]) == []
    broken = [
        sg(egress=[rule(lo=25, cidrBlocks=["0.0.0.0/0"])]),
        sg(egress=[rule(lo=1, hi=1024, cidrBlocks=["0.0.0.0/0"])]),
        sg(egress=[rule("-1", 0, 0, cidrBlocks=["0.0.0.0/0"])]),  # allow-all egress covers 25
        sg(egress=[rule("6", 25, cidrBlocks=["198.51.100.0/24"])]),
        res(policies.SG_RULE, type="egress", protocol="tcp", fromPort=25, toPort=25, cidrBlocks=["0.0.0.0/0"]),
        res(policies.VPC_EGRESS, ipProtocol="tcp", fromPort=20, toPort=30, cidrIpv4="0.0.0.0/0"),
        res(policies.VPC_EGRESS, ipProtocol="-1", cidrIpv6="::/0"),
    ]
    for r in broken:
        assert names(policies.no_smtp_port_25([r])) == ["no-smtp-port-25"], r
    # ingress on 25 is not egress, and another protocol on 25 is not SMTP
    assert policies.no_smtp_port_25([sg(ingress=[rule(lo=25, cidrBlocks=["10.0.0.0/8"])])]) == []
    assert policies.no_smtp_port_25([sg(egress=[rule("udp", 25, cidrBlocks=["0.0.0.0/0"])])]) == []


def acl(*rules) -> dict:
    return res(
        policies.NACL,
        "nacl",
        egress=[
            {"ruleNo": no, "action": action, "protocol": proto, "fromPort": lo, "toPort": hi, "cidrBlock": cidr}
            for no, action, proto, lo, hi, cidr in rules
        ],
    )


def test_network_acl_first_match_decides():
    deny_first = acl(
        (100, "allow", "-1", 0, 0, "10.20.0.0/16"),
        (110, "deny", "tcp", 25, 25, "0.0.0.0/0"),
        (200, "allow", "-1", 0, 0, "0.0.0.0/0"),
    )
    assert policies.no_smtp_port_25([deny_first]) == []
    allow_first = acl((100, "allow", "-1", 0, 0, "0.0.0.0/0"), (110, "deny", "tcp", 25, 25, "0.0.0.0/0"))
    (v,) = policies.no_smtp_port_25([allow_first])
    assert "rule 100" in v.message and "0.0.0.0/0" in v.message
    narrow_deny = acl((110, "deny", "tcp", 25, 25, "198.51.100.0/24"), (200, "allow", "tcp", 0, 65535, "0.0.0.0/0"))
    assert names(policies.no_smtp_port_25([narrow_deny])) == ["no-smtp-port-25"]


def test_separate_network_acl_rules_are_judged_with_their_acl():
    base = acl((110, "deny", "tcp", 25, 25, "0.0.0.0/0"))
    allow = res(
        policies.NACL_RULE,
        "allow-all",
        networkAclId="nacl-id",
        ruleNumber=200,
        egress=True,
        ruleAction="allow",
        protocol="-1",
        cidrBlock="0.0.0.0/0",
    )
    assert policies.no_smtp_port_25([base, allow]) == []
    early = copy.deepcopy(allow)
    early["inputs"]["ruleNumber"] = 50
    assert names(policies.no_smtp_port_25([base, early])) == ["no-smtp-port-25"]


# no-open-ingress -------------------------------------------------------------------------------------


def test_ingress_from_anywhere_fails_and_from_a_source_group_passes():
    assert policies.no_open_ingress(sg(ingress=[rule(lo=22, securityGroups=["sg-0123"])])) == []
    assert policies.no_open_ingress(sg(ingress=[rule(lo=22, cidrBlocks=["10.0.0.0/8"])])) == []
    for broken in (
        sg(ingress=[rule(lo=22, cidrBlocks=["0.0.0.0/0"])]),
        sg(ingress=[rule(lo=443, ipv6CidrBlocks=["::/0"])]),
        res(policies.SG_RULE, type="ingress", protocol="tcp", fromPort=22, toPort=22, cidrBlocks=["0.0.0.0/0"]),
        res(policies.VPC_INGRESS, ipProtocol="tcp", fromPort=22, toPort=22, cidrIpv6="::/0"),
    ):
        assert names(policies.no_open_ingress(broken)) == ["no-open-ingress"], broken
    # egress to anywhere is not ingress
    assert policies.no_open_ingress(sg(egress=[rule(lo=587, cidrBlocks=["0.0.0.0/0"])])) == []


# eip-protected ---------------------------------------------------------------------------------------


def test_eips_must_be_protected_and_retained():
    assert policies.eip_protected(res(policies.EIP, protect=True, retain=True)) == []
    (v,) = policies.eip_protected(res(policies.EIP, protect=True, retain=False))
    assert "retained on delete" in v.message and "protected" not in v.message.split("is not")[1].split(":")[0]
    (v,) = policies.eip_protected(res(policies.EIP, protect=False, retain=True))
    assert "is not protected:" in v.message
    assert policies.eip_protected(res(policies.SG)) == []


# imdsv2-required -------------------------------------------------------------------------------------


def test_launch_templates_and_instances_must_require_imdsv2():
    good = {"httpTokens": "required", "httpEndpoint": "enabled"}
    assert policies.imdsv2_required(res(policies.LAUNCH_TEMPLATE, metadataOptions=good)) == []
    assert policies.imdsv2_required(res(policies.INSTANCE, metadataOptions=good)) == []
    for bad in ({"httpTokens": "optional"}, {}, None):
        kw = {} if bad is None else {"metadataOptions": bad}
        assert names(policies.imdsv2_required(res(policies.LAUNCH_TEMPLATE, **kw))) == ["imdsv2-required"]


# buckets-locked-down ---------------------------------------------------------------------------------


def bucket_set(name="archive", *, flags=None, sse=True) -> list[dict]:
    flags = dict.fromkeys(policies.PAB_FLAGS, True) | (flags or {})
    out = [
        res(policies.BUCKETS[0], name, id=f"{name}-abc1234"),
        res(policies.PUBLIC_ACCESS_BLOCK, f"{name}-pab", bucket=f"{name}-abc1234", **flags),
    ]
    if sse:
        out.append(
            res(
                policies.SSE_CONFIGS[0],
                f"{name}-sse",
                bucket=f"{name}-abc1234",
                rules=[{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}],
            )
        )
    return out


def test_buckets_need_a_full_public_access_block_and_encryption():
    assert policies.buckets_locked_down(bucket_set("archive") + bucket_set("documents")) == []
    (v,) = policies.buckets_locked_down(bucket_set(flags={"restrictPublicBuckets": False}))
    assert "BucketPublicAccessBlock" in v.message
    (v,) = policies.buckets_locked_down(bucket_set(sse=False))
    assert "encryption" in v.message
    # one bucket's block does not cover another bucket
    mixed = [*bucket_set("archive"), res(policies.BUCKETS[0], "documents", id="documents-9")]
    assert [v.urn.rsplit("::", 1)[1] for v in policies.buckets_locked_down(mixed)] == ["documents", "documents"]


# the synth plans ------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["us", "eu"])
def test_the_golden_synth_plans_break_no_policy(stack):
    plan = json.loads((ROOT / "tests" / "golden" / f"synth-{stack}.json").read_text())
    assert validate_plan(plan) == []


def test_breaking_the_synth_plan_on_purpose_is_caught():
    plan = json.loads((ROOT / "tests" / "golden" / "synth-us.json").read_text())
    resources = plan["resources"]
    for r in resources:
        if r["type"] == policies.EIP:
            r["protect"] = False
        if r["type"] == policies.SG and r["name"].endswith("-workers"):
            r["inputs"]["egress"].append(rule(lo=25, cidrBlocks=["0.0.0.0/0"]))
            r["inputs"]["ingress"] = [rule(lo=22, cidrBlocks=["0.0.0.0/0"])]
        if r["type"] == policies.LAUNCH_TEMPLATE:
            r["inputs"]["metadataOptions"]["httpTokens"] = "optional"
    resources[:] = [r for r in resources if r["type"] != policies.PUBLIC_ACCESS_BLOCK]
    found = {v.policy for v in validate_resources(resources)}
    assert found == {"no-smtp-port-25", "no-open-ingress", "eip-protected", "imdsv2-required", "buckets-locked-down"}


# pulumi-policy ---------------------------------------------------------------------------------------


def test_adapters_report_through_pulumi_policy_args():
    pp = pytest.importorskip("pulumi_policy")
    from smtp_egress.checks.policy_adapters import resource_validator, stack_validator

    def opts(protect):
        return pp.PolicyResourceOptions(protect, [], None, [], pp.PolicyCustomTimeouts(0, 0, 0), [])

    reported = []
    eip = pp.ResourceValidationArgs("aws:ec2/eip:Eip", {"domain": "vpc"}, "urn:eip", "eip", opts(False), None)
    resource_validator("eip-protected")(eip, lambda msg, urn=None: reported.append(msg))
    assert len(reported) == 1 and "not protected" in reported[0]
    reported.clear()
    resource_validator("eip-protected")(
        pp.ResourceValidationArgs("aws:ec2/eip:Eip", {}, "urn:eip", "eip", opts(True), None), reported.append
    )
    assert reported == []

    def policy_resource(r):
        return pp.PolicyResource(
            r["type"], {**r["inputs"], "id": r["id"]}, r["urn"], r["name"], opts(False), None, None, [], {}
        )

    stack = pp.StackValidationArgs([policy_resource(r) for r in bucket_set(sse=False)])
    stack_validator("buckets-locked-down")(stack, lambda msg, urn=None: reported.append((urn, msg)))
    assert [urn for urn, _ in reported] == ["urn:pulumi:t::p::aws:s3/bucket:Bucket::archive"]


def test_the_policy_pack_serves_every_rule_as_mandatory(policy_analyzer):
    """Start the real pack (as the Pulumi CLI does), ask it over gRPC for its policies, then stop it."""
    from google.protobuf import empty_pb2
    from pulumi.runtime.proto import analyzer_pb2

    info = policy_analyzer.GetAnalyzerInfo(empty_pb2.Empty(), timeout=30)
    mandatory = analyzer_pb2.EnforcementLevel.Value("MANDATORY")
    assert {p.name: p.enforcementLevel for p in info.policies} == dict.fromkeys(
        [*policies.RESOURCE_RULES, *policies.STACK_RULES], mandatory
    )


# Values unknown during a preview ---------------------------------------------------------------------


def test_unknown_values_a_rule_does_not_check_change_nothing():
    from smtp_egress.checks.policy_findings import UNKNOWN

    good = sg(egress=[rule(lo=465, cidrBlocks=["0.0.0.0/0"])])
    good["inputs"]["vpcId"] = UNKNOWN
    good["inputs"]["egress"][0]["description"] = UNKNOWN
    assert validate_resources([good]) == []
    bad = sg(egress=[rule(lo=25, cidrBlocks=[UNKNOWN])])
    assert names(validate_resources([bad])) == ["no-smtp-port-25"]


def test_unknown_values_a_rule_checks_leave_that_item_undecided():
    from smtp_egress.checks.policy_findings import UNKNOWN, Undecided

    found = validate_resources(
        [
            sg(egress=[rule(lo=UNKNOWN)], ingress=[rule(lo=443, cidrBlocks=UNKNOWN)]),
            res(policies.NACL, "acl", egress=UNKNOWN),
            res(policies.LAUNCH_TEMPLATE, "lt", metadataOptions={"httpTokens": UNKNOWN}),
        ]
    )
    assert all(isinstance(f, Undecided) for f in found)
    assert sorted((f.policy, f.unknown) for f in found) == [
        ("imdsv2-required", "metadataOptions.httpTokens"),
        ("no-open-ingress", "a security group rule's source 0"),
        ("no-smtp-port-25", "a security group rule's fromPort"),
        ("no-smtp-port-25", "network ACL egress rules"),
    ]


def test_a_bucket_setting_found_through_its_dependency_counts():
    from smtp_egress.checks.policy_findings import Unknown

    resources = bucket_set()
    bucket = next(r for r in resources if r["type"] in policies.BUCKETS)
    for r in resources:
        if r["type"] not in policies.BUCKETS:
            r["inputs"]["bucket"] = Unknown((bucket["urn"],))
    assert validate_resources(resources) == []
    for r in resources:
        if r["type"] == policies.PUBLIC_ACCESS_BLOCK:
            r["inputs"]["bucket"] = Unknown((f"{bucket['urn']}-other",))
    assert names(validate_resources(resources)) == ["buckets-locked-down"]


def test_plain_copies_a_pulumi_policy_proxy_without_tripping_on_unknowns():
    pytest.importorskip("pulumi_policy")
    from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy

    from smtp_egress.checks.policy_adapters import plain
    from smtp_egress.checks.policy_findings import UNKNOWN, Unknown

    proxied = unknown_checking_proxy(
        {"vpcId": UNKNOWN_STRING_VALUE, "egress": [{"fromPort": 465, "cidrBlocks": [UNKNOWN_STRING_VALUE]}]}
    )
    assert plain(proxied, {"vpcId": ["urn:vpc"]}) == {
        "vpcId": Unknown(("urn:vpc",)),
        "egress": [{"fromPort": 465, "cidrBlocks": [UNKNOWN]}],
    }
