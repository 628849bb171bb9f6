"""Host firewalls and the MTA: nftables, iptables / ip6tables (iptables-restore input), ufw, Postfix cidr."""

from __future__ import annotations

import shlex

from . import shell
from .base import Output, header, split, text
from .content import SMTP_PORTS, Allowlist, Network, show

PORTS = ", ".join(str(p) for p in SMTP_PORTS)
MULTIPORT = ",".join(str(p) for p in SMTP_PORTS)


def _ident(region: str) -> str:
    return region.replace("-", "_")


def _elements(nets: list[Network], indent: str) -> list[str]:
    """An nftables element list, four per line."""
    items = [show(n, True) for n in nets]
    rows = [", ".join(items[i : i + 4]) for i in range(0, len(items), 4)]
    if len(rows) == 1:
        return [f"{indent}elements = {{ {rows[0]} }}"]
    return [f"{indent}elements = {{", *[f"{indent}\t{r}," for r in rows[:-1]], f"{indent}\t{rows[-1]}", f"{indent}}}"]


def render_nftables(al: Allowlist) -> Output:
    """A table of its own (replaced whole on every load) with named interval sets and an accept rule."""
    table = f"smtp_egress_{_ident(al.region)}"
    v4, v6 = split(al.networks)
    usage = [
        "Load (and reload after every change) with: nft -f <this file>",
        f"The first two lines make the load replace table inet {table} whole, so a reload never duplicates rules.",
        "An accept here is final for this table only: if another table of yours drops by default at the",
        "input hook, copy the sets into that table and accept from them in its chain instead.",
    ]
    lines = header(al, "nftables", "#", usage=usage)
    lines += [f"table inet {table}", f"delete table inet {table}", f"table inet {table} {{"]
    rules: list[str] = []
    for family, nets, kind in (("ip", v4, "ipv4_addr"), ("ip6", v6, "ipv6_addr")):
        if not nets:
            continue
        name = f"allowed_v{4 if family == 'ip' else 6}"
        lines += [f"\tset {name} {{", f"\t\ttype {kind}", "\t\tflags interval", *_elements(nets, "\t\t"), "\t}"]
        rules.append(f"\t\t{family} saddr @{name} tcp dport {{ {PORTS} }} accept")
    lines += ["\tchain input {", "\t\ttype filter hook input priority filter; policy accept;", *rules, "\t}", "}"]
    return text(lines)


def _restore(al: Allowlist, fmt: str, version: int) -> Output:
    chain = f"SMTP-EGRESS-{al.region.upper()}"[:28]
    v4, v6 = split(al.networks)
    nets, other = (v4, v6) if version == 4 else (v6, v4)
    tool = "iptables" if version == 4 else "ip6tables"
    warnings: list[str] = []
    if other:
        warnings.append(
            f"{len(other)} IPv{10 - version} block(s) are not in this file (iptables-restore takes one "
            f"address family): load --format {'ip6tables' if version == 4 else 'iptables'} too"
        )
    if not nets:
        warnings.append(f"no IPv{version} addresses: the chain {chain} is empty")
    usage = [
        f"Load without touching your other rules: {tool}-restore --noflush < <this file>",
        f"It (re)creates the chain {chain}, emptied on every load, with one ACCEPT per block. Jump to it once",
        "from INPUT (kept out of this file so that reloading never duplicates the jump):",
        f"  {tool} -C INPUT -p tcp -m multiport --dports {MULTIPORT} -j {chain} 2>/dev/null ||",
        f"  {tool} -I INPUT -p tcp -m multiport --dports {MULTIPORT} -j {chain}",
    ]
    lines = header(al, fmt, "#", warnings, usage)
    lines += ["*filter", f":{chain} - [0:0]"]
    lines += [f"-A {chain} -s {n} -p tcp -m multiport --dports {MULTIPORT} -j ACCEPT" for n in nets]
    lines.append("COMMIT")
    return text(lines, warnings)


def render_iptables(al: Allowlist) -> Output:
    """``iptables-restore --noflush`` input for the IPv4 blocks."""
    return _restore(al, "iptables", 4)


def render_ip6tables(al: Allowlist) -> Output:
    """``ip6tables-restore --noflush`` input for the IPv6 blocks."""
    return _restore(al, "ip6tables", 6)


def render_ufw(al: Allowlist) -> Output:
    """A POSIX shell script that brings ufw's rules for this list to the list: ``ufw allow`` for every block
    (ufw skips a rule it already has), then ``ufw delete`` for each rule of ours whose block is no longer listed."""
    comment = f"smtp-egress {al.region}"
    listed = [show(n, True) for n in al.networks]
    usage = [
        "Run as root, the first time and after every change (each new file replaces the last):  sh <this file>",
        "It adds every listed block (ufw skips a rule it already has), then deletes the rules commented",
        f"'{comment}' whose block is no longer listed: additions first, so a listed address never loses its",
        "rule. Other rules are left alone. Running it twice changes nothing the second time.",
        "'ufw show added' lists the rules, whether or not ufw is enabled.",
    ]
    body = [f"ufw allow proto tcp from {net} to any port {MULTIPORT} comment {shlex.quote(comment)}" for net in listed]
    body += [
        "# delete our rules for blocks that are no longer listed (a single address: bare, /32 or /128)",
        f"listed=' {' '.join(listed)} '",
        'ufw show added >"$tmp/added"',
        (
            "awk -v tail=\" comment '$comment'\" 'substr($0, length($0) - length(tail) + 1) == tail && "
            '$1 == "ufw" && $2 == "allow" && $3 == "from" { print $4 }\' "$tmp/added" >"$tmp/ours"'
        ),
        "while read -r net; do",
        "  case $listed in",
        '  *" ${net%/32} "* | *" ${net%/128} "*) ;;',
        f'  *) ufw delete allow proto tcp from "$net" to any port {MULTIPORT} ;;',
        "  esac",
        'done <"$tmp/ours"',
    ]
    definitions = [f"comment={shlex.quote(comment)}"]
    return text(shell.script(header(al, "ufw", "#", usage=usage), definitions, body))


def render_postfix_cidr(al: Allowlist) -> Output:
    """A Postfix ``cidr:`` table (cidr_table(5)): ``198.51.100.8/30 OK``. Not postmap'ed: Postfix reads it as is."""
    table = f"cidr:/etc/postfix/smtp-egress-{al.region}.cidr"
    usage = [
        f"Save as /etc/postfix/smtp-egress-{al.region}.cidr (no postmap: Postfix reads cidr tables as they are);",
        "then, on the services the platform connects to (master.cf: submission 587, smtps 465, 2525):",
        f"  -o smtpd_client_restrictions=check_client_access,{table},reject",
        f"and run: postfix reload. Test: postmap -q {al.addresses[0]} {table}   (prints OK)",
        "After every change, replace the file whole (write the new one beside it, then mv it over the old one)",
        "and run postfix reload: the table is read whole when a Postfix process starts, never merged.",
    ]
    return text(header(al, "postfix-cidr", "#", usage=usage) + [f"{show(n, True)} OK" for n in al.networks])
