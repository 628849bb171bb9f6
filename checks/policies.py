"""Deploy policies: plain functions over recorded resources, run on synth plans and by the policy pack.

A resource is a dict as in an ``egress synth`` plan: ``type`` (e.g. ``aws:ec2/eip:Eip``), ``urn``,
``name``, ``inputs`` (engine property names, camelCase), ``protect``, ``retain_on_delete`` and ``id``.
Each rule returns a list of :class:`Violation` (and, where a value it checks is not known during a preview,
of :class:`~smtp_egress.checks.policy_findings.Undecided`); an empty list means the rule holds. Rules read only
the values they check, so an unknown value elsewhere (a ``vpcId`` during a first preview) never stops them:
see :mod:`smtp_egress.checks.policy_findings`.

- ``no-smtp-port-25``: nothing may let egress to TCP 25 out: no security group egress rule (inline or a
  separate rule resource) covers it, and no network ACL allow rule lets it through to a non-private
  destination before a deny (NACLs apply the lowest-numbered matching rule). Mail is never sent on 25.
- ``no-open-ingress``: no security group admits traffic from 0.0.0.0/0 or ::/0.
- ``eip-protected``: every Elastic IP is protected and retained on delete (customers allowlist them).
- ``imdsv2-required``: launch templates and instances require IMDSv2 (``httpTokens: required``).
- ``buckets-locked-down``: every S3 bucket has a public access block with all four settings true and a
  server-side encryption configuration.

The network rules live in :mod:`.policy_network`, the bucket rule in :mod:`.policy_buckets`, the rest here.
:func:`validate_plan` runs all of them on a synth plan; :mod:`smtp_egress.checks.policy_adapters` adapts each rule
to pulumi-policy's ``validate(args, report_violation)`` for ``checks/policy_pack/__main__.py``.
"""

from __future__ import annotations

from collections.abc import Callable

from .policy_buckets import BUCKETS, PAB_FLAGS, PUBLIC_ACCESS_BLOCK, SSE_CONFIGS, buckets_locked_down
from .policy_findings import Finding, Undecided, Violation, is_unknown
from .policy_findings import inputs as _inputs
from .policy_network import (
    ANYWHERE,
    DEFAULT_NACL,
    DEFAULT_SG,
    NACL,
    NACL_RULE,
    SG,
    SG_RULE,
    SMTP_PORT,
    VPC_EGRESS,
    VPC_INGRESS,
    no_open_ingress,
    no_smtp_port_25,
)

EIP = "aws:ec2/eip:Eip"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
INSTANCE = "aws:ec2/instance:Instance"

__all__ = [
    "ANYWHERE",
    "BUCKETS",
    "DEFAULT_NACL",
    "DEFAULT_SG",
    "EIP",
    "INSTANCE",
    "LAUNCH_TEMPLATE",
    "NACL",
    "NACL_RULE",
    "PAB_FLAGS",
    "PUBLIC_ACCESS_BLOCK",
    "SG",
    "SG_RULE",
    "SMTP_PORT",
    "SSE_CONFIGS",
    "VPC_EGRESS",
    "VPC_INGRESS",
    "Finding",
    "Undecided",
    "Violation",
    "validate_plan",
    "validate_resources",
]


def eip_protected(r: dict) -> list[Finding]:
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


def imdsv2_required(r: dict) -> list[Finding]:
    if r["type"] not in (LAUNCH_TEMPLATE, INSTANCE):
        return []
    options = _inputs(r).get("metadataOptions")
    tokens = options if is_unknown(options) else (options or {}).get("httpTokens")
    if tokens == "required":
        return []
    if is_unknown(tokens):
        return [Undecided("imdsv2-required", r["urn"], "metadataOptions.httpTokens")]
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


RESOURCE_RULES: dict[str, tuple[str, Callable[[dict], list[Finding]]]] = {
    "no-open-ingress": ("No security group admits ingress from 0.0.0.0/0 or ::/0.", no_open_ingress),
    "eip-protected": ("Every Elastic IP is protected and retained on delete.", eip_protected),
    "imdsv2-required": ("Launch templates and instances require IMDSv2 (httpTokens: required).", imdsv2_required),
}


STACK_RULES: dict[str, tuple[str, Callable[[list[dict]], list[Finding]]]] = {
    "no-smtp-port-25": ("No security group or network ACL lets egress to TCP port 25 out.", no_smtp_port_25),
    "buckets-locked-down": (
        "Every S3 bucket blocks public access (all four settings) and is encrypted.",
        buckets_locked_down,
    ),
}


def validate_resources(resources: list[dict]) -> list[Finding]:
    out: list[Finding] = []
    for r in sorted(resources, key=lambda r: r["urn"]):
        for _, rule in RESOURCE_RULES.values():
            out.extend(rule(r))
    for _, stack_rule in STACK_RULES.values():
        out.extend(stack_rule(resources))
    return out


def validate_plan(plan: dict) -> list[Finding]:
    """Every violation of every rule in an ``egress synth`` plan (an empty list: the plan complies; a synth plan
    knows every value, so nothing is :class:`~smtp_egress.checks.policy_findings.Undecided`)."""
    return validate_resources(list(plan["resources"]))
