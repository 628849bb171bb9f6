"""Cloud firewalls and infrastructure as code: GCP VPC firewall, Azure NSG, Terraform, Pulumi (AWS's own
formats are in :mod:`.aws`). Every block is written as CIDR (``/32``, ``/128`` for single addresses)."""

from __future__ import annotations

import json

from ..jsontypes import JSONObject
from .aws import STABLE, desc, limits
from .base import Output, header, json_output, over_limit, split, text
from .content import SMTP_PORTS, Allowlist

GCP_RANGES = 5000  # source ranges per VPC firewall rule
CLOUD_ARMOR_RANGES = 10  # source IP ranges per Cloud Armor basic match rule
AZURE_NSG_PREFIXES = 4000  # source/destination addresses and ranges per network security group


def _ports_csv() -> str:
    return ",".join(f"tcp:{p}" for p in SMTP_PORTS)


def render_gcp_firewall(al: Allowlist) -> Output:
    """VPC firewall rule bodies (compute.firewalls.insert), one per address family (a rule takes one),
    with the equivalent ``gcloud`` commands."""
    rules: list[JSONObject] = []
    commands: list[str] = []
    updates: list[str] = []
    warnings: list[str] = []
    for version, nets in zip((4, 6), split(al.networks), strict=True):
        if not nets:
            continue
        name = f"smtp-egress-{al.region}-ipv{version}"
        ranges = [str(n) for n in nets]
        rules.append(
            {
                "name": name,
                "description": f"{desc(al)}: allow the platform's SMTP egress (IPv{version})",
                "direction": "INGRESS",
                "priority": 1000,
                "sourceRanges": ranges,
                "allowed": [{"IPProtocol": "tcp", "ports": [str(p) for p in SMTP_PORTS]}],
            }
        )
        commands.append(
            f'gcloud compute firewall-rules create {name} --network="$NETWORK" --direction=INGRESS '
            f"--action=ALLOW --rules={_ports_csv()} --source-ranges={','.join(ranges)}"
        )
        updates.append(f"gcloud compute firewall-rules update {name} --source-ranges={','.join(ranges)}")
        warnings += over_limit(len(nets), GCP_RANGES, f"IPv{version} source ranges", "split the rule")
        if len(nets) > CLOUD_ARMOR_RANGES:
            warnings.append(
                f"{len(nets)} IPv{version} ranges: a Cloud Armor basic rule takes at most "
                f"{CLOUD_ARMOR_RANGES}; if you use them in Cloud Armor, split them across rules"
            )
    return json_output(
        al,
        "gcp-firewall",
        {"firewallRules": rules, "gcloud": commands, "gcloudUpdate": updates},
        warnings,
        'The first time: POST each firewallRules entry to compute.firewalls.insert (add "network"), or run the '
        "gcloud commands. After every change: PATCH each rule's sourceRanges (compute.firewalls.patch), or run "
        "the gcloudUpdate commands; either replaces the rule's whole list in one step, so running it twice "
        "changes nothing the second time",
    )


def render_azure_nsg(al: Allowlist) -> Output:
    """ARM ``securityRules`` for a network security group, one per address family, with ``az`` commands."""
    rules: list[JSONObject] = []
    commands: list[str] = []
    updates: list[str] = []
    for i, (version, nets) in enumerate(zip((4, 6), split(al.networks), strict=True)):
        if not nets:
            continue
        name = f"smtp-egress-{al.region}-ipv{version}"
        prefixes = [str(n) for n in nets]
        rules.append(
            {
                "name": name,
                "properties": {
                    "description": f"{desc(al)}: allow the platform's SMTP egress (IPv{version})",
                    "protocol": "Tcp",
                    "sourcePortRange": "*",
                    "sourceAddressPrefixes": prefixes,
                    "destinationAddressPrefix": "*",
                    "destinationPortRanges": [str(p) for p in SMTP_PORTS],
                    "access": "Allow",
                    "priority": 200 + i,
                    "direction": "Inbound",
                },
            }
        )
        commands.append(
            f'az network nsg rule create --resource-group "$RESOURCE_GROUP" --nsg-name "$NSG_NAME" '
            f"--name {name} --priority {200 + i} --direction Inbound --access Allow --protocol Tcp "
            f"--source-address-prefixes {' '.join(prefixes)} --source-port-ranges '*' "
            f"--destination-address-prefixes '*' --destination-port-ranges {' '.join(map(str, SMTP_PORTS))}"
        )
        updates.append(
            f'az network nsg rule update --resource-group "$RESOURCE_GROUP" --nsg-name "$NSG_NAME" '
            f"--name {name} --source-address-prefixes {' '.join(prefixes)}"
        )
    warnings = over_limit(
        len(al.networks),
        AZURE_NSG_PREFIXES,
        "address prefixes",
        "an NSG holds at most that many source and destination prefixes in all its rules",
    )
    return json_output(
        al,
        "azure-nsg",
        {"securityRules": rules, "az": commands, "azUpdate": updates},
        warnings,
        "The first time: add securityRules to the NSG's ARM template (adjust the priorities to your rules), or "
        "run the az commands. After every change: redeploy the template with the new securityRules, or run the "
        "azUpdate commands; either replaces each rule's whole list of source prefixes, so running it twice "
        "changes nothing the second time",
    )


