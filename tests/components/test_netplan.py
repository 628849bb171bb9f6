"""Pure network planning: validation, subnet maths, NAT assignment (no Pulumi engine)."""

from __future__ import annotations

import ipaddress
import itertools
import random

import pytest

from smtp_egress.components.netplan import (
    AddressMismatch,
    ArgsError,
    EgressAddress,
    NatGatewayPlan,
    assign_nat_gateways,
    canonical_key,
    capacity_problem,
    eip_key,
    home_zone,
    needed_per_gateway,
    subnet_layout,
    validate_regional,
    verified_allocation,
)
from smtp_egress.errors import ConfigError

ZONES = ["us-east-1a", "us-east-1b"]
ZONES3 = ["us-east-1a", "us-east-1b", "us-east-1c"]


def ips(n: int, start: int = 10) -> list[str]:
    return [f"198.51.100.{start + i}" for i in range(n)]


def valid(**over):
    kw = dict(
        region="us",
        vpc_cidr="10.40.0.0/16",
        zones=ZONES,
        addresses=[EgressAddress("198.51.100.10", "live", True)],
        reserve=0,
        per_gateway=2,
        tags={},
    )
    kw.update(over)
    return kw


def test_valid_arguments_pass():
    validate_regional(**valid())


@pytest.mark.parametrize(
    "over, fragment",
    [
        (dict(zones=["us-east-1a"]), "['us-east-1a'] must name at least 2 zones"),
        (dict(zones=["a", "a"]), "must be distinct"),
        (dict(vpc_cidr="10.40.0.1/16"), "vpc_cidr '10.40.0.1/16' is not a network"),
        (dict(vpc_cidr="banana"), "vpc_cidr 'banana'"),
        (dict(vpc_cidr="10.0.0.0/8"), "'10.0.0.0/8' must be an IPv4 network from /16 to /24"),
        (dict(vpc_cidr="fd00::/48"), "'fd00::/48' must be an IPv4 network"),
        (dict(addresses=[EgressAddress("198.51.100.10", "live", True)] * 2), "'198.51.100.10' appears twice"),
        (dict(addresses=[EgressAddress("198.51.100.10", "announced", False)]), "has no attached address"),
        (dict(addresses=[]), "has no attached address"),
        (dict(reserve=-1), "reserve -1 must be"),
        (dict(reserve=True), "reserve True must be"),
        (
            dict(
                addresses=[
                    EgressAddress(
                        "198.51.100.10",
                        "live",
                        True,
                        allocation_id="eipalloc-0123456789abcdef0",
                        byoip_pool="ipv4pool-ec2-0123456789abcdef0",
                    )
                ]
            ),
            "both allocation_id",
        ),
        (
            dict(addresses=[EgressAddress("198.51.100.10", "live", True, allocation_id="eip-123")]),
            "allocation_id 'eip-123'; expected 'eipalloc-'",
        ),
        (
            dict(addresses=[EgressAddress("198.51.100.10", "live", True, allocation_id="eipalloc-XYZ12345")]),
            "allocation_id 'eipalloc-XYZ12345'",
        ),
        (dict(addresses=[EgressAddress("198.51.100.10", "live", True, byoip_pool="pool-1")]), "byoip_pool 'pool-1'"),
        (dict(addresses=[EgressAddress("2001:db8::10", "live", True)]), "'2001:db8::10' is IPv6"),
        (dict(addresses=[EgressAddress("198.51.100.010", "live", True)]), "'198.51.100.010' is not an IP address"),
        (dict(addresses=[EgressAddress("198.51.100.10", "sending", True)]), "state 'sending'"),
        (dict(addresses=[EgressAddress(ip, "live", True) for ip in ips(5)]), "5 attached addresses do not fit on 2"),
        (dict(per_gateway=9), "addresses_per_gateway 9"),
        (dict(tags={"smtp-egress:state": "x"}), "reserved 'smtp-egress:' prefix"),
        (dict(region="US East"), "region 'US East'"),
    ],
)
def test_each_bad_argument_is_named(over, fragment):
    with pytest.raises(ArgsError) as info:
        validate_regional(**valid(**over))
    assert fragment in str(info.value)
    assert isinstance(info.value, ValueError) and isinstance(info.value, ConfigError)


