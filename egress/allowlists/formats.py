"""Every allowlist format: its name, the file it is written to by ``--all``, and how provenance is carried."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from . import aws, cloud, firewalls, lists, servers
from .base import Output
from .content import Allowlist


@dataclasses.dataclass(frozen=True)
class Format:
    name: str
    filename: str  # in the --all tree: DIR/<region>/<filename>
    render: Callable[[Allowlist], Output]
    summary: str
    provenance: str  # where the provenance is: a comment syntax or a metadata field


_ALL = (
    Format("txt", "allowlist.txt", lists.render_txt, "one CIDR block (or address) per line", "# comment lines"),
    Format(
        "csv",
        "allowlist.csv",
        lists.render_csv,
        "RFC 4180 CSV, one row per block with its status",
        "metadata columns on every row (region, as_of, generated_at, plan_sha256, published_sync_token)",
    ),
    Format("json", "allowlist.json", lists.render_json, "JSON: networks and per-block status", '"_provenance" object'),
    Format("yaml", "allowlist.yaml", lists.render_yaml, "YAML: the JSON body", "# comment lines"),
    Format("spf", "spf.txt", lists.render_spf, "ip4:/ip6: mechanisms for an SPF record (last line)", "# comment lines"),
    Format(
        "postfix-cidr",
        "postfix.cidr",
        firewalls.render_postfix_cidr,
        "Postfix cidr: table (198.51.100.8/30 OK)",
        "# comment lines",
    ),
    Format(
        "nftables",
        "nftables.nft",
        firewalls.render_nftables,
        "nft -f: a table with named sets and an accept rule for tcp 465, 587, 2525",
        "# comment lines",
    ),
    Format(
        "iptables",
        "iptables.rules",
        firewalls.render_iptables,
        "iptables-restore --noflush input (IPv4 blocks only)",
        "# comment lines",
    ),
    Format(
        "ip6tables",
        "ip6tables.rules",
        firewalls.render_ip6tables,
        "ip6tables-restore --noflush input (IPv6 blocks only)",
        "# comment lines",
    ),
    Format(
        "ufw",
        "ufw.sh",
        firewalls.render_ufw,
        "sh script: ufw allow each block, then delete our rules for blocks no longer listed",
        "# comment lines",
    ),
    Format(
        "exchange",
        "exchange.ps1",
        servers.render_exchange,
        "Exchange Server: Set-ReceiveConnector -RemoteIPRanges @{Add=...}",
        "# comment lines",
    ),
    Format(
        "exchange-online",
        "exchange-online.ps1",
        servers.render_exchange_online,
        "Exchange Online: Set-InboundConnector -SenderIPAddresses @{Add=...} (IPv4, /24-/32)",
        "# comment lines",
    ),
    Format(
        "aws-sg",
        "aws-sg.json",
        aws.render_aws_sg,
        "IpPermissions for aws ec2 authorize-security-group-ingress (apply and update: aws-sg-sync)",
        '"_provenance" object',
    ),
    Format(
        "aws-sg-sync",
        aws.SG_SCRIPT,
        aws.render_aws_sg_sync,
        "sh script: bring a security group's rules to the list (adds, then revokes; idempotent)",
        "# comment lines",
    ),
    Format(
        "aws-prefix-list",
        "aws-prefix-list.json",
        aws.render_aws_prefix_list,
        "managed prefix lists (one per address family) with room to grow (apply: aws-prefix-list-sync)",
        '"_provenance" object',
    ),
    Format(
        "aws-prefix-list-sync",
        aws.PREFIX_LIST_SCRIPT,
        aws.render_aws_prefix_list_sync,
        "sh script: create or update the prefix lists (add/remove entries; idempotent)",
        "# comment lines",
    ),
    Format(
        "gcp-firewall",
        "gcp-firewall.json",
        cloud.render_gcp_firewall,
        "VPC firewall rule bodies (sourceRanges), gcloud create and update commands",
        '"_provenance" object',
    ),
    Format(
        "azure-nsg",
        "azure-nsg.json",
        cloud.render_azure_nsg,
        "ARM securityRules, az network nsg rule create and update commands",
        '"_provenance" object',
    ),
    Format(
        "terraform",
        "terraform.tf",
        cloud.render_terraform,
        "HCL: locals and aws_vpc_security_group_ingress_rule resources",
        "# comment lines",
    ),
    Format(
        "pulumi",
        "pulumi_snippet.py",
        cloud.render_pulumi,
        "a Python module adding aws.vpc.SecurityGroupIngressRule resources",
        "# comment lines",
    ),
    Format(
        "nginx", "nginx.conf", servers.render_nginx, "allow ...; deny all; (stream or http context)", "# comment lines"
    ),
    Format("apache", "apache.conf", servers.render_apache, "Require ip lines in a <RequireAny>", "# comment lines"),
    Format(
        "haproxy",
        "haproxy.cfg",
        servers.render_haproxy,
        "acl ... src + tcp-request connection reject unless",
        "# comment lines",
    ),
)

FORMATS: dict[str, Format] = {f.name: f for f in _ALL}


def get(name: str) -> Format:
    from ..errors import ConfigError

    if name not in FORMATS:
        raise ConfigError(f"unknown format {name!r}; choose one of: {', '.join(FORMATS)}")
    return FORMATS[name]


def render(al: Allowlist, name: str) -> Output:
    return get(name).render(al)
