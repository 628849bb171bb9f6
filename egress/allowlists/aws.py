"""AWS: security group permissions and managed prefix lists, as data (JSON) and as POSIX shell scripts that
bring a live security group or prefix list to the list, the first time and after every change.

A script holds the whole list and computes the difference against what AWS holds when it runs: it adds what
is missing before it removes what is no longer listed (make before break), and running it twice changes
nothing the second time. It needs only ``sh``, the ``aws`` CLI (v1 or v2) and POSIX tools (awk, sort, comm).
"""

from __future__ import annotations

import shlex
from importlib import resources

from ..jsontypes import JSONObject
from . import shell
from .base import Output, header, json_output, over_limit, split, text
from .content import SMTP_PORTS, Allowlist

AWS_SG_RULES = 60  # inbound rules per security group, counted per IP version (each CIDR x port is a rule)
PREFIX_LIST_MAX = 1000  # the largest MaxEntries of a customer-managed prefix list
MODIFY_ENTRIES = 100  # AddEntries (and RemoveEntries) per ModifyManagedPrefixList request
STABLE = (
    "Aggregated blocks change shape when addresses are added or retired; for rules that are kept "
    "in place across changes, generate with --no-aggregate (one rule set per address)."
)
SG_SCRIPT = "aws-sg-sync.sh"
PREFIX_LIST_SCRIPT = "aws-prefix-list-sync.sh"
FORMAT_FILES = {"aws-sg-sync": SG_SCRIPT, "aws-prefix-list-sync": PREFIX_LIST_SCRIPT}  # templates/<file>
PORTS = " ".join(map(str, SMTP_PORTS))


def desc(al: Allowlist) -> str:
    """The description on every rule and entry we write: how a script recognises its own rules."""
    return f"smtp-egress {al.region}"


def headroom(count: int) -> int:
    """``MaxEntries`` for a prefix list of ``count`` entries: room for every entry to be replaced while the
    old ones are still listed (an announced addition is listed alongside the retirement it replaces)."""
    return min(PREFIX_LIST_MAX, max(2 * count, count + 2))


def limits(al: Allowlist, per_block: int, what: str) -> list[str]:
    """The security-group rule quota, per IP version, for ``per_block`` rules per block."""
    out = []
    for version, nets in zip((4, 6), split(al.networks), strict=True):
        out += over_limit(
            len(nets) * per_block,
            AWS_SG_RULES,
            f"IPv{version} {what} ({len(nets)} blocks x {per_block} ports)",
            "request a higher 'Inbound or outbound rules per security group' quota or split across groups",
        )
    return out


def render_aws_sg(al: Allowlist) -> Output:
    """``IpPermissions`` for ``aws ec2 authorize-security-group-ingress --ip-permissions``: one per port."""
    v4, v6 = split(al.networks)
    perms: list[JSONObject] = [
        {
            "IpProtocol": "tcp",
            "FromPort": port,
            "ToPort": port,
            "IpRanges": [{"CidrIp": str(n), "Description": desc(al)} for n in v4],
            "Ipv6Ranges": [{"CidrIpv6": str(n), "Description": desc(al)} for n in v6],
        }
        for port in SMTP_PORTS
    ]
    warnings = limits(al, len(SMTP_PORTS), "security group rules")
    usage = (
        f"To apply this list, the first time and after every change, run {SG_SCRIPT} (format aws-sg-sync): "
        f'sh {SG_SCRIPT} "$SECURITY_GROUP_ID" adds what is missing and revokes the rules described '
        f"'{desc(al)}' that are no longer listed. On a group that has none of these rules yet, this also works "
        f'once: aws ec2 authorize-security-group-ingress --group-id "$SECURITY_GROUP_ID" --ip-permissions '
        f'"$(jq -c .IpPermissions aws-sg.json)" (a second run fails with InvalidPermission.Duplicate).  {STABLE}'
    )
    return json_output(al, "aws-sg", {"IpPermissions": perms}, warnings, usage)


def _prefix_list_warnings(al: Allowlist) -> list[str]:
    out = []
    for version, nets in zip((4, 6), split(al.networks), strict=True):
        if not nets:
            continue
        out += over_limit(
            headroom(len(nets)) * len(SMTP_PORTS),
            AWS_SG_RULES,
            f"IPv{version} security group rules when the prefix list is referenced from one rule per port "
            f"(MaxEntries {headroom(len(nets))} x {len(SMTP_PORTS)} ports)",
            "request a higher 'Inbound or outbound rules per security group' quota",
        )
        out += over_limit(
            len(nets),
            MODIFY_ENTRIES,
            f"IPv{version} entries",
            "a single ModifyManagedPrefixList request adds or removes at most that many: update in steps",
        )
    return out


