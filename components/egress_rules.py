"""SmtpEgressRules: what the delivery workers may reach, as a security group and a network ACL.

Security group (stateful, on the workers): egress ONLY to TCP 465, 587 and 2525 anywhere (customers'
SMTP servers; never 25), HTTPS to the VPC CIDR (interface endpoints) and the given prefix lists
(gateway endpoints: :class:`smtp_egress.components.vpc_endpoints.VpcEndpoints` provides both for SQS and S3),
DNS (UDP and TCP 53) to the VPC resolver /32; no ingress at all.
The rules are inline and therefore authoritative: ``egress=[...]`` is the complete list, so the
provider removes the allow-all egress rule AWS adds to every new group and, at the next ``up``, any
rule added by hand; ``ingress=[]`` likewise removes every ingress rule. (Separate
``SecurityGroupEgressRule`` resources would leave both in place; do not mix the two styles.)

Network ACL (stateless, on the private subnets), defence in depth for SSRF (a customer's "SMTP host"
that resolves to an internal address): outbound, the VPC CIDR is allowed first (rule 100), then TCP 25
and every private, link-local, CGNAT and ULA range are denied (110-131), then the rest is allowed
(200/201). Inbound: the VPC CIDR and return traffic on ephemeral ports. Rule numbers are fixed per
rule, so turning ``ipv6`` off only removes rules and never renumbers. Note: traffic to the instance
metadata service and the Amazon DNS link-local addresses never crosses the subnet boundary, so no
NACL or security group filters it; workers need IMDSv2 with hop limit 1 (or IMDS off).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from collections.abc import Sequence

import pulumi

from . import aws
from .netplan import ArgsError

SUBMISSION_PORTS = (465, 587, 2525)
PRIVATE_V4 = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "100.64.0.0/10")
PRIVATE_V6 = ("fc00::/7", "fe80::/10")
EPHEMERAL = (1024, 65535)
PREFIX_LIST = re.compile(r"pl-[0-9a-f]{8,17}")
# What AWS allows in a VPC security group's and its rules' descriptions (the provider refuses anything else,
# an apostrophe included, at ``pulumi up``; tests/synth/test_terraform_validate.py runs the provider's own check).
SG_DESCRIPTION = re.compile(r"[0-9A-Za-z_ .:/()#,@\[\]+=&;{}!$*-]{0,255}")


@dataclasses.dataclass(frozen=True)
class SmtpEgressRulesArgs:
    vpc_id: pulumi.Input[str]
    vpc_cidr: str  # a plain string (RegionalEgress.vpc_cidr): rules and the resolver are derived from it
    private_subnet_ids: pulumi.Input[Sequence[pulumi.Input[str]]]
    vpc_resolver_ip: str | None = None  # default: the VPC CIDR's base address + 2 (the Amazon resolver)
    endpoint_prefix_list_ids: Sequence[pulumi.Input[str]] = ()  # e.g. VpcEndpoints.s3_prefix_list_id
    ipv6: bool = True
    tags: dict[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class SgRule:
    protocol: str
    port: int
    cidrs: tuple[str, ...] = ()
    ipv6_cidrs: tuple[str, ...] = ()
    prefix_lists: tuple[pulumi.Input[str], ...] = ()
    description: str = ""

    def __post_init__(self) -> None:
        if not SG_DESCRIPTION.fullmatch(self.description):
            raise ArgsError(
                f"SmtpEgressRules: rule description {self.description[:80]!r} has a character AWS refuses or is "
                "over 255 characters; use letters, digits, spaces and ._-:/()#,@[]+=&;{}!$* only"
            )


@dataclasses.dataclass(frozen=True)
class AclRule:
    rule_no: int
    action: str  # "allow" | "deny"
    protocol: str  # "tcp" | "udp" | "-1"
    cidr: str
    from_port: int = 0
    to_port: int = 0

    @property
    def ipv6(self) -> bool:
        return ":" in self.cidr


def validate(args: SmtpEgressRulesArgs) -> None:
    problems = []
    try:
        net = ipaddress.ip_network(args.vpc_cidr)
        if net.version != 4:
            problems.append(f"vpc_cidr {args.vpc_cidr!r} must be an IPv4 network")
    except (TypeError, ValueError) as exc:
        problems.append(f"vpc_cidr {args.vpc_cidr!r} is not a network ({exc}); write it like '10.40.0.0/16'")
    if args.vpc_resolver_ip is not None:
        try:
            if ipaddress.ip_address(args.vpc_resolver_ip).version != 4:
                problems.append(f"vpc_resolver_ip {args.vpc_resolver_ip!r} must be an IPv4 address")
        except ValueError:
            problems.append(f"vpc_resolver_ip {args.vpc_resolver_ip!r} is not an IP address")
    for pl in args.endpoint_prefix_list_ids:
        if not isinstance(pl, (pulumi.Output, str)) or (isinstance(pl, str) and not PREFIX_LIST.fullmatch(pl)):
            problems.append(f"endpoint_prefix_list_ids entry {pl!r} is not a prefix list ID like 'pl-63a5400a'")
    if problems:
        raise ArgsError("SmtpEgressRules: " + "; ".join(problems))


def checked_prefix_list(pl: pulumi.Input[str]) -> pulumi.Input[str]:
    """A plain ID is checked by :func:`validate`; an Output (a VpcEndpoints' ``s3_prefix_list_id``) when it resolves."""
    if not isinstance(pl, pulumi.Output):
        return pl

    def check(value):
        if not isinstance(value, str) or not PREFIX_LIST.fullmatch(value):
            raise ArgsError(
                f"SmtpEgressRules: endpoint_prefix_list_ids entry resolved to {value!r}, "
                "not a prefix list ID like 'pl-63a5400a'"
            )
        return value

    return pl.apply(check)


def resolver_ip(vpc_cidr: str) -> str:
    """The Amazon-provided DNS server: the VPC's base address plus two."""
    return str(ipaddress.ip_network(vpc_cidr).network_address + 2)


def security_group_egress(args: SmtpEgressRulesArgs) -> list[SgRule]:
    world6 = ("::/0",) if args.ipv6 else ()
    resolver = f"{args.vpc_resolver_ip or resolver_ip(args.vpc_cidr)}/32"
    rules = [
        SgRule("tcp", port, ("0.0.0.0/0",), world6, description=f"SMTP submission to customer servers ({port})")
        for port in SUBMISSION_PORTS
    ]
    rules.append(
        SgRule(
            "tcp",
            443,
            (args.vpc_cidr,),
            prefix_lists=tuple(args.endpoint_prefix_list_ids),
            description="HTTPS to VPC endpoints only",
        )
    )
    rules += [
        SgRule(proto, 53, (resolver,), description=f"DNS ({proto}) to the VPC resolver") for proto in ("udp", "tcp")
    ]
    return rules


def nacl_egress(vpc_cidr: str, ipv6: bool) -> list[AclRule]:
    rules = [
        AclRule(100, "allow", "-1", vpc_cidr),
        AclRule(110, "deny", "tcp", "0.0.0.0/0", 25, 25),
        AclRule(111, "deny", "tcp", "::/0", 25, 25),
    ]
    rules += [AclRule(120 + i, "deny", "-1", cidr) for i, cidr in enumerate(PRIVATE_V4)]
    rules += [AclRule(130 + i, "deny", "-1", cidr) for i, cidr in enumerate(PRIVATE_V6)]
    rules += [AclRule(200, "allow", "-1", "0.0.0.0/0"), AclRule(201, "allow", "-1", "::/0")]
    return [r for r in rules if ipv6 or not r.ipv6]


def nacl_ingress(vpc_cidr: str, ipv6: bool) -> list[AclRule]:
    lo, hi = EPHEMERAL
    rules = [
        AclRule(100, "allow", "-1", vpc_cidr),
        AclRule(110, "allow", "tcp", "0.0.0.0/0", lo, hi),
        AclRule(111, "allow", "udp", "0.0.0.0/0", lo, hi),
        AclRule(112, "allow", "tcp", "::/0", lo, hi),
        AclRule(113, "allow", "udp", "::/0", lo, hi),
    ]
    return [r for r in rules if ipv6 or not r.ipv6]


def _acl_args(rule: AclRule, cls):
    where = {"ipv6_cidr_block": rule.cidr} if rule.ipv6 else {"cidr_block": rule.cidr}
    return cls(
        rule_no=rule.rule_no,
        action=rule.action,
        protocol=rule.protocol,
        from_port=rule.from_port,
        to_port=rule.to_port,
        **where,
    )


class SmtpEgressRules(pulumi.ComponentResource):
    security_group_id: pulumi.Output[str]
    network_acl_id: pulumi.Output[str]

    def __init__(self, name: str, args: SmtpEgressRulesArgs, opts: pulumi.ResourceOptions | None = None):
        validate(args)
        super().__init__("smtp-egress:network:SmtpEgressRules", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        egress = [
            aws.ec2.SecurityGroupEgressArgs(
                protocol=r.protocol,
                from_port=r.port,
                to_port=r.port,
                description=r.description,
                cidr_blocks=list(r.cidrs) or None,
                ipv6_cidr_blocks=list(r.ipv6_cidrs) or None,
                prefix_list_ids=[checked_prefix_list(pl) for pl in r.prefix_lists] or None,
            )
            for r in security_group_egress(args)
        ]
        sg = aws.ec2.SecurityGroup(
            f"{name}-workers",
            vpc_id=args.vpc_id,
            description="Delivery workers: SMTP submission (465/587/2525) out, HTTPS to endpoints, DNS; nothing in",
            ingress=[],
            egress=egress,
            tags={**args.tags, "Name": f"{name}-workers"},
            opts=child,
        )
        acl = aws.ec2.NetworkAcl(
            f"{name}-private-nacl",
            vpc_id=args.vpc_id,
            subnet_ids=args.private_subnet_ids,
            egress=[_acl_args(r, aws.ec2.NetworkAclEgressArgs) for r in nacl_egress(args.vpc_cidr, args.ipv6)],
            ingress=[_acl_args(r, aws.ec2.NetworkAclIngressArgs) for r in nacl_ingress(args.vpc_cidr, args.ipv6)],
            tags={**args.tags, "Name": f"{name}-private-nacl"},
            opts=child,
        )
        self.security_group_id = sg.id
        self.network_acl_id = acl.id
        self.register_outputs({"security_group_id": self.security_group_id, "network_acl_id": self.network_acl_id})