def _hcl_list(items: list[str]) -> list[str]:
    if not items:
        return ["[]"]
    return ["[", *[f'    "{i}",' for i in items], "  ]"]


def render_terraform(al: Allowlist) -> Output:
    """HCL: the blocks as locals and one ``aws_vpc_security_group_ingress_rule`` per (block, port)."""
    r = al.region.replace("-", "_")
    v4, v6 = split(al.networks)
    usage = [f"Save as smtp_egress_{r}.tf in your module and set var.smtp_egress_{r}_security_group_id.", STABLE]
    warnings = limits(al, len(SMTP_PORTS), "security group rules")
    lines = header(al, "terraform", "#", warnings, usage)
    l4, l6 = _hcl_list([str(n) for n in v4]), _hcl_list([str(n) for n in v6])
    lines += [
        "",
        f'variable "smtp_egress_{r}_security_group_id" {{',
        "  type        = string",
        f'  description = "The security group of your SMTP server (smtp-egress allowlist, region {al.region})"',
        "}",
        "",
        "locals {",
        f"  smtp_egress_{r}_ipv4 = {l4[0]}",
        *l4[1:],
        f"  smtp_egress_{r}_ipv6 = {l6[0]}",
        *l6[1:],
        f"  smtp_egress_{r}_ports = [{', '.join(map(str, SMTP_PORTS))}]",
        "}",
    ]
    for version in (4, 6):
        lines += [
            "",
            f'resource "aws_vpc_security_group_ingress_rule" "smtp_egress_{r}_ipv{version}" {{',
            (
                f"  for_each          = {{ for pair in setproduct(local.smtp_egress_{r}_ipv{version}, "
                f"local.smtp_egress_{r}_ports) : "
                '"${pair[0]} tcp/${pair[1]}" => pair }'
            ),
            f"  security_group_id = var.smtp_egress_{r}_security_group_id",
            f"  cidr_ipv{version}         = each.value[0]",
            '  ip_protocol       = "tcp"',
            "  from_port         = each.value[1]",
            "  to_port           = each.value[1]",
            f'  description       = "{desc(al)}"',
            "}",
        ]
    return text(lines, warnings)


def render_pulumi(al: Allowlist) -> Output:
    """A Python module for a Pulumi program: the blocks and a function adding the ingress rules."""
    r = al.region.replace("-", "_")
    const = f"SMTP_EGRESS_{r.upper()}"
    v4, v6 = split(al.networks)
    warnings = limits(al, len(SMTP_PORTS), "security group rules")
    usage = [f"Save as smtp_egress_{r}.py next to __main__.py, then: allow_smtp_egress_{r}(security_group.id)", STABLE]
    lines = header(al, "pulumi", "#", warnings, usage)
    lines += [
        "import pulumi_aws as aws",
        "",
        f"{const}_IPV4 = {json.dumps([str(n) for n in v4])}",
        f"{const}_IPV6 = {json.dumps([str(n) for n in v6])}",
        f"{const}_PORTS = [{', '.join(map(str, SMTP_PORTS))}]",
        "",
        "",
        f"def allow_smtp_egress_{r}(security_group_id, opts=None):",
        f'    """One ingress rule per (block, port) on the security group of your SMTP server (region {al.region})."""',
        "    rules = []",
        f"    for cidr in {const}_IPV4 + {const}_IPV6:",
        '        family = {"cidr_ipv6": cidr} if ":" in cidr else {"cidr_ipv4": cidr}',
        f"        for port in {const}_PORTS:",
        f'            name = "smtp-egress-{al.region}-" + cidr.replace("/", "-").replace(":", "-") + f"-{{port}}"',
        "            rules.append(aws.vpc.SecurityGroupIngressRule(",
        '                name, security_group_id=security_group_id, ip_protocol="tcp", from_port=port, to_port=port,',
        f'                description="{desc(al)}", opts=opts, **family))',
        "    return rules",
    ]
    return text(lines, warnings)
