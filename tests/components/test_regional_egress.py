"""RegionalEgress against the recording mock engine: the exact child contract."""

from __future__ import annotations

import asyncio
import gc

import pulumi
import pytest

from smtp_egress.components.netplan import AddressMismatch, assign_nat_gateways
from smtp_egress.components.regional_egress import ArgsError, EgressAddress, RegionalEgress, RegionalEgressArgs
from smtp_egress.synth.mocks import SynthMocks

COMPONENT = "smtp-egress:network:RegionalEgress"
EIP, NAT = "aws:ec2/eip:Eip", "aws:ec2/natGateway:NatGateway"
ZONES = ("us-east-1a", "us-east-1b")
ADOPTED = "eipalloc-0a1b2c3d4e5f60718"
POOL = "ipv4pool-ec2-0123456789abcdef0"

# Plan order (oldest first): one adopted live address, one new live address, one announced addition.
BASE = (
    EgressAddress("198.51.100.10", "live", True, allocation_id=ADOPTED),
    EgressAddress("198.51.100.11", "live", True),
    EgressAddress("198.51.100.12", "announced", False),
)


def build(pulumi_mocks, args: RegionalEgressArgs, name: str = "us"):
    """Run the component; return (recorder, import IDs by resource name, resolved outputs)."""
    rec = pulumi_mocks()
    resolved: dict = {}

    @pulumi.runtime.test
    def run():
        comp = RegionalEgress(name, args)
        outs = {
            "vpc_id": comp.vpc_id,
            "public": comp.public_subnet_ids,
            "private": comp.private_subnet_ids,
            "rts": comp.private_route_table_ids,
            "nats": comp.nat_gateway_ids,
            "allocs": comp.eip_allocation_ids,
            "reserve": comp.reserve_allocation_ids,
            "reserve_ips": comp.reserve_public_ips,
        }
        resolved.update(attached=comp.attached_ips, states=comp.address_states, vpc_cidr=comp.vpc_cidr)
        return pulumi.Output.all(**outs).apply(resolved.update)

    run()
    assert "allocs" in resolved, "the outputs never resolved: asserts would not have run"
    return rec, {r.name: r.import_id for r in rec.resources if r.import_id}, resolved


def args(addresses=BASE, **over) -> RegionalEgressArgs:
    kw = dict(
        region="us",
        vpc_cidr="10.40.0.0/16",
        availability_zones=ZONES,
        addresses=addresses,
        reserve=1,
        tags={"team": "delivery"},
    )
    kw.update(over)
    return RegionalEgressArgs(**kw)


def test_children_and_their_parents(pulumi_mocks):
    rec, _, _ = build(pulumi_mocks, args())
    resources = rec.sorted()
    comp = [r for r in resources if r.type == COMPONENT]
    assert [c.name for c in comp] == ["us"]
    children = [r for r in resources if r.type != COMPONENT]
    assert all(r.parent == comp[0].urn for r in children), "every child parented to the component"
    assert sorted((r.type, r.name) for r in children) == sorted(
        [
            ("aws:ec2/vpc:Vpc", "us-vpc"),
            ("aws:ec2/internetGateway:InternetGateway", "us-igw"),
            ("aws:ec2/routeTable:RouteTable", "us-public-rt"),
            ("aws:ec2/route:Route", "us-public-default"),
            *[("aws:ec2/subnet:Subnet", f"us-{tier}-{z}") for z in ZONES for tier in ("public", "private")],
            *[
                ("aws:ec2/routeTableAssociation:RouteTableAssociation", f"us-{tier}-rta-{z}")
                for z in ZONES
                for tier in ("public", "private")
            ],
            *[("aws:ec2/routeTable:RouteTable", f"us-private-rt-{z}") for z in ZONES],
            *[("aws:ec2/route:Route", f"us-private-default-{z}") for z in ZONES],
            *[(NAT, f"us-nat-{z}") for z in ZONES],
            (EIP, "us-eip-198-51-100-10"),
            (EIP, "us-eip-198-51-100-11"),
            (EIP, "us-eip-198-51-100-12"),
            (EIP, "us-reserve-0"),
        ]
    )


def test_every_eip_is_protected_and_retained_and_only_eips_are_protected(pulumi_mocks):
    rec, _, _ = build(pulumi_mocks, args())
    eips = rec.by_type(EIP)
    assert len(eips) == 4
    assert all(e.protect and e.retain_on_delete for e in eips)
    assert not any(r.protect for r in rec.resources if r.type != EIP)


