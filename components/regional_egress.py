"""RegionalEgress: one region's VPC, subnets, NAT gateways and the egress Elastic IPs.

Every planned address is an EIP, created or adopted explicitly, and none can change by accident:

* ``allocation_id`` set: the existing EIP is ADOPTED (``import_``), never allocated anew. Pulumi imports
  only when the program's inputs match the EIP as it is, so tag the EIP with the tags this component
  sets (see :func:`eip_tags`) before the first ``up``; otherwise the import fails (safely: nothing is
  replaced) and shows the difference.
* ``byoip_pool`` set: ``ip`` is allocated from that BYOIP pool (``public_ipv4_pool`` + ``address``).
* neither: a new EIP is allocated (``domain="vpc"``). AWS picks its address; an EIP that does not hold
  the planned address is never put on a NAT gateway (:func:`smtp_egress.components.netplan.verified_allocation`
  fails the deployment instead), so no mail ever leaves from an address that is not in the plan.

Every EIP, reserve ones included, is ``protect=True`` and ``retain_on_delete=True``: removing it from the
plan or deleting the stack leaves the allocation in the account. Attached addresses (``attach``) go on
the NAT gateways as :func:`smtp_egress.components.netplan.assign_nat_gateways` says; announced, planned and retired
ones are allocated but on no gateway.

Private routes are separate ``aws.ec2.Route`` resources, not inline ``routes`` on the table: inline
routes are authoritative and would fight with routes that VPC endpoints add to the same tables.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import pulumi

from . import aws
from .netplan import (
    DEFAULT_ADDRESSES_PER_GATEWAY,
    ArgsError,
    EgressAddress,
    assign_nat_gateways,
    canonical_key,
    eip_key,
    subnet_layout,
    validate_regional,
    verified_allocation,
)

__all__ = ["ArgsError", "EgressAddress", "RegionalEgress", "RegionalEgressArgs", "eip_tags", "validate"]


@dataclasses.dataclass(frozen=True)
class RegionalEgressArgs:
    region: str
    vpc_cidr: str
    availability_zones: Sequence[str]
    addresses: Sequence[EgressAddress]  # in plan order, oldest first: it picks each NAT gateway's primary
    reserve: int = 0
    tags: Mapping[str, str] = dataclasses.field(default_factory=dict)
    addresses_per_gateway: int = DEFAULT_ADDRESSES_PER_GATEWAY  # the account's NAT gateway EIP quota


def validate(args: RegionalEgressArgs) -> None:
    """Raise ArgsError (a ValueError) naming every bad value; no resources exist yet when it does."""
    validate_regional(
        args.region,
        args.vpc_cidr,
        args.availability_zones,
        args.addresses,
        args.reserve,
        args.addresses_per_gateway,
        args.tags,
    )


def eip_tags(args: RegionalEgressArgs, ip: str, state: str) -> dict[str, str]:
    """An EIP's tags: the stack's tags, then the component's (which win)."""
    return {**args.tags, "smtp-egress:address": ip, "smtp-egress:state": state, "smtp-egress:region": args.region}


