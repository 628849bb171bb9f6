"""What an allowlist holds on a day, aggregated into CIDR blocks, and where it came from.

The content is the published document's (:func:`smtp_egress.document.render`), so an allowlist never
disagrees with what ``/v1/info/ip_addresses`` serves at the same moment:

* the **live** addresses: the document's ``ip_addresses`` (an announced retirement stays live, and
  listed, until its effective day);
* plus, unless ``live_only``, the **announced upcoming additions** (the document's ``upcoming`` entries
  with action ``add``): customers must allow an address before it starts sending.

An allowlist made from a simulation ledger (tests, demos) says so in its provenance (a first line, a
``simulated`` key) and in every block's status. Planned changes that were not announced never appear
(the ledger's announcements decide). Addresses are
aggregated into the smallest exact set of CIDR blocks (:func:`ipaddress.collapse_addresses`: no block
holds an address the list does not have), IPv4 first, then IPv6.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import ipaddress
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import NotRequired, TypedDict

from ..dates import parse_rfc3339, rfc3339
from ..document import render
from ..errors import PublishedUnusable
from ..plan import IPAddress, Plan, sort_addresses
from ..timeline import Announcement

# The customer's SMTP server receives on these TCP ports; every firewall format allows exactly these.
SMTP_PORTS = (465, 587, 2525)  # our workers never send on 25 (clouds block it): 465 implicit TLS, 587/2525 STARTTLS
TOOL = "smtp-egress"
SIMULATED = "SIMULATED: made from a simulation ledger (a test or demo), not a real list; do not use it on a server"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class UpcomingAddition(TypedDict):
    ip: str
    effective: str
    announced_at: str


class AnnouncedRetirement(TypedDict):
    ip: str
    effective: str


class Provenance(TypedDict):
    """Where an allowlist came from and what it holds: the JSON formats' ``_provenance`` object."""

    tool: str
    region: str
    format: str
    generated_at: str
    as_of: str
    plan: str
    plan_sha256: str
    published_sync_token: str
    published_sha256: str
    notice_days: int
    content: str
    live: list[str]
    upcoming_additions: list[UpcomingAddition]
    announced_retirements: list[AnnouncedRetirement]
    aggregated: bool
    addresses: int
    blocks: int
    warnings: list[str]
    usage: NotRequired[str]  # how to use the file, in the JSON formats
    simulated: NotRequired[bool]  # present (true) only when made from a simulation ledger


@dataclasses.dataclass(frozen=True)
class Addition:
    """An announced addition that is not in effect yet: allow it before ``effective``."""

    ip: str
    effective: dt.date
    announced_at: dt.datetime


@dataclasses.dataclass(frozen=True)
class Retirement:
    """An announced retirement: the address stays live (and listed) until ``effective``."""

    ip: str
    effective: dt.date


@dataclasses.dataclass(frozen=True)
class Allowlist:
    region: str
    moment: dt.datetime  # the content as it stands at this instant (--at: midnight UTC)
    generated_at: dt.datetime  # when the file was made: the one line that differs between reruns
    plan_name: str
    plan_sha256: str
    notice_days: int
    sync_token: str  # the published document's, so customers can match the endpoint
    published_sha256: str  # the published document's sha256 (of its live list)
    live: tuple[str, ...]
    additions: tuple[Addition, ...]
    retirements: tuple[Retirement, ...]
    live_only: bool
    aggregate: bool
    simulated: bool = False  # made from a simulation ledger (tests, demos)

    @property
    def addresses(self) -> list[IPAddress]:
        """Every address included, IPv4 then IPv6, numerically."""
        extra = () if self.live_only else tuple(a.ip for a in self.additions)
        return sort_addresses(ipaddress.ip_address(ip) for ip in (*self.live, *extra))

    @property
    def networks(self) -> list[Network]:
        """The included addresses as CIDR blocks: collapsed when ``aggregate``, else one /32 or /128 each."""
        return to_networks(self.addresses, self.aggregate)

    def note_for(self, net: Network) -> str:
        """A block's status in words: live, or the upcoming additions it holds and when they start."""
        starts = [a for a in self.additions if not self.live_only and ipaddress.ip_address(a.ip) in net]
        note = "; ".join(f"{a.ip} starts {a.effective.isoformat()}" for a in starts) if starts else "live"
        return f"simulated: {note}" if self.simulated else note

    def provenance(self, fmt: str, warnings: Sequence[str] = ()) -> Provenance:
        """Where this allowlist came from and what it holds (the JSON ``_provenance`` object)."""
        nets = self.networks
        p: Provenance = {
            "tool": TOOL,
            "region": self.region,
            "format": fmt,
            "generated_at": rfc3339(self.generated_at),
            "as_of": self.moment.date().isoformat(),  # the UTC day; sync_token pins the announcements known
            "plan": self.plan_name,
            "plan_sha256": self.plan_sha256,
            "published_sync_token": self.sync_token,
            "published_sha256": self.published_sha256,
            "notice_days": self.notice_days,
            "content": "live addresses only" if self.live_only else "live addresses and announced upcoming additions",
            "live": list(self.live),
            "upcoming_additions": []
            if self.live_only
            else [
                {"ip": a.ip, "effective": a.effective.isoformat(), "announced_at": rfc3339(a.announced_at)}
                for a in self.additions
            ],
            "announced_retirements": [{"ip": r.ip, "effective": r.effective.isoformat()} for r in self.retirements],
            "aggregated": self.aggregate,
            "addresses": len(self.addresses),
            "blocks": len(nets),
            "warnings": list(warnings),
        }
        if self.simulated:
            p["simulated"] = True
        return p

    def provenance_lines(self, fmt: str, warnings: Sequence[str] = ()) -> list[str]:
        """The provenance as text lines (without comment markers), for formats that have comments."""
        p = self.provenance(fmt, warnings)
        lines = [
            *([SIMULATED] if self.simulated else []),
            f"{TOOL} allowlist: region {self.region}, format {fmt}",
            f"generated_at: {p['generated_at']}",
            (
                f"as_of: {p['as_of']} (UTC day); published list sync_token {self.sync_token}, "
                f"sha256 {self.published_sha256}"
            ),
            f"plan: {self.plan_name} sha256 {self.plan_sha256}",
            f"content: {p['content']}; planned changes not yet announced are never included",
            f"live: {len(self.live)} address{'es' if len(self.live) != 1 else ''} in the published list",
        ]
        if not self.live_only:
            lines.append(f"upcoming additions: {len(self.additions)} (allow each before it starts sending)")
            lines += [
                f"  + {a.ip} starts sending {a.effective.isoformat()} (announced {rfc3339(a.announced_at)})"
                for a in self.additions
            ]
        elif self.additions:
            lines.append(f"upcoming additions NOT included (--live-only): {', '.join(a.ip for a in self.additions)}")
        lines += [
            f"  - {r.ip} stays live until {r.effective.isoformat()} (announced retirement): remove it from then on"
            for r in self.retirements
        ]
        if self.aggregate:
            lines.append(
                f"aggregated: {p['addresses']} addresses in {p['blocks']} exact CIDR blocks "
                "(no address outside the list)"
            )
        else:
            lines.append(f"not aggregated: {p['addresses']} single addresses")
        lines += [f"warning: {w}" for w in warnings]
        return lines