def test_create_versus_adopt_versus_byoip(pulumi_mocks):
    addresses = (*BASE, EgressAddress("198.51.100.13", "live", True, byoip_pool=POOL))
    rec, imports, resolved = build(pulumi_mocks, args(addresses))
    assert imports == {"us-eip-198-51-100-10": ADOPTED}, "only the adopted EIP is imported"
    assert resolved["allocs"]["198.51.100.10"] == ADOPTED  # an imported EIP keeps its allocation ID, as in AWS
    created = [a for ip, a in resolved["allocs"].items() if ip != "198.51.100.10"]
    assert all(a.startswith("eipalloc-") and a != ADOPTED for a in created)
    eips = {e.name: e.inputs for e in rec.by_type(EIP)}
    assert eips["us-eip-198-51-100-13"]["publicIpv4Pool"] == POOL
    assert eips["us-eip-198-51-100-13"]["address"] == "198.51.100.13"
    for plain in ("us-eip-198-51-100-10", "us-eip-198-51-100-11", "us-eip-198-51-100-12", "us-reserve-0"):
        assert eips[plain]["domain"] == "vpc"
        assert "publicIpv4Pool" not in eips[plain] and "address" not in eips[plain]


def test_eip_tags(pulumi_mocks):
    rec, _, _ = build(pulumi_mocks, args())
    tags = {e.name: e.inputs["tags"] for e in rec.by_type(EIP)}
    assert tags["us-eip-198-51-100-12"] == {
        "team": "delivery",
        "smtp-egress:address": "198.51.100.12",
        "smtp-egress:state": "announced",
        "smtp-egress:region": "us",
    }
    assert tags["us-reserve-0"] == {"team": "delivery", "smtp-egress:state": "reserve", "smtp-egress:region": "us"}


def nat_contract(rec, allocs):
    return {
        n.name: (
            n.inputs["allocationId"],
            sorted(n.inputs.get("secondaryAllocationIds") or []),
            rec.name_of(n.inputs["subnetId"]),
        )
        for n in rec.by_type(NAT)
    }


def expected_nats(name, attached, zones, per_gateway, allocs):
    plan = assign_nat_gateways(attached, zones, per_gateway)
    return {
        f"{name}-nat-{g.zone}": (allocs[g.primary], sorted(allocs[s] for s in g.secondaries), f"{name}-public-{g.zone}")
        for g in plan.gateways
    }


def test_nat_gateways_carry_exactly_the_assigned_addresses(pulumi_mocks):
    rec, _, resolved = build(pulumi_mocks, args())
    allocs = resolved["allocs"]
    assert nat_contract(rec, allocs) == expected_nats("us", ["198.51.100.10", "198.51.100.11"], ZONES, 2, allocs)
    used = {a for primary, secondaries, _ in nat_contract(rec, allocs).values() for a in (primary, *secondaries)}
    assert used == {allocs["198.51.100.10"], allocs["198.51.100.11"]}
    assert allocs["198.51.100.12"] not in used, "the announced address is on no gateway"
    assert not set(resolved["reserve"]) & used, "reserve addresses are on no gateway"
    assert resolved["attached"] == ["198.51.100.10", "198.51.100.11"]
    assert resolved["states"] == {"198.51.100.10": "live", "198.51.100.11": "live", "198.51.100.12": "announced"}


def test_many_addresses_fewer_zones_with_retired_and_retiring(pulumi_mocks):
    addresses = (
        EgressAddress("198.51.100.30", "live", True),
        EgressAddress("198.51.100.4", "retired", False),
        EgressAddress("198.51.100.21", "retiring", True),
        EgressAddress("198.51.100.7", "live", True),
        EgressAddress("198.51.100.99", "live", True),
        EgressAddress("198.51.100.50", "planned", False),
    )
    zones = ("eu-west-1a", "eu-west-1b", "eu-west-1c")
    rec, _, resolved = build(
        pulumi_mocks,
        args(addresses, region="eu", availability_zones=zones, addresses_per_gateway=8, reserve=0),
        name="eu",
    )
    allocs = resolved["allocs"]
    attached_plan_order = ["198.51.100.30", "198.51.100.21", "198.51.100.7", "198.51.100.99"]
    assert nat_contract(rec, allocs) == expected_nats("eu", attached_plan_order, zones, 8, allocs)
    used = {a for p, s, _ in nat_contract(rec, allocs).values() for a in (p, *s)}
    assert allocs["198.51.100.4"] not in used and allocs["198.51.100.50"] not in used
    retired = next(e for e in rec.by_type(EIP) if e.name == "eu-eip-198-51-100-4")
    assert retired.protect and retired.retain_on_delete, "a retired address still exists, protected"
    assert resolved["attached"] == ["198.51.100.7", "198.51.100.21", "198.51.100.30", "198.51.100.99"]


def test_private_routes_go_to_a_gateway_even_in_zones_without_one(pulumi_mocks):
    zones = ("us-east-1a", "us-east-1b", "us-east-1c")
    rec, _, resolved = build(pulumi_mocks, args(availability_zones=zones))  # 2 attached, 3 zones
    assert [n.name for n in rec.by_type(NAT)] == ["us-nat-us-east-1a", "us-nat-us-east-1b"]
    routes = {r.name: r.inputs for r in rec.by_type("aws:ec2/route:Route")}
    assert rec.name_of(routes["us-public-default"]["gatewayId"]) == "us-igw"
    assert routes["us-public-default"]["destinationCidrBlock"] == "0.0.0.0/0"
    target = {z: rec.name_of(routes[f"us-private-default-{z}"]["natGatewayId"]) for z in zones}
    assert target == {
        "us-east-1a": "us-nat-us-east-1a",
        "us-east-1b": "us-nat-us-east-1b",
        "us-east-1c": "us-nat-us-east-1a",
    }
    assert len(resolved["rts"]) == 3 and len(resolved["private"]) == 3 and len(resolved["public"]) == 3