@pytest.mark.parametrize(
    "attached, zones, per_gateway, needed, fits",
    [(12, 2, 6, 6, True), (12, 2, 5, 6, False), (13, 2, 6, 7, False), (4, 2, 2, 2, True), (1, 3, 1, 1, True)],
)
def test_one_capacity_rule_for_validation_assignment_and_the_stack(attached, zones, per_gateway, needed, fits):
    assert needed_per_gateway(attached, zones) == needed
    assert (capacity_problem(attached, zones, per_gateway) is None) == fits
    addresses = ips(attached)
    if fits:
        plan = assign_nat_gateways(addresses, [f"z{i}" for i in range(zones)], per_gateway)
        assert max(len(g.addresses) for g in plan.gateways) <= per_gateway
    else:
        with pytest.raises(ArgsError):
            assign_nat_gateways(addresses, [f"z{i}" for i in range(zones)], per_gateway)
        assert f"they need {needed} per gateway" in capacity_problem(attached, zones, per_gateway)


def test_all_problems_are_reported_at_once():
    with pytest.raises(ArgsError) as info:
        validate_regional(**valid(zones=["a"], reserve=-2, vpc_cidr="x"))
    message = str(info.value)
    assert "zones" in message and "reserve -2" in message and "vpc_cidr 'x'" in message


def test_subnet_layout_is_deterministic_and_disjoint():
    layout = subnet_layout("10.40.0.0/16", ZONES3)
    assert [(s.zone, s.private_cidr, s.public_cidr) for s in layout] == [
        ("us-east-1a", "10.40.0.0/20", "10.40.128.0/20"),
        ("us-east-1b", "10.40.16.0/20", "10.40.144.0/20"),
        ("us-east-1c", "10.40.32.0/20", "10.40.160.0/20"),
    ]
    nets = [ipaddress.ip_network(c) for s in layout for c in (s.private_cidr, s.public_cidr)]
    assert all(not a.overlaps(b) for a, b in itertools.combinations(nets, 2))
    assert all(n.subnet_of(ipaddress.ip_network("10.40.0.0/16")) for n in nets)
    # appending a zone never moves the others
    assert subnet_layout("10.40.0.0/16", [*ZONES3, "us-east-1d"])[:3] == layout


def test_subnet_layout_for_the_smallest_vpc():
    assert subnet_layout("192.168.7.0/24", ZONES)[1].public_cidr == "192.168.7.144/28"


def check_invariants(plan, attached, zones, per_gateway):
    placed = [ip for g in plan.gateways for ip in g.addresses]
    assert sorted(placed) == sorted(attached), "every attached address on exactly one gateway"
    assert len(plan.gateways) == min(len(zones), len(attached))
    for g in plan.gateways:
        assert 1 <= len(g.addresses) <= per_gateway
        assert list(g.secondaries) == sorted(g.secondaries, key=canonical_key)
    assert set(plan.routes) == set(zones)
    gw_zones = {g.zone for g in plan.gateways}
    assert set(plan.routes.values()) <= gw_zones
    assert all(plan.routes[z] == z for z in gw_zones), "a zone with a gateway routes to its own"


# Addresses in a plan order that is not their numeric order: the primary follows the plan, not the value.
POOL = [f"198.51.100.{n}" for n in (57, 12, 200, 33, 9, 141, 76, 18, 230, 101, 64, 5, 190, 44, 120, 88, 27, 160)]


def where(plan) -> dict[str, str]:
    return {ip: g.zone for g in plan.gateways for ip in g.addresses}


def homed(attached, zones, per_gateway=8) -> bool:
    """No borrowing and no quota move: every gateway zone is home to 1..per_gateway addresses."""
    gw = zones[: min(len(zones), len(attached))]
    homes = [home_zone(ip, gw) for ip in attached]
    return set(homes) == set(gw) and all(homes.count(z) <= per_gateway for z in gw)


@pytest.mark.parametrize("count", range(1, 17))
@pytest.mark.parametrize("zones", [ZONES, ZONES3])
def test_assignment_invariants(count, zones):
    attached = POOL[:count]
    check_invariants(assign_nat_gateways(attached, zones, 8), attached, zones, 8)


def test_primary_is_the_oldest_address_that_belongs_on_the_gateway():
    plan = assign_nat_gateways(POOL[:9], ZONES3, 8)
    assert homed(POOL[:9], ZONES3)
    for g in plan.gateways:
        home = [ip for ip in POOL[:9] if home_zone(ip, ZONES3) == g.zone]
        assert g.primary == home[0] and set(g.secondaries) == set(home[1:])


