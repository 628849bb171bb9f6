"""Deploy policies: plain functions over recorded resources, run on synth plans and by the policy pack.

A resource is a dict as in an ``egress synth`` plan: ``type`` (e.g. ``aws:ec2/eip:Eip``), ``urn``,
``name``, ``inputs`` (engine property names, camelCase), ``protect``, ``retain_on_delete`` and ``id``.
Each rule returns a list of :class:`Violation`; an empty list means the rule holds.

- ``no-smtp-port-25``: nothing may let egress to TCP 25 out: no security group egress rule (inline or a
  separate rule resource) covers it, and no network ACL allow rule lets it through to a non-private
  destination before a deny (NACLs apply the lowest-numbered matching rule). Mail is never sent on 25.
- ``no-open-ingress``: no security group admits traffic from 0.0.0.0/0 or ::/0.
- ``eip-protected``: every Elastic IP is protected and retained on delete (customers allowlist them).
- ``imdsv2-required``: launch templates and instances require IMDSv2 (``httpTokens: required``).
- ``buckets-locked-down``: every S3 bucket has a public access block with all four settings true and a
  server-side encryption configuration.

:func:`validate_plan` runs all of them on a synth plan; :mod:`smtp_egress.checks.policy_adapters` adapts each rule
to pulumi-policy's ``validate(args, report_violation)`` for ``checks/policy_pack/__main__.py``.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Callable, Iterator

SG = "aws:ec2/securityGroup:SecurityGroup"
DEFAULT_SG = "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"
SG_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
VPC_EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
VPC_INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
NACL = "aws:ec2/networkAcl:NetworkAcl"
DEFAULT_NACL = "aws:ec2/defaultNetworkAcl:DefaultNetworkAcl"
NACL_RULE = "aws:ec2/networkAclRule:NetworkAclRule"
EIP = "aws:ec2/eip:Eip"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
INSTANCE = "aws:ec2/instance:Instance"
BUCKETS = ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")
PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
SSE_CONFIGS = (
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
)
PAB_FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
ANYWHERE = ("0.0.0.0/0", "::/0")
SMTP_PORT = 25

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclasses.dataclass(frozen=True)
class Violation:
    policy: str
    urn: str
    message: str

    def __str__(self) -> str:
        return f"{self.policy}: {self.urn}: {self.message}"


def _inputs(r: dict) -> dict:
    return r.get("inputs") or {}


def _covers(protocol, from_port, to_port, port: int) -> bool:
    """Does a rule with this protocol and port range let TCP ``port`` through?"""
    proto = str(protocol).lower() if protocol is not None else ""
    if proto in ("-1", "all"):
        return True
    if proto not in ("tcp", "6"):
        return False
    lo = int(from_port if from_port is not None else 0)
    hi = int(to_port if to_port is not None else lo)
    return lo <= port <= hi


def _desc(protocol, from_port, to_port) -> str:
    return f"protocol {protocol!r} ports {from_port!r}-{to_port!r}"


def _sg_rules(r: dict) -> Iterator[tuple[str | None, dict, str, str, str]]:
    """(direction, rule, protocol key, from key, to key) for every rule a resource declares."""
    i = _inputs(r)
    if r["type"] in (SG, DEFAULT_SG):
        for direction in ("ingress", "egress"):
            for rule in i.get(direction) or []:
                yield direction, rule, "protocol", "fromPort", "toPort"
    elif r["type"] == SG_RULE:
        yield i.get("type"), i, "protocol", "fromPort", "toPort"
    elif r["type"] in (VPC_EGRESS, VPC_INGRESS):
        yield ("egress" if r["type"] == VPC_EGRESS else "ingress"), i, "ipProtocol", "fromPort", "toPort"


def _private(cidr) -> bool:
    """Entirely inside RFC 1918 / ULA / link-local space: no customer's mail server lives there."""
    try:
        net = ipaddress.ip_network(str(cidr), strict=False)
    except ValueError:
        return False
    return net.prefixlen > 0 and (net.is_private or net.is_link_local) and not net.is_global