def render_aws_prefix_list(al: Allowlist) -> Output:
    """Entries for a customer-managed prefix list, one list per address family (a prefix list holds one), with
    ``MaxEntries`` leaving room for the next change (:func:`headroom`)."""
    body: dict[str, JSONObject] = {}
    for version, nets in zip((4, 6), split(al.networks), strict=True):
        if nets:
            body[f"ipv{version}"] = {
                "PrefixListName": f"smtp-egress-{al.region}-ipv{version}",
                "AddressFamily": f"IPv{version}",
                "MaxEntries": headroom(len(nets)),
                "Entries": [{"Cidr": str(n), "Description": desc(al)} for n in nets],
            }
    usage = (
        f"To create the prefix lists and bring them to this list after every change, run {PREFIX_LIST_SCRIPT} "
        f"(format aws-prefix-list-sync): sh {PREFIX_LIST_SCRIPT} [SECURITY_GROUP_ID]. It modifies the lists "
        "named here with add/remove entries against their current version, and grows MaxEntries when a list "
        "needs more room. MaxEntries leaves room for every entry to be replaced while the old one is still "
        "listed. A security group rule that references a prefix list counts as MaxEntries rules."
    )
    return json_output(al, "aws-prefix-list", body, _prefix_list_warnings(al), usage)


def _template(name: str) -> list[str]:
    return (resources.files(__package__) / "templates" / name).read_text(encoding="utf-8").splitlines()


def _script(al: Allowlist, fmt: str, usage: list[str], warnings: list[str], body: list[str]) -> Output:
    """The provenance and usage, the settings and the template's functions, then ``body`` as ``main``."""
    settings = ["LC_ALL=C", "export LC_ALL", f"desc={shlex.quote(desc(al))}", f"ports='{PORTS}'", "group="]
    template = _template(FORMAT_FILES[fmt])
    return text(shell.script(header(al, fmt, "#", warnings, usage), [*settings, "", *template], body), warnings)


def _group_arg(otherwise: str = "") -> list[str]:
    """``main``'s first lines: a first argument ``sg-...`` is the security group (``group``), taken off the
    arguments; without one, ``otherwise`` runs (if given)."""
    return ["case ${1:-} in", "sg-*) group=$1; shift ;;", *([f"*) {otherwise} ;;"] if otherwise else []), "esac"]


def render_aws_sg_sync(al: Allowlist) -> Output:
    """A shell script that brings a security group's inbound rules to the list: one rule per (block, port)."""
    warnings = limits(al, len(SMTP_PORTS), "security group rules")
    usage = [
        "Apply to your SMTP server's security group, the first time and after every change (each new file",
        "replaces the last; keep only the newest):",
        f"  sh {SG_SCRIPT} SECURITY_GROUP_ID [aws options, e.g. --region us-east-1 --profile prod]",
        "It reads the group's inbound rules, adds each listed (block, TCP port) rule the group lacks, then",
        f"revokes the rules described '{desc(al)}' whose block is no longer listed (additions first: a",
        "listed address never loses its rule). Other rules are left alone. Running it twice changes nothing",
        "the second time. Needs the aws CLI and ec2:DescribeSecurityGroupRules, ec2:AuthorizeSecurityGroupIngress",
        "and ec2:RevokeSecurityGroupIngress. Aggregated blocks that change shape are handled the same way: the",
        "new blocks' rules are added before the old ones are revoked.",
    ]
    rows = [f"{n} {port}" for n in al.networks for port in SMTP_PORTS]
    args = _group_arg(f'echo "usage: sh {SG_SCRIPT} SECURITY_GROUP_ID [aws options]" >&2; exit 2')
    return _script(al, "aws-sg-sync", usage, warnings, [*args, *shell.heredoc('sync_group "$@"', rows)])


def render_aws_prefix_list_sync(al: Allowlist) -> Output:
    """A shell script that creates or updates one managed prefix list per address family, and optionally
    makes a security group reference them on each SMTP port."""
    warnings = _prefix_list_warnings(al)
    usage = [
        "Create the prefix lists, and bring them to this list after every change (each new file replaces",
        "the last; keep only the newest):",
        f"  sh {PREFIX_LIST_SCRIPT} [SECURITY_GROUP_ID] [aws options, e.g. --region us-east-1 --profile prod]",
        f"It finds the prefix lists by name (smtp-egress-{al.region}-ipv4, -ipv6), creates a missing one, or",
        "modifies it with the entries to add and to remove against its current version (one request: the list",
        "never lacks a listed block); it grows MaxEntries first when the list needs more room. Running it twice",
        "changes nothing the second time. With a security group id it also adds, once, the group's inbound",
        "rules that reference each list on every SMTP port. Needs the aws CLI and ec2:DescribeManagedPrefixLists,",
        "ec2:GetManagedPrefixListEntries, ec2:CreateManagedPrefixList, ec2:ModifyManagedPrefixList (and, with a",
        "group, ec2:DescribeSecurityGroupRules and ec2:AuthorizeSecurityGroupIngress).",
    ]
    families = [
        (v, nets, f"smtp-egress-{al.region}-ipv{v}") for v, nets in zip((4, 6), split(al.networks), strict=True)
    ]
    families = [f for f in families if f[1]]
    body = _group_arg()
    body.append(f'look_up {" ".join(name for _, _, name in families)} -- "$@"')
    for version, nets, name in families:
        body += shell.heredoc(f'sync_list {name} IPv{version} {headroom(len(nets))} "$@"', [str(n) for n in nets])
    return _script(al, "aws-prefix-list-sync", usage, warnings, body)