def test_vpc_and_subnets(pulumi_mocks):
    rec, _, resolved = build(pulumi_mocks, args())
    vpc = rec.by_type("aws:ec2/vpc:Vpc")[0].inputs
    assert (vpc["cidrBlock"], vpc["enableDnsSupport"], vpc["enableDnsHostnames"]) == ("10.40.0.0/16", True, True)
    subnets = {
        s.name: (s.inputs["cidrBlock"], s.inputs["availabilityZone"], s.inputs["mapPublicIpOnLaunch"])
        for s in rec.by_type("aws:ec2/subnet:Subnet")
    }
    assert subnets == {
        "us-private-us-east-1a": ("10.40.0.0/20", "us-east-1a", False),
        "us-private-us-east-1b": ("10.40.16.0/20", "us-east-1b", False),
        "us-public-us-east-1a": ("10.40.128.0/20", "us-east-1a", False),
        "us-public-us-east-1b": ("10.40.144.0/20", "us-east-1b", False),
    }
    assert resolved["vpc_cidr"] == "10.40.0.0/16"
    assert [rec.name_of(s) for s in resolved["private"]] == ["us-private-us-east-1a", "us-private-us-east-1b"]


def test_adding_an_address_renames_nothing_and_changes_no_primary(pulumi_mocks):
    before, _, _ = build(pulumi_mocks, args(reserve=0))
    added = (*BASE, EgressAddress("198.51.100.9", "live", True))  # sorts first, but is the newest in the plan
    after, _, after_out = build(pulumi_mocks, args(added, reserve=0))
    urns_before = {r.urn for r in before.resources}
    urns_after = {r.urn for r in after.resources}
    assert urns_before < urns_after
    assert sorted(u.rsplit("::", 1)[1] for u in urns_after - urns_before) == ["us-eip-198-51-100-9"]
    inputs_before = {r.urn: r.inputs for r in before.resources if r.type == EIP}
    assert all(r.inputs == inputs_before[r.urn] for r in after.resources if r.urn in inputs_before)
    primaries = lambda rec: {n.name: n.inputs["allocationId"] for n in rec.by_type(NAT)}  # noqa: E731
    assert primaries(after) == primaries(before), "no NAT gateway is replaced"
    new_alloc = after_out["allocs"]["198.51.100.9"]
    assert sum(new_alloc in (n.inputs.get("secondaryAllocationIds") or []) for n in after.by_type(NAT)) == 1


def retrieve_abandoned_failures(expected: str) -> int:
    """A failed program leaves futures whose exception nobody reads (pending tasks hold them until the
    interpreter exits, when asyncio prints each one). Read the ones carrying the expected failure."""
    count = 0
    for obj in gc.get_objects():
        if (
            isinstance(obj, asyncio.Future)
            and obj.done()
            and not obj.cancelled()
            and expected in str(getattr(obj, "_exception", None) or "")
        ):
            obj.exception()
            count += 1
    return count


class WrongAddress(SynthMocks):
    """AWS handed the new EIP for 198.51.100.11 some other address than the planned one."""

    def new_resource(self, args):
        rid, outputs = super().new_resource(args)
        if args.name == "us-eip-198-51-100-11":
            outputs = {**outputs, "publicIp": "203.0.113.99"}
        return rid, outputs


def test_an_eip_holding_another_address_is_never_attached(pulumi_mocks):
    rec = pulumi_mocks(mocks=WrongAddress())

    @pulumi.runtime.test
    def run():
        return RegionalEgress("us", args()).vpc_id

    with pytest.raises(ValueError, match=r"'198.51.100.11' holds '203.0.113.99'") as info:
        run()
    chain, exc = [], info.value
    while exc is not None:
        chain.append(type(exc))
        exc = exc.__cause__ or exc.__context__
    assert AddressMismatch in chain
    assert retrieve_abandoned_failures("holds '203.0.113.99'") >= 1
    nats = rec.by_type(NAT)
    eip_11 = rec.one(EIP, "us-eip-198-51-100-11")  # the EIP itself exists (protected)
    assert eip_11.protect and eip_11.id.startswith("eipalloc-")
    assert all(eip_11.id not in str(n.inputs) for n in nats), "its allocation is on no gateway"
    assert len(nats) == 1, "only the gateway of the verified address was registered"


def test_invalid_arguments_fail_before_any_resource(pulumi_mocks):
    rec = pulumi_mocks()

    @pulumi.runtime.test
    def run():
        RegionalEgress("us", args(availability_zones=("us-east-1a",)))

    with pytest.raises(ArgsError, match=r"availability_zones \['us-east-1a'\] must name at least 2 zones"):
        run()
    assert rec.resources == []
