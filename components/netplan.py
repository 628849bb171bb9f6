"""Pure network planning for :mod:`smtp_egress.components.regional_egress`: validation, subnet maths, NAT assignment.

Nothing here imports Pulumi; the component only turns these results into resources, so every rule
(which CIDR a subnet gets, which gateway sends from which address) is tested without an engine.

NAT assignment, and why it is neither "sort by IP" nor round-robin
-----------------------------------------------------------------
Changing a NAT gateway's primary ``allocation_id`` replaces the gateway (and the replacement cannot
take an address the old gateway still holds); changing ``secondary_allocation_ids`` is an in-place
update. Moving an address between gateways in one update can race (an EIP cannot be associated while
the other gateway still holds it). So the assignment moves as little as possible when addresses change:

* each address belongs on the gateway that ranks it highest by a hash of ``(zone, ip)``
  (rendezvous hashing): while the number of gateways stays the same, adding or detaching an address
  never moves any *other* address;
* a gateway's primary is its OLDEST address in plan order (the order of ``attached``, which is the
  order the plan declares them; new addresses are appended). Appending an address therefore never
  changes a primary, detaching a secondary never does, and detaching a primary replaces only that
  gateway (its next-oldest address takes over).
* only a gateway no address hashes to (it borrows the newest address of the fullest gateway) and a
  gateway over the ``per_gateway`` quota (its newest addresses move to the emptiest gateway) break
  these rules; both are deterministic and rare once a region has a few addresses per zone and the
  quota is raised above AWS's default of 2 (hashing does not balance small sets evenly).

Sorting by IP instead would let any new address with a lower IP displace primaries (replacing
gateways); a round-robin would shift every address after an insertion point to another gateway.
"""

from __future__ import annotations

import dataclasses
import hashlib
import ipaddress
import re
from collections.abc import Mapping, Sequence

from smtp_egress.errors import ConfigError

STATES = ("live", "retiring", "announced", "planned", "retired")
ALLOCATION_ID = re.compile(r"eipalloc-[0-9a-f]{8,17}")
BYOIP_POOL = re.compile(r"ipv4pool-ec2-[0-9a-f]{8,17}")
DEFAULT_ADDRESSES_PER_GATEWAY = 2  # AWS's default quota "Elastic IP addresses per public NAT gateway" (adjustable to 8)
MAX_ADDRESSES_PER_GATEWAY = 8
SUBNET_BITS = 4  # each subnet is 1/16 of the VPC: private subnets take blocks 0-7, public ones 8-15
MAX_ZONES = 8


class ArgsError(ConfigError, ValueError):
    """A component was given arguments it cannot build from; the message names the bad values."""


@dataclasses.dataclass(frozen=True)
class EgressAddress:
    """One planned address of the region, as the stack derives it from egress.addresses.

    ``attach`` is ``should_attach(...)`` for today; ``allocation_id`` adopts an existing EIP;
    ``byoip_pool`` allocates ``ip`` from a BYOIP pool; with neither, a new EIP is allocated.
    """

    ip: str
    state: str
    attach: bool
    allocation_id: str | None = None
    byoip_pool: str | None = None


@dataclasses.dataclass(frozen=True)
class SubnetLayout:
    zone: str
    public_cidr: str
    private_cidr: str


@dataclasses.dataclass(frozen=True)
class NatGatewayPlan:
    zone: str
    primary: str
    secondaries: tuple[str, ...]

    @property
    def addresses(self) -> tuple[str, ...]:
        return (self.primary, *self.secondaries)


@dataclasses.dataclass(frozen=True)
class NatPlan:
    gateways: tuple[NatGatewayPlan, ...]
    routes: Mapping[str, str]  # every zone -> the zone of the gateway its private subnet routes to

    def gateway(self, zone: str) -> NatGatewayPlan:
        return next(g for g in self.gateways if g.zone == zone)


def canonical_key(ip: str) -> tuple[int, int]:
    """IPv4 first, then IPv6, each numerically (the order of every list we publish)."""
    addr = ipaddress.ip_address(ip)
    return addr.version, int(addr)


def subnet_layout(vpc_cidr: str, zones: Sequence[str]) -> tuple[SubnetLayout, ...]:
    """Deterministic subnets: zone i gets private block i and public block 8 + i of the VPC's /(p+4)s.

    A zone's subnets depend only on its position, so zones must only ever be appended.
    """
    blocks = list(ipaddress.ip_network(vpc_cidr).subnets(prefixlen_diff=SUBNET_BITS))
    return tuple(SubnetLayout(z, str(blocks[MAX_ZONES + i]), str(blocks[i])) for i, z in enumerate(zones))


