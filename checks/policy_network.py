"""Network deploy policies: ``no-smtp-port-25`` (security groups and network ACLs) and ``no-open-ingress``.

Rules as described in :mod:`smtp_egress.checks.policies`; unknown values as in
:mod:`smtp_egress.checks.policy_findings`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import Any

from .policy_findings import UNKNOWN, Finding, Undecided, Violation, first_unknown, is_unknown, references
from .policy_findings import inputs as _inputs

SG = "aws:ec2/securityGroup:SecurityGroup"
DEFAULT_SG = "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"
SG_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
VPC_EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
VPC_INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
NACL = "aws:ec2/networkAcl:NetworkAcl"
DEFAULT_NACL = "aws:ec2/defaultNetworkAcl:DefaultNetworkAcl"
NACL_RULE = "aws:ec2/networkAclRule:NetworkAclRule"
ANYWHERE = ("0.0.0.0/0", "::/0")
SMTP_PORT = 25

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


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


class _UnknownRule(dict):
    """A list of rules unknown during a preview reads as one rule whose every value is unknown."""

    def get(self, key: Any, default: Any = None) -> Any:
        return UNKNOWN


_UNKNOWN_RULE = _UnknownRule()


def _sg_rules(r: dict) -> Iterator[tuple[str | None, dict, str, str, str]]:
    """(direction, rule, protocol key, from key, to key) for every rule a resource declares."""
    i = _inputs(r)
    if r["type"] in (SG, DEFAULT_SG):
        for direction in ("ingress", "egress"):
            rules = i.get(direction)
            for rule in [_UNKNOWN_RULE] if is_unknown(rules) else rules or []:
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
    """NACL URN -> its egress rules as {ruleNo, action, protocol, fromPort, toPort, cidr, urn}. A separate rule
    resource joins its ACL by the ACL's ID or, when that ID is unknown during a preview, by the ACL's URN."""
    by_id: dict[Any, str] = {}
    out: dict[str, list[dict]] = {}
    for r in resources:
        if r["type"] in (NACL, DEFAULT_NACL):
            if isinstance(r.get("id"), str):
                by_id[r["id"]] = r["urn"]
            egress = _inputs(r).get("egress")
            for rule in [_UNKNOWN_RULE] if is_unknown(egress) else egress or []:
                known = {key: rule.get(key) for key in NACL_FIELDS[:-2]} if is_unknown(egress) else rule
                out.setdefault(r["urn"], []).append({**known, "cidr": _cidr(rule), "urn": r["urn"]})
    for r in resources:
        i = _inputs(r)
        if r["type"] == NACL_RULE and i.get("egress"):  # true, or unknown during a preview
            acl = next((by_id.get(t, t) for t in references(i.get("networkAclId")) if t), r["urn"])
            out.setdefault(acl, []).append(
                {
                    "ruleNo": i.get("ruleNumber"),
                    "action": i.get("ruleAction"),
                    "protocol": i.get("protocol"),
                    "fromPort": i.get("fromPort"),
                    "toPort": i.get("toPort"),
                    "urn": r["urn"],
                    "cidr": _cidr(i),
                    "egress": i.get("egress"),
                }
            )
    return out


def _cidr(rule: dict) -> Any:
    return rule.get("cidrBlock") or rule.get("ipv6CidrBlock")


NACL_FIELDS = ("ruleNo", "action", "protocol", "fromPort", "toPort", "cidr", "egress")


def _nacl_unknown(rules: list[dict]) -> str | None:
    """Which value of an ACL's egress rules is unknown during a preview (None: all are known)."""
    for rule in rules:
        field = next((f for f in NACL_FIELDS if is_unknown(rule.get(f))), None)
        if field == "ruleNo":
            return "rules"
        if field is not None:
            return f"rule {rule.get('ruleNo')}'s {field}"
    return None


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


def no_smtp_port_25(resources: list[dict]) -> list[Finding]:
    """Security groups: no egress rule covers TCP 25. Network ACLs (first match wins, by rule number):
    no allow rule lets TCP 25 through to a non-private destination that an earlier deny does not cover."""
    out: list[Finding] = []
    for r in resources:
        for direction, rule, p, lo, hi in _sg_rules(r):
            if direction == "ingress":
                continue
            unknown = first_unknown({"type": direction, p: rule.get(p), lo: rule.get(lo), hi: rule.get(hi)})
            if unknown is not None:
                out.append(Undecided("no-smtp-port-25", r["urn"], f"a security group rule's {unknown}"))
            elif direction == "egress" and _covers(rule.get(p), rule.get(lo), rule.get(hi), SMTP_PORT):
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
    for acl, rules in _nacl_egress(resources).items():
        unknown = _nacl_unknown(rules)
        if unknown is not None:  # any rule may decide first (or be the one that lets 25 out): the ACL is undecided
            out.append(Undecided("no-smtp-port-25", acl, f"network ACL egress {unknown}"))
            continue
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


def no_open_ingress(r: dict) -> list[Finding]:
    out: list[Finding] = []
    for direction, rule, p, lo, hi in _sg_rules(r):
        if direction != "ingress" and not is_unknown(direction):
            continue
        sources = [
            *_entries(rule.get("cidrBlocks")),
            *_entries(rule.get("ipv6CidrBlocks")),
            rule.get("cidrIpv4"),
            rule.get("cidrIpv6"),
        ]
        open_to = next((cidr for cidr in sources if cidr in ANYWHERE), None)
        unknown = first_unknown({"type": direction, **{f"source {i}": c for i, c in enumerate(sources)}})
        if direction == "ingress" and open_to is not None:
            out.append(
                Violation(
                    "no-open-ingress",
                    r["urn"],
                    (
                        f"ingress rule {_desc(rule.get(p), rule.get(lo), rule.get(hi))} admits {open_to}; delivery "
                        "workers take no inbound connections from the internet: use a source security group"
                    ),
                )
            )
        elif unknown is not None:
            out.append(Undecided("no-open-ingress", r["urn"], f"a security group rule's {unknown}"))
    return out


def _entries(values: Any) -> list[Any]:
    """A list's entries; an unknown list stands for one unknown entry."""
    return [values] if is_unknown(values) else list(values or [])
