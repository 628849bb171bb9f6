"""SmtpEgressRules: the workers' security group and the private subnets' network ACL."""

from __future__ import annotations

import ipaddress

import pulumi
import pytest

from smtp_egress.components.egress_rules import (
    PRIVATE_V4,
    PRIVATE_V6,
    ArgsError,
    SgRule,
    SmtpEgressRules,
    SmtpEgressRulesArgs,
    nacl_egress,
    nacl_ingress,
    resolver_ip,
    security_group_egress,
    validate,
)

SG, ACL = "aws:ec2/securityGroup:SecurityGroup", "aws:ec2/networkAcl:NetworkAcl"
COMPONENT = "smtp-egress:network:SmtpEgressRules"
VPC_CIDR = "10.40.0.0/16"
PL = ("pl-63a5400a", "pl-02cd2c6b")


def args(**over) -> SmtpEgressRulesArgs:
    kw = dict(
        vpc_id="vpc-0123456789abcdef0",
        vpc_cidr=VPC_CIDR,
        private_subnet_ids=["subnet-a", "subnet-b"],
        endpoint_prefix_list_ids=PL,
    )
    kw.update(over)
    return SmtpEgressRulesArgs(**kw)


def build(pulumi_mocks, a: SmtpEgressRulesArgs):
    rec = pulumi_mocks()
    resolved: dict = {}

    @pulumi.runtime.test
    def run():
        comp = SmtpEgressRules("us-rules", a)
        return pulumi.Output.all(sg=comp.security_group_id, acl=comp.network_acl_id).apply(resolved.update)

    run()
    assert resolved, "the outputs never resolved: asserts would not have run"
    return rec, resolved


# -- pure rule tables ---------------------------------------------------------------------------


def test_resolver_is_base_plus_two():
    assert resolver_ip("10.40.0.0/16") == "10.40.0.2"
    assert resolver_ip("192.168.7.0/24") == "192.168.7.2"


@pytest.mark.parametrize(
    "over, fragment",
    [
        (dict(vpc_cidr="10.40.0.1/16"), "vpc_cidr '10.40.0.1/16' is not a network"),
        (dict(vpc_cidr="fd00::/56"), "vpc_cidr 'fd00::/56' must be an IPv4 network"),
        (dict(vpc_resolver_ip="resolver"), "vpc_resolver_ip 'resolver' is not an IP address"),
        (dict(endpoint_prefix_list_ids=["s3"]), "entry 's3' is not a prefix list ID"),
    ],
)
def test_bad_arguments_are_named(over, fragment):
    with pytest.raises(ArgsError, match="SmtpEgressRules") as info:
        validate(args(**over))
    assert fragment in str(info.value)


def test_security_group_rule_table():
    rules = security_group_egress(args())
    world = [r for r in rules if "0.0.0.0/0" in r.cidrs]
    assert {r.port for r in world} == {465, 587, 2525}
    assert all(r.protocol == "tcp" and r.ipv6_cidrs == ("::/0",) for r in world)
    assert {(r.protocol, r.port) for r in rules} == {
        ("tcp", 465),
        ("tcp", 587),
        ("tcp", 2525),
        ("tcp", 443),
        ("udp", 53),
        ("tcp", 53),
    }
    https = next(r for r in rules if r.port == 443)
    assert https.cidrs == (VPC_CIDR,) and https.prefix_lists == PL and https.ipv6_cidrs == ()
    assert {r.cidrs for r in rules if r.port == 53} == {("10.40.0.2/32",)}
    assert not [r for r in rules if r.port == 25]


def test_rule_descriptions_hold_only_what_aws_allows():
    """AWS refuses an apostrophe (and other characters) in a rule's description at ``pulumi up``: caught here,
    before any engine (tests/synth/test_terraform_validate.py runs the provider's own check on the plans)."""
    assert all(r.description for r in security_group_egress(args()))
    SgRule("tcp", 465, description="SMTP: a-z 0-9 ._-:/()#,@[]+=&;{}!$*")
    for bad in ("SMTP submission to customers' servers (465)", 'say "hi"', "caf\u00e9", "x" * 256):
        with pytest.raises(ArgsError, match="AWS refuses"):
            SgRule("tcp", 465, description=bad)