def _nacl_egress(resources: list[dict]) -> dict[str, list[dict]]:
    """NACL key -> its egress rules as {ruleNo, action, protocol, fromPort, toPort, cidr, urn}."""
    by_id: dict[str, str] = {}
    out: dict[str, list[dict]] = {}
    for r in resources:
        if r["type"] in (NACL, DEFAULT_NACL):
            key = r.get("id") or r["urn"]
            by_id[key] = r["urn"]
            for rule in _inputs(r).get("egress") or []:
                out.setdefault(key, []).append(
                    {**rule, "cidr": rule.get("cidrBlock") or rule.get("ipv6CidrBlock"), "urn": r["urn"]}
                )
    for r in resources:
        i = _inputs(r)
        if r["type"] == NACL_RULE and i.get("egress"):
            out.setdefault(i.get("networkAclId") or r["urn"], []).append(
                {
                    "ruleNo": i.get("ruleNumber"),
                    "action": i.get("ruleAction"),
                    "protocol": i.get("protocol"),
                    "fromPort": i.get("fromPort"),
                    "toPort": i.get("toPort"),
                    "urn": r["urn"],
                    "cidr": i.get("cidrBlock") or i.get("ipv6CidrBlock"),
                }
            )
    return out


def _shadowed(rule: dict, rules: list[dict]) -> bool:
    """Is TCP 25 to all of ``rule``'s destination denied by a rule evaluated before it (lower number)?"""
    try:
        net = ipaddress.ip_network(str(rule["cidr"]), strict=False)
    except ValueError:
        return False
    for other in rules:
        if (
            float(other.get("ruleNo") or 0) < float(rule.get("ruleNo") or 0)
            and str(other.get("action")).lower() == "deny"
            and _covers(other.get("protocol"), other.get("fromPort"), other.get("toPort"), SMTP_PORT)
        ):
            try:
                deny = ipaddress.ip_network(str(other["cidr"]), strict=False)
            except ValueError:
                continue
            if _within(net, deny):
                return True
    return False


def _within(net: Network, outer: Network) -> bool:
    """Does ``outer`` hold all of ``net``? (Never across IP versions.)"""
    if isinstance(net, ipaddress.IPv4Network) and isinstance(outer, ipaddress.IPv4Network):
        return net.subnet_of(outer)
    if isinstance(net, ipaddress.IPv6Network) and isinstance(outer, ipaddress.IPv6Network):
        return net.subnet_of(outer)
    return False


def no_smtp_port_25(resources: list[dict]) -> list[Violation]:
    """Security groups: no egress rule covers TCP 25. Network ACLs (first match wins, by rule number):
    no allow rule lets TCP 25 through to a non-private destination that an earlier deny does not cover."""
    out = []
    for r in resources:
        for direction, rule, p, lo, hi in _sg_rules(r):
            if direction == "egress" and _covers(rule.get(p), rule.get(lo), rule.get(hi), SMTP_PORT):
                out.append(
                    Violation(
                        "no-smtp-port-25",
                        r["urn"],
                        (
                            f"egress rule {_desc(rule.get(p), rule.get(lo), rule.get(hi))} allows TCP 25; "
                            "allow only the submission ports 465, 587 and 2525 (mail is never sent on 25)"
                        ),
                    )
                )
    for rules in _nacl_egress(resources).values():
        for rule in sorted(rules, key=lambda x: float(x.get("ruleNo") or 0)):
            if (
                str(rule.get("action")).lower() == "allow"
                and not _private(rule.get("cidr"))
                and _covers(rule.get("protocol"), rule.get("fromPort"), rule.get("toPort"), SMTP_PORT)
                and not _shadowed(rule, rules)
            ):
                out.append(
                    Violation(
                        "no-smtp-port-25",
                        rule["urn"],
                        (
                            f"network ACL egress allow rule {rule.get('ruleNo')!r} "
                            f"({_desc(rule.get('protocol'), rule.get('fromPort'), rule.get('toPort'))} "
                            f"to {rule.get('cidr')}) lets TCP 25 out: no earlier rule denies it; "
                            "add a lower-numbered deny for TCP 25 to that destination"
                        ),
                    )
                )
    return out


def no_open_ingress(r: dict) -> list[Violation]:
    out = []
    for direction, rule, p, lo, hi in _sg_rules(r):
        if direction != "ingress":
            continue
        sources = [
            *(rule.get("cidrBlocks") or []),
            *(rule.get("ipv6CidrBlocks") or []),
            rule.get("cidrIpv4"),
            rule.get("cidrIpv6"),
        ]
        for cidr in sources:
            if cidr in ANYWHERE:
                out.append(
                    Violation(
                        "no-open-ingress",
                        r["urn"],
                        (
                            f"ingress rule {_desc(rule.get(p), rule.get(lo), rule.get(hi))} admits {cidr}; delivery "
                            "workers take no inbound connections from the internet: use a source security group"
                        ),
                    )
                )
    return out


