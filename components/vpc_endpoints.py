"""VpcEndpoints: the private way from the delivery workers to AWS (S3 and SQS) without the internet.

The workers' security group (:mod:`smtp_egress.components.egress_rules`) allows HTTPS only to the VPC CIDR and to
endpoint prefix lists; this component provides what those rules point at. Children (``name`` is the
component's name):

- ``{name}-s3``: an S3 **gateway** endpoint on the private route tables. It adds a route to the S3 prefix
  list in each table (RegionalEgress declares its routes as separate resources, so nothing fights over
  them); pass :attr:`VpcEndpoints.s3_prefix_list_id` to ``SmtpEgressRulesArgs.endpoint_prefix_list_ids``.
  Gateway endpoints cost nothing.
- ``{name}-s3-policy`` (declared by :meth:`VpcEndpoints.limit_s3_to`, once the buckets exist): the gateway
  endpoint's policy. Every S3 request from the private subnets goes through the endpoint (its route is the S3
  prefix list), so the policy is the list of buckets anything in the VPC may reach: the stack's own (the
  workers' archive, the publisher's bucket the daily task uploads to, the Pulumi state bucket `egress deploy`
  reads and writes) with the data-plane actions those need, and ECR's layer bucket
  (``prod-<region>-starport-layer-bucket``, ``s3:GetObject``), where Fargate pulls the task image's layers.
  Nothing else: the workers install nothing at boot (so no Amazon Linux repository buckets), and a request for
  any other bucket, exfiltration included, is denied at the endpoint whatever a role allows.
- ``{name}-sg``: the interface endpoints' security group: ingress TCP 443 from the VPC CIDR only, no
  egress rules (``egress=[]``, authoritative: endpoints answer, they never connect out).
- ``{name}-{svc}`` for each of ``interface_services`` (default ``("sqs",)``): an **interface** endpoint in
  every private subnet with private DNS, so the service's usual hostname (``sqs.<region>.amazonaws.com``)
  resolves to addresses inside the VPC. Needs the VPC's DNS support and DNS hostnames (RegionalEgress
  enables both). Each interface endpoint is billed per hour and per subnet.

``aws_region`` is the AWS region (``us-east-1``), not the plan's region name (``us``): it names services.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import re
from collections.abc import Iterable, Mapping, Sequence

import pulumi

from . import aws
from .netplan import ArgsError

__all__ = ["ArgsError", "VpcEndpoints", "VpcEndpointsArgs", "s3_endpoint_policy", "service_name", "validate"]

AWS_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]{1,2}")  # us-east-1, eu-central-2, us-gov-west-1
SERVICE = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*(\.[a-z0-9]+(-[a-z0-9]+)*)*")  # sqs, ecr.dkr, execute-api
GATEWAY_SERVICE = "s3"
# What the stack's buckets are used for through the endpoint: objects read, written and deleted (the archive,
# the published documents, the state's checkpoints and locks), listing, and multipart uploads.
BUCKET_ACTIONS = (
    "s3:AbortMultipartUpload",
    "s3:DeleteObject",
    "s3:GetBucketLocation",
    "s3:GetObject",
    "s3:ListBucket",
    "s3:ListMultipartUploadParts",
    "s3:PutObject",
)


@dataclasses.dataclass(frozen=True)
class VpcEndpointsArgs:
    aws_region: str
    vpc_id: pulumi.Input[str]
    vpc_cidr: str  # a plain string (RegionalEgress.vpc_cidr): the endpoints' security group admits it
    private_subnet_ids: pulumi.Input[Sequence[pulumi.Input[str]]]
    private_route_table_ids: pulumi.Input[Sequence[pulumi.Input[str]]]
    interface_services: Sequence[str] = ("sqs",)
    tags: Mapping[str, str] = dataclasses.field(default_factory=dict)


def validate(args: VpcEndpointsArgs) -> None:
    """Raise ArgsError (a ConfigError) naming every bad value; pure, runs before any resource is declared."""
    p = []
    if not isinstance(args.aws_region, str) or not AWS_REGION.fullmatch(args.aws_region):
        p.append(
            f"aws_region {args.aws_region!r} must be an AWS region such as 'us-east-1' (not the plan's region name)"
        )
    try:
        if ipaddress.ip_network(args.vpc_cidr).version != 4:
            p.append(f"vpc_cidr {args.vpc_cidr!r} must be an IPv4 network")
    except (TypeError, ValueError) as exc:
        p.append(f"vpc_cidr {args.vpc_cidr!r} is not a network ({exc}); write it like '10.40.0.0/16'")
    if isinstance(args.interface_services, str):
        p.append(f"interface_services {args.interface_services!r} must be a list of service names such as ['sqs']")
    else:
        seen: set[str] = set()
        for svc in args.interface_services:
            if not isinstance(svc, str) or not SERVICE.fullmatch(svc):
                p.append(
                    f"interface_services entry {svc!r} must be an AWS service name such as 'sqs' or 'ecr.dkr' "
                    "(lower-case letters and digits, '.' between parts, '-' inside them)"
                )
            elif svc.startswith("com.amazonaws."):
                p.append(
                    f"interface_services entry {svc!r} is a full endpoint service name; give only the "
                    f"service, e.g. {svc.rsplit('.', 1)[-1]!r} (the region comes from aws_region)"
                )
            elif svc == GATEWAY_SERVICE:
                p.append(f"interface_services entry {svc!r}: S3 already has a gateway endpoint here; remove it")
            elif svc in seen:
                p.append(f"interface_services entry {svc!r} is listed twice")
            seen.add(svc)
    for field in ("private_subnet_ids", "private_route_table_ids"):
        value = getattr(args, field)
        if isinstance(value, (list, tuple)) and not value:
            p.append(f"{field} is empty: the endpoints need the private subnets and their route tables")
    if p:
        raise ArgsError("VpcEndpoints: " + "; ".join(p))


def ecr_layer_bucket(aws_region: str) -> str:
    """The S3 bucket ECR serves image layers from in ``aws_region`` (AWS's documented name)."""
    return f"prod-{aws_region}-starport-layer-bucket"


def s3_endpoint_policy(aws_region: str, bucket_names: Iterable[str]) -> str:
    """The S3 gateway endpoint's policy document (JSON): ``bucket_names`` with :data:`BUCKET_ACTIONS`, ECR's
    layer bucket for ``s3:GetObject``, nothing else."""
    buckets = sorted(set(bucket_names))
    if not buckets:
        raise ArgsError("VpcEndpoints: the S3 endpoint policy needs at least one bucket")
    statements = [
        {
            "Sid": "SmtpEgressBuckets",
            "Effect": "Allow",
            "Principal": "*",
            "Action": list(BUCKET_ACTIONS),
            "Resource": [arn for b in buckets for arn in (f"arn:aws:s3:::{b}", f"arn:aws:s3:::{b}/*")],
        },
        {
            "Sid": "EcrImageLayers",
            "Effect": "Allow",
            "Principal": "*",
            "Action": ["s3:GetObject"],
            "Resource": [f"arn:aws:s3:::{ecr_layer_bucket(aws_region)}/*"],
        },
    ]
    return json.dumps({"Version": "2012-10-17", "Statement": statements}, sort_keys=True)


def service_name(aws_region: str, service: str) -> str:
    """The endpoint service name AWS expects: ``com.amazonaws.us-east-1.sqs``."""
    return f"com.amazonaws.{aws_region}.{service}"


class VpcEndpoints(pulumi.ComponentResource):
    s3_prefix_list_id: pulumi.Output[str]
    endpoint_ids: dict[str, pulumi.Output[str]]
    security_group_id: pulumi.Output[str]

    def __init__(self, name: str, args: VpcEndpointsArgs, opts: pulumi.ResourceOptions | None = None):
        validate(args)
        super().__init__("smtp-egress:network:VpcEndpoints", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        def tagged(child_name: str) -> dict[str, str]:
            return {**args.tags, "Name": child_name}

        s3 = aws.ec2.VpcEndpoint(
            f"{name}-s3",
            vpc_id=args.vpc_id,
            service_name=service_name(args.aws_region, GATEWAY_SERVICE),
            vpc_endpoint_type="Gateway",
            route_table_ids=args.private_route_table_ids,
            tags=tagged(f"{name}-s3"),
            opts=child,
        )
        sg = aws.ec2.SecurityGroup(
            f"{name}-sg",
            vpc_id=args.vpc_id,
            description="Interface VPC endpoints: HTTPS in from the VPC only; nothing out",
            ingress=[
                aws.ec2.SecurityGroupIngressArgs(
                    protocol="tcp",
                    from_port=443,
                    to_port=443,
                    cidr_blocks=[args.vpc_cidr],
                    description="HTTPS from the VPC",
                )
            ],
            egress=[],
            tags=tagged(f"{name}-sg"),
            opts=child,
        )
        interface = {
            svc: aws.ec2.VpcEndpoint(
                f"{name}-{svc}",
                vpc_id=args.vpc_id,
                service_name=service_name(args.aws_region, svc),
                vpc_endpoint_type="Interface",
                private_dns_enabled=True,
                subnet_ids=args.private_subnet_ids,
                security_group_ids=[sg.id],
                tags=tagged(f"{name}-{svc}"),
                opts=child,
            )
            for svc in args.interface_services
        }

        self._name, self._aws_region, self._s3 = name, args.aws_region, s3
        self.s3_prefix_list_id = s3.prefix_list_id
        self.endpoint_ids = {GATEWAY_SERVICE: s3.id, **{svc: e.id for svc, e in interface.items()}}
        self.security_group_id = sg.id
        self.register_outputs(
            {
                "s3_prefix_list_id": self.s3_prefix_list_id,
                "endpoint_ids": self.endpoint_ids,
                "security_group_id": self.security_group_id,
            }
        )

    def limit_s3_to(self, bucket_names: Sequence[pulumi.Input[str]]) -> None:
        """Declare ``{name}-s3-policy``: only ``bucket_names`` (and ECR's layers) through the S3 gateway endpoint.

        A method, not an argument: the buckets belong to components declared after this one (the workers need
        the endpoint's prefix list for their security group before their archive bucket exists)."""
        aws.ec2.VpcEndpointPolicy(
            f"{self._name}-s3-policy",
            vpc_endpoint_id=self._s3.id,
            policy=pulumi.Output.all(*bucket_names).apply(lambda names: s3_endpoint_policy(self._aws_region, names)),
            opts=pulumi.ResourceOptions(parent=self),
        )