def test_explicit_resolver_and_no_ipv6():
    rules = security_group_egress(args(vpc_resolver_ip="10.40.0.53", ipv6=False))
    assert {r.cidrs for r in rules if r.port == 53} == {("10.40.0.53/32",)}
    assert all(not r.ipv6_cidrs for r in rules)


def test_nacl_outbound_allows_the_vpc_first_then_denies_25_and_private_ranges():
    rules = nacl_egress(VPC_CIDR, ipv6=True)
    numbers = [r.rule_no for r in rules]
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)
    vpc_allow = rules[0]
    assert (vpc_allow.rule_no, vpc_allow.action, vpc_allow.protocol, vpc_allow.cidr) == (100, "allow", "-1", VPC_CIDR)
    denies = [r for r in rules if r.action == "deny"]
    assert all(r.rule_no > vpc_allow.rule_no for r in denies)
    port25 = {(r.cidr, r.protocol, r.from_port, r.to_port) for r in denies if r.from_port == 25}
    assert port25 == {("0.0.0.0/0", "tcp", 25, 25), ("::/0", "tcp", 25, 25)}
    ranges = {r.cidr for r in denies if r.protocol == "-1"}
    assert ranges == set(PRIVATE_V4) | set(PRIVATE_V6)
    assert any(ipaddress.ip_address("169.254.169.254") in ipaddress.ip_network(c) for c in ranges)
    allows_all = [r for r in rules if r.action == "allow" and r.cidr in ("0.0.0.0/0", "::/0")]
    assert all(r.rule_no > max(d.rule_no for d in denies) for r in allows_all) and len(allows_all) == 2


def test_nacl_numbers_do_not_move_without_ipv6():
    with_v6 = {r.rule_no: r for r in nacl_egress(VPC_CIDR, True)}
    without = nacl_egress(VPC_CIDR, False)
    assert all(not r.ipv6 for r in without)
    assert all(with_v6[r.rule_no] == r for r in without)


def test_nacl_inbound_is_return_traffic_and_the_vpc():
    rules = nacl_ingress(VPC_CIDR, ipv6=True)
    assert [(r.rule_no, r.action, r.protocol, r.cidr, r.from_port, r.to_port) for r in rules] == [
        (100, "allow", "-1", VPC_CIDR, 0, 0),
        (110, "allow", "tcp", "0.0.0.0/0", 1024, 65535),
        (111, "allow", "udp", "0.0.0.0/0", 1024, 65535),
        (112, "allow", "tcp", "::/0", 1024, 65535),
        (113, "allow", "udp", "::/0", 1024, 65535),
    ]


# -- the recorded resources ---------------------------------------------------------------------


def test_children_and_parents(pulumi_mocks):
    rec, resolved = build(pulumi_mocks, args())
    comp = rec.by_type(COMPONENT)
    assert [c.name for c in comp] == ["us-rules"]
    children = [r for r in rec.sorted() if r.type != COMPONENT]
    assert [(r.type, r.name) for r in children] == [(ACL, "us-rules-private-nacl"), (SG, "us-rules-workers")]
    assert all(r.parent == comp[0].urn for r in children)
    assert rec.name_of(resolved["sg"]) == "us-rules-workers" and resolved["sg"].startswith("sg-")
    assert rec.name_of(resolved["acl"]) == "us-rules-private-nacl" and resolved["acl"].startswith("acl-")


def test_security_group_has_only_the_submission_ports_and_no_ingress(pulumi_mocks):
    rec, _ = build(pulumi_mocks, args())
    sg = rec.by_type(SG)[0].inputs
    assert sg["vpcId"] == "vpc-0123456789abcdef0"
    assert sg["ingress"] == [], "no ingress at all, authoritatively"
    egress = sg["egress"]
    ports = {(e["protocol"], int(e["fromPort"]), int(e["toPort"])) for e in egress}
    assert ports == {("tcp", p, p) for p in (465, 587, 2525, 443, 53)} | {("udp", 53, 53)}
    world = {int(e["fromPort"]) for e in egress if "0.0.0.0/0" in (e.get("cidrBlocks") or [])}
    assert world == {465, 587, 2525}
    world6 = {int(e["fromPort"]) for e in egress if "::/0" in (e.get("ipv6CidrBlocks") or [])}
    assert world6 == {465, 587, 2525}
    https = [e for e in egress if int(e["fromPort"]) == 443]
    assert len(https) == 1 and https[0]["cidrBlocks"] == [VPC_CIDR] and https[0]["prefixListIds"] == list(PL)
    dns = [e for e in egress if int(e["fromPort"]) == 53]
    assert sorted(e["protocol"] for e in dns) == ["tcp", "udp"] and all(
        e["cidrBlocks"] == ["10.40.0.2/32"] for e in dns
    )
    assert not any(int(e["fromPort"]) <= 25 <= int(e["toPort"]) for e in egress)
    assert not any(e["protocol"] == "-1" for e in egress), "no allow-all egress"