def eip_protected(r: dict) -> list[Violation]:
    if r["type"] != EIP:
        return []
    missing = [] if r.get("protect") is True else ["protected"]
    if r.get("retain_on_delete") is False:  # None: not known (pulumi-policy does not expose it)
        missing.append("retained on delete")
    if not missing:
        return []
    return [
        Violation(
            "eip-protected",
            r["urn"],
            (
                f"Elastic IP {r.get('name')!r} is not {' and '.join(missing)}: customers have allowlisted it, so "
                "a replacement or a deletion would break their mail; "
                "set ResourceOptions(protect=True, retain_on_delete=True)"
            ),
        )
    ]


def imdsv2_required(r: dict) -> list[Violation]:
    if r["type"] not in (LAUNCH_TEMPLATE, INSTANCE):
        return []
    tokens = (_inputs(r).get("metadataOptions") or {}).get("httpTokens")
    if tokens == "required":
        return []
    return [
        Violation(
            "imdsv2-required",
            r["urn"],
            (
                f"metadataOptions.httpTokens is {tokens!r}, expected 'required' (IMDSv2 only: a worker tricked into "
                "fetching 169.254.169.254 must not hand out credentials)"
            ),
        )
    ]


RESOURCE_RULES: dict[str, tuple[str, Callable[[dict], list[Violation]]]] = {
    "no-open-ingress": ("No security group admits ingress from 0.0.0.0/0 or ::/0.", no_open_ingress),
    "eip-protected": ("Every Elastic IP is protected and retained on delete.", eip_protected),
    "imdsv2-required": ("Launch templates and instances require IMDSv2 (httpTokens: required).", imdsv2_required),
}


def _bucket_keys(r: dict) -> set[str]:
    return {k for k in (r.get("id"), _inputs(r).get("bucket")) if isinstance(k, str) and k}


def buckets_locked_down(resources: list[dict]) -> list[Violation]:
    blocked: set[str | None] = set()  # bucket names (None: a block or configuration that names none)
    encrypted: set[str | None] = set()
    for r in resources:
        i = _inputs(r)
        if r["type"] == PUBLIC_ACCESS_BLOCK and all(i.get(flag) is True for flag in PAB_FLAGS):
            blocked.add(i.get("bucket"))
        if r["type"] in SSE_CONFIGS and i.get("rules"):
            encrypted.add(i.get("bucket"))
    out = []
    for r in resources:
        if r["type"] not in BUCKETS:
            continue
        keys = _bucket_keys(r)
        if not keys & blocked:
            out.append(
                Violation(
                    "buckets-locked-down",
                    r["urn"],
                    (
                        f"bucket {r.get('name')!r} has no BucketPublicAccessBlock with {', '.join(PAB_FLAGS)} "
                        "all true; the archive holds customers' mail and the publisher serves only through the CDN"
                    ),
                )
            )
        if not (keys & encrypted or _inputs(r).get("serverSideEncryptionConfiguration")):
            out.append(
                Violation(
                    "buckets-locked-down",
                    r["urn"],
                    (
                        f"bucket {r.get('name')!r} has no server-side encryption configuration; add a "
                        "BucketServerSideEncryptionConfiguration (aws:kms or AES256)"
                    ),
                )
            )
    return out


STACK_RULES: dict[str, tuple[str, Callable[[list[dict]], list[Violation]]]] = {
    "no-smtp-port-25": ("No security group or network ACL lets egress to TCP port 25 out.", no_smtp_port_25),
    "buckets-locked-down": (
        "Every S3 bucket blocks public access (all four settings) and is encrypted.",
        buckets_locked_down,
    ),
}


def validate_resources(resources: list[dict]) -> list[Violation]:
    out = []
    for r in sorted(resources, key=lambda r: r["urn"]):
        for _, rule in RESOURCE_RULES.values():
            out.extend(rule(r))
    for _, stack_rule in STACK_RULES.values():
        out.extend(stack_rule(resources))
    return out


def validate_plan(plan: dict) -> list[Violation]:
    """Every violation of every rule in an ``egress synth`` plan (an empty list: the plan complies)."""
    return validate_resources(list(plan["resources"]))