def test_fewer_addresses_than_zones_use_fewer_gateways_and_route_across_zones():
    plan = assign_nat_gateways(["198.51.100.20"], ZONES3, 2)
    assert plan.gateways == (NatGatewayPlan("us-east-1a", "198.51.100.20", ()),)
    assert dict(plan.routes) == {"us-east-1a": "us-east-1a", "us-east-1b": "us-east-1a", "us-east-1c": "us-east-1a"}
    plan = assign_nat_gateways(POOL[:2], ZONES3, 2)
    assert [g.zone for g in plan.gateways] == ["us-east-1a", "us-east-1b"]
    assert plan.routes["us-east-1c"] == "us-east-1a"


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("zones", [ZONES, ZONES3])
def test_appending_an_address_changes_no_primary_and_moves_nothing(zones, seed):
    pool = [f"203.0.113.{n}" for n in random.Random(seed).sample(range(1, 255), 30)]
    checked = 0
    for size in range(len(zones), len(zones) * 8):
        before_ips, after_ips = pool[:size], pool[: size + 1]
        if not (homed(before_ips, zones) and homed(after_ips, zones)):
            continue
        before, after = assign_nat_gateways(before_ips, zones, 8), assign_nat_gateways(after_ips, zones, 8)
        assert [g.primary for g in after.gateways] == [g.primary for g in before.gateways]
        assert {ip: z for ip, z in where(after).items() if ip in before_ips} == where(before)
        checked += 1
    assert checked >= 3


def test_detaching_a_secondary_changes_only_that_gateways_secondaries():
    attached = POOL[:10]
    before = assign_nat_gateways(attached, ZONES3, 8)
    for g in before.gateways:
        for secondary in g.secondaries:
            rest = [ip for ip in attached if ip != secondary]
            after = assign_nat_gateways(rest, ZONES3, 8)
            assert [x.primary for x in after.gateways] == [x.primary for x in before.gateways]
            assert where(after) == {ip: z for ip, z in where(before).items() if ip != secondary}


def test_detaching_a_primary_replaces_only_that_gateway():
    attached = POOL[:10]
    before = assign_nat_gateways(attached, ZONES3, 8)
    g = next(x for x in before.gateways if x.secondaries)
    after = assign_nat_gateways([ip for ip in attached if ip != g.primary], ZONES3, 8)
    oldest_left = next(ip for ip in attached if ip in g.secondaries)
    assert after.gateway(g.zone).primary == oldest_left
    assert [x for x in after.gateways if x.zone != g.zone] == [x for x in before.gateways if x.zone != g.zone]


def test_a_gateway_no_address_hashes_to_borrows_the_newest_of_the_fullest():
    gw = ZONES
    a_home = [ip for ip in POOL if home_zone(ip, gw) == gw[0]][:3]
    plan = assign_nat_gateways(a_home, gw, 8)
    assert plan.gateway(gw[0]) == NatGatewayPlan(gw[0], a_home[0], tuple(sorted(a_home[1:2], key=canonical_key)))
    assert plan.gateway(gw[1]) == NatGatewayPlan(gw[1], a_home[2], ())


def test_quota_is_respected_by_moving_the_newest_address():
    a_home = [ip for ip in POOL if home_zone(ip, ZONES) == ZONES[0]]
    b_home = [ip for ip in POOL if home_zone(ip, ZONES) == ZONES[1]]
    attached = a_home[:3] + b_home[:1]
    plan = assign_nat_gateways(attached, ZONES, 2)
    assert plan.gateway(ZONES[0]).addresses == (a_home[0], a_home[1])
    assert plan.gateway(ZONES[1]).primary == b_home[0]
    assert plan.gateway(ZONES[1]).secondaries == (a_home[2],)
    with pytest.raises(ArgsError, match="cannot place 5 attached addresses on 2 NAT gateways of 2"):
        assign_nat_gateways(POOL[:5], ZONES, 2)


def test_verified_allocation_refuses_an_eip_holding_another_address():
    assert (
        verified_allocation("198.51.100.10", "198.51.100.10", "eipalloc-0123456789abcdef0")
        == "eipalloc-0123456789abcdef0"
    )
    with pytest.raises(AddressMismatch, match=r"'198.51.100.10' holds '203.0.113.99'"):
        verified_allocation("198.51.100.10", "203.0.113.99", "eipalloc-0123456789abcdef0")


def test_eip_key():
    assert eip_key("198.51.100.10") == "198-51-100-10"