def test_network_acl_is_on_the_private_subnets_with_the_rule_table(pulumi_mocks):
    rec, _ = build(pulumi_mocks, args())
    acl = rec.by_type(ACL)[0].inputs
    assert acl["subnetIds"] == ["subnet-a", "subnet-b"] and acl["vpcId"] == "vpc-0123456789abcdef0"

    def rows(entries):
        return sorted(
            (
                int(e["ruleNo"]),
                e["action"],
                e["protocol"],
                e.get("cidrBlock") or e.get("ipv6CidrBlock"),
                int(e["fromPort"]),
                int(e["toPort"]),
            )
            for e in entries
        )

    expected_out = [
        (r.rule_no, r.action, r.protocol, r.cidr, r.from_port, r.to_port) for r in nacl_egress(VPC_CIDR, True)
    ]
    expected_in = [
        (r.rule_no, r.action, r.protocol, r.cidr, r.from_port, r.to_port) for r in nacl_ingress(VPC_CIDR, True)
    ]
    assert rows(acl["egress"]) == expected_out
    assert rows(acl["ingress"]) == expected_in
    v6 = [e for e in acl["egress"] if e.get("ipv6CidrBlock")]
    assert all("cidrBlock" not in e for e in v6)
    deny_25 = [e for e in acl["egress"] if e["action"] == "deny" and int(e["fromPort"]) == 25]
    assert len(deny_25) == 2 and all(int(e["ruleNo"]) > 100 for e in deny_25)


def test_invalid_arguments_create_nothing(pulumi_mocks):
    rec = pulumi_mocks()

    @pulumi.runtime.test
    def run():
        SmtpEgressRules("us-rules", args(vpc_cidr="10.40.0.0/33"))

    with pytest.raises(ArgsError, match=r"vpc_cidr '10.40.0.0/33'"):
        run()
    assert rec.resources == []


def test_prefix_lists_may_be_outputs_of_another_resource(pulumi_mocks):
    """VpcEndpoints.s3_prefix_list_id is an Output: accepted, checked when it resolves, passed through."""
    rec = pulumi_mocks()

    @pulumi.runtime.test
    def run():
        comp = SmtpEgressRules(
            "us-rules", args(endpoint_prefix_list_ids=[pulumi.Output.from_input("pl-0a1b2c3d"), PL[0]])
        )
        return comp.security_group_id

    run()
    (https,) = [e for e in rec.by_type(SG)[0].inputs["egress"] if int(e["fromPort"]) == 443]
    assert https["prefixListIds"] == ["pl-0a1b2c3d", PL[0]] and https["cidrBlocks"] == [VPC_CIDR]


def test_an_output_that_resolves_to_no_prefix_list_fails_the_deployment(pulumi_mocks):
    pulumi_mocks()

    @pulumi.runtime.test
    def run():
        return SmtpEgressRules(
            "us-rules", args(endpoint_prefix_list_ids=[pulumi.Output.from_input("vpce-123")])
        ).security_group_id

    # the engine re-raises it as a ValueError naming the resource and the input, with this message inside
    with pytest.raises(ValueError, match=r"resolved to .vpce-123., not a prefix list ID"):
        run()


def test_a_prefix_list_that_is_neither_a_string_nor_an_output_is_refused():
    with pytest.raises(ArgsError, match="entry 42 is not a prefix list ID"):
        validate(args(endpoint_prefix_list_ids=[42]))