def to_networks(addresses: Iterable[IPAddress], aggregate: bool) -> list[Network]:
    """Addresses as networks: collapsed into exact CIDR blocks per IP version, or one host block each."""
    hosts = [ipaddress.ip_network(ip) for ip in addresses]
    if not aggregate:
        return sorted(set(hosts), key=_net_key)
    v4 = [n for n in hosts if isinstance(n, ipaddress.IPv4Network)]
    v6 = [n for n in hosts if isinstance(n, ipaddress.IPv6Network)]
    out: list[Network] = [*ipaddress.collapse_addresses(v4), *ipaddress.collapse_addresses(v6)]
    return sorted(out, key=_net_key)


def _net_key(net: Network) -> tuple[int, int, int]:
    return (net.version, int(net.network_address), net.prefixlen)


def show(net: Network, bare_hosts: bool) -> str:
    """``198.51.100.8/30``; a single address as ``198.51.100.9`` when ``bare_hosts``, else ``/32``/``/128``."""
    if bare_hosts and net.num_addresses == 1:
        return str(net.network_address)
    return str(net)


def build(
    plan: Plan,
    region: str,
    anns: dict[str, Announcement],
    moment: dt.datetime,
    generated_at: dt.datetime,
    *,
    live_only: bool = False,
    aggregate: bool = True,
    simulated: bool = False,
) -> Allowlist:
    """The region's allowlist as it stands at ``moment``; PublishedUnusable if it would be empty.
    ``simulated``: the announcements come from a simulation ledger, and the allowlist says so."""
    plan.region(region)  # ConfigError naming an unknown region and the known ones
    doc = render(plan, region, anns, moment, simulated=simulated).document
    additions: list[Addition] = []
    retirements: list[Retirement] = []
    for u in doc["upcoming"]:
        effective = dt.date.fromisoformat(u["effective"])
        if u["action"] == "add":
            additions.append(Addition(u["ip"], effective, parse_rfc3339(u["announced_at"])))
        else:
            retirements.append(Retirement(u["ip"], effective))
    allowlist = Allowlist(
        region=region,
        moment=moment,
        generated_at=generated_at,
        plan_name=Path(plan.path).name,
        plan_sha256=plan.sha256,
        notice_days=plan.notice_days,
        sync_token=doc["sync_token"],
        published_sha256=doc["sha256"],
        live=tuple(doc["ip_addresses"]),
        additions=tuple(additions),
        retirements=tuple(retirements),
        live_only=live_only,
        aggregate=aggregate,
        simulated=simulated,
    )
    if not allowlist.addresses:
        what = "live address" if live_only else "live address or announced addition"
        raise PublishedUnusable(
            f"region {region!r} has no {what} at {rfc3339(moment)}; an empty allowlist would block every "
            "connection (or wipe a synced list), so nothing was written: announce an addition first"
            + (", or drop --live-only" if live_only and additions else "")
        )
    return allowlist