def _score(zone: str, ip: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{zone}|{ip}".encode()).digest()[:8], "big")


def home_zone(ip: str, gateway_zones: Sequence[str]) -> str:
    """The gateway an address belongs on: the zone that ranks it highest (rendezvous hashing)."""
    return max(gateway_zones, key=lambda z: _score(z, ip))


def assign_nat_gateways(
    attached: Sequence[str], zones: Sequence[str], per_gateway: int = DEFAULT_ADDRESSES_PER_GATEWAY
) -> NatPlan:
    """Which attached address goes on which zone's NAT gateway (see the module docstring).

    ``attached`` is in plan order (oldest first); that order, not the addresses' values, picks
    primaries. One gateway per zone when there are at least as many attached addresses as zones,
    otherwise one per address, in the first zones; the private subnet of a zone without a gateway
    routes to the gateway of zone ``i mod n``.
    """
    order = list(attached)
    count = min(len(zones), len(order))
    if count == 0 or capacity_problem(len(order), len(zones), per_gateway):
        raise ArgsError(
            f"cannot place {len(order)} attached addresses on {count} NAT gateways of {per_gateway} addresses each"
        )
    gw_zones = list(zones[:count])
    groups = {z: [ip for ip in order if home_zone(ip, gw_zones) == z] for z in gw_zones}  # each oldest first

    def fullest() -> str:
        return max(gw_zones, key=lambda z: (len(groups[z]), -gw_zones.index(z)))

    def emptiest() -> str:
        return min(gw_zones, key=lambda z: (len(groups[z]), gw_zones.index(z)))

    for z in gw_zones:  # a gateway no address calls home borrows the newest address of the fullest one
        if not groups[z]:
            groups[z].append(groups[fullest()].pop())
    while full := [z for z in gw_zones if len(groups[z]) > per_gateway]:  # over quota: the newest moves
        dst = emptiest()
        groups[dst].append(groups[full[0]].pop())
    gateways = tuple(NatGatewayPlan(z, groups[z][0], tuple(sorted(groups[z][1:], key=canonical_key))) for z in gw_zones)
    return NatPlan(gateways, {z: gw_zones[i % count] for i, z in enumerate(zones)})


def needed_per_gateway(attached: int, zones: int) -> int:
    """The fewest addresses per NAT gateway that hold ``attached`` addresses with one gateway per zone."""
    gateways = min(zones, attached)
    return -(-attached // gateways) if gateways else 0


def capacity_problem(attached: int, zones: int, per_gateway: int) -> str | None:
    """Why ``attached`` addresses do not fit on the NAT gateways of ``zones`` zones holding ``per_gateway``
    addresses each (the account's quota), or None when they fit. The one capacity rule (see
    :func:`assign_nat_gateways`); the message says how many per gateway would be needed."""
    gateways = min(zones, attached)
    needed = needed_per_gateway(attached, zones)
    if needed <= per_gateway:
        return None
    beyond = f", more than AWS allows ({MAX_ADDRESSES_PER_GATEWAY})" if needed > MAX_ADDRESSES_PER_GATEWAY else ""
    return (
        f"{attached} attached addresses do not fit on {gateways} NAT gateways of {per_gateway} addresses "
        f"(they need {needed} per gateway{beyond}; the AWS quota 'Elastic IP addresses per public NAT gateway' "
        f"is {DEFAULT_ADDRESSES_PER_GATEWAY} by default, adjustable up to {MAX_ADDRESSES_PER_GATEWAY})"
    )


def validate_regional(
    region: str,
    vpc_cidr: str,
    zones: Sequence[str],
    addresses: Sequence[EgressAddress],
    reserve: int,
    per_gateway: int,
    tags: Mapping[str, str],
) -> None:
    """Raise ArgsError listing every problem with a RegionalEgress's arguments."""
    problems: list[str] = []
    if not isinstance(region, str) or not re.fullmatch(r"[a-z0-9][a-z0-9-]*", region):
        problems.append(f"region {region!r} must be lower-case letters, digits and '-' (the plan's region name)")
    try:
        net = ipaddress.ip_network(vpc_cidr)
        if net.version != 4 or not 16 <= net.prefixlen <= 24:
            problems.append(f"vpc_cidr {vpc_cidr!r} must be an IPv4 network from /16 to /24, e.g. '10.40.0.0/16'")
    except (TypeError, ValueError) as exc:
        problems.append(f"vpc_cidr {vpc_cidr!r} is not a network ({exc}); write it like '10.40.0.0/16'")
    zones = list(zones)
    if len(zones) < 2:
        problems.append(
            f"availability_zones {zones!r} must name at least 2 zones (a NAT gateway per zone survives a zone outage)"
        )
    if len(zones) > MAX_ZONES:
        problems.append(
            f"availability_zones {zones!r} has more than {MAX_ZONES} zones; the subnet layout holds {MAX_ZONES}"
        )
    if len(set(zones)) != len(zones) or not all(isinstance(z, str) and z for z in zones):
        problems.append(f"availability_zones {zones!r} must be distinct, non-empty names")
    if not isinstance(reserve, int) or isinstance(reserve, bool) or reserve < 0:
        problems.append(f"reserve {reserve!r} must be a whole number >= 0")
    if not isinstance(per_gateway, int) or not 1 <= per_gateway <= MAX_ADDRESSES_PER_GATEWAY:
        problems.append(
            f"addresses_per_gateway {per_gateway!r} must be 1..{MAX_ADDRESSES_PER_GATEWAY} "
            "(the account's NAT gateway EIP quota)"
        )
    bad_tags = sorted(k for k in tags if str(k).startswith("smtp-egress:"))
    if bad_tags:
        problems.append(f"tags {bad_tags!r} use the reserved 'smtp-egress:' prefix; the component sets those")
    problems += _address_problems(addresses)
    attached = [a.ip for a in addresses if a.attach]
    if not attached:
        problems.append(
            f"region {region!r} has no attached address (states: {[a.state for a in addresses]!r}); "
            "a region must always have one sending address: keep one live"
        )
    if zones and isinstance(per_gateway, int) and per_gateway >= 1:
        too_many = capacity_problem(len(attached), len(zones), per_gateway)
        if too_many:
            problems.append(f"{too_many}; raise the quota and addresses_per_gateway, or add zones")
    if problems:
        raise ArgsError(f"RegionalEgress for region {region!r}: " + "; ".join(problems))


def _address_problems(addresses: Sequence[EgressAddress]) -> list[str]:
    problems: list[str] = []
    seen: set[str] = set()
    for a in addresses:
        try:
            addr = ipaddress.ip_address(a.ip)
        except (TypeError, ValueError):
            problems.append(f"address {a.ip!r} is not an IP address")
            continue
        if addr.version != 4:
            problems.append(f"address {a.ip!r} is IPv6; Elastic IPs and NAT gateways are IPv4 only")
        elif str(addr) != a.ip:
            problems.append(f"address {a.ip!r} is not in canonical form (write {str(addr)!r})")
        if a.ip in seen:
            problems.append(f"address {a.ip!r} appears twice; each address is one EIP")
        seen.add(a.ip)
        if a.state not in STATES:
            problems.append(f"address {a.ip!r} has state {a.state!r}; expected one of {list(STATES)!r}")
        if a.allocation_id is not None and a.byoip_pool is not None:
            problems.append(
                f"address {a.ip!r} has both allocation_id {a.allocation_id!r} and byoip_pool {a.byoip_pool!r}; "
                "adopt an existing allocation or allocate from a pool, not both"
            )
        if a.allocation_id is not None and not ALLOCATION_ID.fullmatch(str(a.allocation_id)):
            problems.append(
                f"address {a.ip!r} has allocation_id {a.allocation_id!r}; expected 'eipalloc-' and 8-17 hex digits"
            )
        if a.byoip_pool is not None and not BYOIP_POOL.fullmatch(str(a.byoip_pool)):
            problems.append(
                f"address {a.ip!r} has byoip_pool {a.byoip_pool!r}; expected 'ipv4pool-ec2-' and hex digits"
            )
    return problems


class AddressMismatch(ArgsError):
    """An EIP's public address is not the planned one: attaching it would send from an unpublished address."""


def verified_allocation(planned_ip: str, public_ip: str | None, allocation_id: str) -> str:
    """The allocation ID to put on a NAT gateway, only if the EIP really holds the planned address."""
    if public_ip != planned_ip:
        raise AddressMismatch(
            f"the EIP {allocation_id!r} planned as {planned_ip!r} holds {public_ip!r}; it is not attached, because "
            "mail would leave from an address customers were never given. Adopt the EIP that holds "
            f"{planned_ip!r} (allocation_id) or allocate it from its BYOIP pool (byoip_pool)"
        )
    return allocation_id


def eip_key(ip: str) -> str:
    """The stable part of an EIP's resource name: '198.51.100.10' -> '198-51-100-10'."""
    return ip.replace(".", "-").replace(":", "-")