class RegionalEgress(pulumi.ComponentResource):
    vpc_id: pulumi.Output[str]
    vpc_cidr: str
    public_subnet_ids: list[pulumi.Output[str]]
    private_subnet_ids: list[pulumi.Output[str]]
    private_route_table_ids: list[pulumi.Output[str]]
    nat_gateway_ids: dict[str, pulumi.Output[str]]
    eip_allocation_ids: dict[str, pulumi.Output[str]]
    reserve_allocation_ids: list[pulumi.Output[str]]
    reserve_public_ips: list[pulumi.Output[str]]
    attached_ips: list[str]
    nat_addresses: dict[str, dict[str, object]]  # zone -> {"primary": ip, "secondaries": [ip, ...]}
    address_states: dict[str, str]

    def __init__(self, name: str, args: RegionalEgressArgs, opts: pulumi.ResourceOptions | None = None):
        validate(args)
        super().__init__("smtp-egress:network:RegionalEgress", name, None, opts)
        zones = list(args.availability_zones)
        layout = subnet_layout(args.vpc_cidr, zones)
        nat_plan = assign_nat_gateways([a.ip for a in args.addresses if a.attach], zones, args.addresses_per_gateway)
        attached = sorted((a.ip for a in args.addresses if a.attach), key=canonical_key)

        def tagged(child: str, **extra: str) -> dict[str, str]:
            return {**args.tags, "Name": child, "smtp-egress:region": args.region, **extra}

        child = pulumi.ResourceOptions(parent=self)
        vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=args.vpc_cidr,
            enable_dns_support=True,
            enable_dns_hostnames=True,
            tags=tagged(f"{name}-vpc"),
            opts=child,
        )
        igw = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id, tags=tagged(f"{name}-igw"), opts=child)

        public_rt = aws.ec2.RouteTable(f"{name}-public-rt", vpc_id=vpc.id, tags=tagged(f"{name}-public-rt"), opts=child)
        aws.ec2.Route(
            f"{name}-public-default",
            route_table_id=public_rt.id,
            destination_cidr_block="0.0.0.0/0",
            gateway_id=igw.id,
            opts=child,
        )
        public_subnets: dict[str, aws.ec2.Subnet] = {}
        private_subnets: dict[str, aws.ec2.Subnet] = {}
        for s in layout:
            public_subnets[s.zone] = aws.ec2.Subnet(
                f"{name}-public-{s.zone}",
                vpc_id=vpc.id,
                cidr_block=s.public_cidr,
                availability_zone=s.zone,
                map_public_ip_on_launch=False,
                tags=tagged(f"{name}-public-{s.zone}", **{"smtp-egress:tier": "public"}),
                opts=child,
            )
            private_subnets[s.zone] = aws.ec2.Subnet(
                f"{name}-private-{s.zone}",
                vpc_id=vpc.id,
                cidr_block=s.private_cidr,
                availability_zone=s.zone,
                map_public_ip_on_launch=False,
                tags=tagged(f"{name}-private-{s.zone}", **{"smtp-egress:tier": "private"}),
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-public-rta-{s.zone}",
                route_table_id=public_rt.id,
                subnet_id=public_subnets[s.zone].id,
                opts=child,
            )

        eips: dict[str, aws.ec2.Eip] = {}
        for a in sorted(args.addresses, key=lambda a: canonical_key(a.ip)):
            eips[a.ip] = self._eip(f"{name}-eip-{eip_key(a.ip)}", a, eip_tags(args, a.ip, a.state))
        reserves = [
            self._eip(
                f"{name}-reserve-{i}",
                None,
                {**args.tags, "smtp-egress:state": "reserve", "smtp-egress:region": args.region},
            )
            for i in range(args.reserve)
        ]

        def verified(ip: str) -> pulumi.Output[str]:
            eip = eips[ip]
            return pulumi.Output.all(eip.allocation_id, eip.public_ip).apply(
                lambda v: verified_allocation(ip, v[1], v[0])
            )

        nats: dict[str, aws.ec2.NatGateway] = {}
        for g in nat_plan.gateways:
            nats[g.zone] = aws.ec2.NatGateway(
                f"{name}-nat-{g.zone}",
                connectivity_type="public",
                subnet_id=public_subnets[g.zone].id,
                allocation_id=verified(g.primary),
                secondary_allocation_ids=[verified(ip) for ip in g.secondaries],
                tags=tagged(f"{name}-nat-{g.zone}"),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[igw]),
            )

        private_rts = []
        for zone in zones:
            rt = aws.ec2.RouteTable(
                f"{name}-private-rt-{zone}", vpc_id=vpc.id, tags=tagged(f"{name}-private-rt-{zone}"), opts=child
            )
            aws.ec2.Route(
                f"{name}-private-default-{zone}",
                route_table_id=rt.id,
                destination_cidr_block="0.0.0.0/0",
                nat_gateway_id=nats[nat_plan.routes[zone]].id,
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-private-rta-{zone}", route_table_id=rt.id, subnet_id=private_subnets[zone].id, opts=child
            )
            private_rts.append(rt)

        self.vpc_id = vpc.id
        self.vpc_cidr = args.vpc_cidr
        self.public_subnet_ids = [public_subnets[z].id for z in zones]
        self.private_subnet_ids = [private_subnets[z].id for z in zones]
        self.private_route_table_ids = [rt.id for rt in private_rts]
        self.nat_gateway_ids = {z: n.id for z, n in nats.items()}
        self.eip_allocation_ids = {ip: e.allocation_id for ip, e in eips.items()}
        self.reserve_allocation_ids = [e.allocation_id for e in reserves]
        self.reserve_public_ips = [e.public_ip for e in reserves]
        self.attached_ips = attached
        self.nat_addresses = {
            g.zone: {"primary": g.primary, "secondaries": list(g.secondaries)} for g in nat_plan.gateways
        }
        self.address_states = {a.ip: a.state for a in sorted(args.addresses, key=lambda a: canonical_key(a.ip))}
        self.register_outputs(
            {
                "vpc_id": self.vpc_id,
                "vpc_cidr": self.vpc_cidr,
                "public_subnet_ids": self.public_subnet_ids,
                "private_subnet_ids": self.private_subnet_ids,
                "private_route_table_ids": self.private_route_table_ids,
                "nat_gateway_ids": self.nat_gateway_ids,
                "eip_allocation_ids": self.eip_allocation_ids,
                "reserve_allocation_ids": self.reserve_allocation_ids,
                "reserve_public_ips": self.reserve_public_ips,
                "attached_ips": self.attached_ips,
                "nat_addresses": self.nat_addresses,
                "address_states": self.address_states,
            }
        )

    def _eip(self, resource_name: str, address: EgressAddress | None, tags: dict[str, str]) -> aws.ec2.Eip:
        """Adopt, allocate from BYOIP, or allocate anew; always protected and retained."""
        opts = pulumi.ResourceOptions(
            parent=self, protect=True, retain_on_delete=True, import_=address.allocation_id if address else None
        )
        if address is not None and address.byoip_pool:
            return aws.ec2.Eip(
                resource_name,
                domain="vpc",
                public_ipv4_pool=address.byoip_pool,
                address=address.ip,
                tags=tags,
                opts=opts,
            )
        return aws.ec2.Eip(resource_name, domain="vpc", tags=tags, opts=opts)
