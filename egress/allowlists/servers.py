"""Servers and proxies in front of the customer's SMTP: nginx, Apache, HAProxy, Exchange, Exchange Online."""

from __future__ import annotations

from .base import Output, header, split, text
from .content import Allowlist, Network, show


def render_nginx(al: Allowlist) -> Output:
    """``allow``/``deny all`` lines (ngx_stream_access_module / ngx_http_access_module)."""
    usage = [
        f"Save as /etc/nginx/smtp-egress-{al.region}.conf and include it where nginx proxies SMTP (a stream {{}}",
        f"server block) or in an http server/location: include /etc/nginx/smtp-egress-{al.region}.conf;",
        "It ends with 'deny all;': keep the include after any allow lines of your own.",
        "After every change, replace the file whole and run: nginx -t && nginx -s reload  (a configuration that",
        "fails the test is not loaded; on reload, new workers use the new list and old ones finish their work).",
    ]
    return text(
        header(al, "nginx", "#", usage=usage) + [f"allow {show(n, True)};" for n in al.networks] + ["deny all;"]
    )


def render_apache(al: Allowlist) -> Output:
    """A ``<RequireAny>`` of ``Require ip`` lines (mod_authz_core + mod_authz_host)."""
    usage = [
        f"Include inside a <Location>, <Directory> or <Proxy> section: Include smtp-egress-{al.region}.conf",
        "After every change, replace the file whole and run: apachectl configtest && apachectl graceful",
    ]
    lines = [*header(al, "apache", "#", usage=usage), "<RequireAny>"]
    lines += [f"    Require ip {show(n, True)}" for n in al.networks] + ["</RequireAny>"]
    return text(lines)


def render_haproxy(al: Allowlist) -> Output:
    """An ACL (one ``acl`` line per block, OR-ed) and a connection reject for everyone else."""
    acl = f"smtp_egress_{al.region.replace('-', '_')}"
    usage = [
        "Paste into the frontend (mode tcp) that receives SMTP; then: haproxy -c -f <your config>",
        f"After every change, replace these lines (every 'acl {acl}' line and the reject) with the new file's,",
        "check with haproxy -c -f <your config>, and reload HAProxy (systemctl reload haproxy).",
    ]
    lines = header(al, "haproxy", "#", usage=usage)
    lines += [f"acl {acl} src {show(n, True)}" for n in al.networks]
    lines.append(f"tcp-request connection reject unless {acl}")
    return text(lines)


def _ps_list(items: list[str]) -> str:
    return ",".join(f'"{i}"' for i in items)


def render_exchange(al: Allowlist) -> Output:
    """Exchange Server (on-premises) Management Shell: add the blocks to a receive connector's RemoteIPRanges."""
    usage = [
        'Run in the Exchange Management Shell: .\\exchange.ps1 -Identity "SERVER\\Connector name"',
        "Add= keeps the connector's other ranges. After an announced retirement's date, remove that",
        'address with: Set-ReceiveConnector -Identity ... -RemoteIPRanges @{Remove="<address>"}',
    ]
    lines = header(al, "exchange", "#", usage=usage)
    lines += [
        "param([Parameter(Mandatory = $true)][string]$Identity)",
        "",
        (
            f"Set-ReceiveConnector -Identity $Identity -RemoteIPRanges "
            f"@{{Add={_ps_list([show(n, True) for n in al.networks])}}}"
        ),
    ]
    return text(lines)


def online_ranges(al: Allowlist) -> tuple[list[Network], list[str]]:
    """Exchange Online takes only IPv4, as single addresses or CIDR /24 to /32: larger blocks are split into
    /24s (the same addresses), IPv6 is left out with a warning."""
    v4, v6 = split(al.networks)
    out: list[Network] = []
    for n in v4:
        out += list(n.subnets(new_prefix=24)) if n.prefixlen < 24 else [n]
    warnings: list[str] = []
    if v6:
        warnings.append(
            f"Exchange Online inbound connectors accept IPv4 only: {len(v6)} IPv6 block(s) left out "
            f"({', '.join(str(n) for n in v6)}); mail from them will not match this connector"
        )
    if len(out) > len(v4):
        warnings.append("Exchange Online accepts CIDR /24 to /32 only: blocks larger than /24 were split into /24s")
    return out, warnings


def render_exchange_online(al: Allowlist) -> Output:
    """Exchange Online PowerShell: add the IPv4 blocks to an inbound connector's SenderIPAddresses."""
    ranges, warnings = online_ranges(al)
    usage = [
        'Run after Connect-ExchangeOnline: .\\exchange-online.ps1 -Identity "Connector name"',
        "Add= keeps the connector's other addresses.",
    ]
    lines = header(al, "exchange-online", "#", warnings, usage)
    lines += ["param([Parameter(Mandatory = $true)][string]$Identity)", ""]
    if ranges:
        lines.append(
            f"Set-InboundConnector -Identity $Identity -SenderIPAddresses "
            f"@{{Add={_ps_list([show(n, True) for n in ranges])}}}"
        )
    else:
        lines.append("Write-Error 'smtp-egress: no IPv4 addresses for this region: nothing to add'")
    return text(lines, warnings)
