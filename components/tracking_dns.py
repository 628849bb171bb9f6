"""TrackingDns: one region's records for branded link tracking and the published egress list.

* ``track.<region>.<domain>``: CNAME to ``tracking_target``, the hostname that serves tracked links
  (e.g. a load balancer's DNS name). Customers point their own CNAME (``links.customer.com``) here.
* ``mx.<region>.<domain>``: A and/or AAAA records with the inbound MX host's addresses. Customers'
  MX records name this host, and an MX target must be a host with address records, never an alias
  or a CNAME (RFC 2181 10.3), so it is never either.
* ``_egress.<region>.<domain>``: TXT ``v=egress1 ip4:... ip6:...``, the region's LIVE egress list in
  canonical order (IPv4 then IPv6, numerically), split into 255-character strings when long
  (:func:`smtp_egress.txtrecords.txt_strings`, the one splitting rule, also used by the SPF allowlist).

The records use their own names: a CNAME cannot share a name with any other record (RFC 1034 3.6.2).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from collections.abc import Sequence

import pulumi

from smtp_egress.plan import parse_address, sort_addresses
from smtp_egress.txtrecords import txt_strings

from . import aws
from .netplan import ArgsError

LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")


@dataclasses.dataclass(frozen=True)
class TrackingDnsArgs:
    zone_id: pulumi.Input[str]
    domain: str
    region: str
    tracking_target: str  # a hostname (CNAME target), never an IP address
    mx_addresses: Sequence[str]
    live_addresses: Sequence[str]
    ttl: int = 300


def is_hostname(name: str) -> bool:
    """Lower-case LDH labels, at least two, no trailing dot, at most 253 characters."""
    if not isinstance(name, str) or len(name) > 253:
        return False
    labels = name.split(".")
    return len(labels) >= 2 and all(LABEL.fullmatch(label) for label in labels) and not labels[-1].isdigit()


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return False


def validate(args: TrackingDnsArgs) -> None:
    problems = []
    if not is_hostname(args.domain):
        problems.append(
            f"domain {args.domain!r} is not a lower-case host name like 'egress.example.com' (no trailing dot)"
        )
    if not isinstance(args.region, str) or not LABEL.fullmatch(args.region):
        problems.append(f"region {args.region!r} must be one lower-case DNS label like 'us'")
    if _is_ip(str(args.tracking_target)):
        problems.append(
            f"tracking_target {args.tracking_target!r} is an IP address; give the host name it serves "
            "(a CNAME target), e.g. the load balancer's DNS name"
        )
    elif not is_hostname(str(args.tracking_target).rstrip(".")):
        problems.append(f"tracking_target {args.tracking_target!r} is not a host name")
    for field in ("mx_addresses", "live_addresses"):
        values = list(getattr(args, field))
        if not values:
            problems.append(
                f"{field} is empty; "
                + (
                    "the MX host needs at least one address"
                    if field == "mx_addresses"
                    else "a region always has at least one live address"
                )
            )
        for text in values:
            try:
                parse_address(text)
            except ValueError as exc:
                problems.append(f"{field} entry {text!r} {exc}")
        if len(set(values)) != len(values):
            problems.append(f"{field} {values!r} lists an address twice")
    if isinstance(args.ttl, bool) or not isinstance(args.ttl, int) or not 1 <= args.ttl <= 86400:
        problems.append(f"ttl {args.ttl!r} must be whole seconds from 1 to 86400")
    if problems:
        raise ArgsError(f"TrackingDns for region {args.region!r}: " + "; ".join(problems))


def txt_value(live_addresses: Sequence[str]) -> str:
    """``v=egress1 ip4:... ip6:...`` in canonical order."""
    ips = sort_addresses(ipaddress.ip_address(a) for a in live_addresses)
    return " ".join(["v=egress1", *(f"ip{ip.version}:{ip}" for ip in ips)])


def txt_record(value: str) -> str:
    """The one Route 53 ``records`` entry for ``value``: long values as several strings joined by ``""``."""
    return '""'.join(txt_strings(value))


def mx_records(mx_addresses: Sequence[str]) -> dict[str, list[str]]:
    """{"A": [...], "AAAA": [...]}, each sorted, only the types that have addresses."""
    out: dict[str, list[str]] = {}
    for ip in sort_addresses(ipaddress.ip_address(a) for a in mx_addresses):
        out.setdefault("A" if ip.version == 4 else "AAAA", []).append(str(ip))
    return out


class TrackingDns(pulumi.ComponentResource):
    tracking_host: str
    mx_host: str
    txt_name: str
    txt_value: str

    def __init__(self, name: str, args: TrackingDnsArgs, opts: pulumi.ResourceOptions | None = None):
        validate(args)
        super().__init__("smtp-egress:dns:TrackingDns", name, None, opts)
        base = f"{args.region}.{args.domain}"
        self.tracking_host = f"track.{base}"
        self.mx_host = f"mx.{base}"
        self.txt_name = f"_egress.{base}"
        self.txt_value = txt_value(args.live_addresses)
        child = pulumi.ResourceOptions(parent=self)
        aws.route53.Record(
            f"{name}-track",
            zone_id=args.zone_id,
            name=self.tracking_host,
            type="CNAME",
            ttl=args.ttl,
            records=[args.tracking_target.rstrip(".")],
            opts=child,
        )
        for rtype, values in mx_records(args.mx_addresses).items():
            aws.route53.Record(
                f"{name}-mx-{rtype.lower()}",
                zone_id=args.zone_id,
                name=self.mx_host,
                type=rtype,
                ttl=args.ttl,
                records=values,
                opts=child,
            )
        aws.route53.Record(
            f"{name}-egress-txt",
            zone_id=args.zone_id,
            name=self.txt_name,
            type="TXT",
            ttl=args.ttl,
            records=[txt_record(self.txt_value)],
            opts=child,
        )
        self.register_outputs(
            {
                "tracking_host": self.tracking_host,
                "mx_host": self.mx_host,
                "txt_name": self.txt_name,
                "txt_value": self.txt_value,
            }
        )
