"""Deterministic, realistic answers of the mock engine (:mod:`smtp_egress.synth.engine`), for synth and tests.

Every id, ARN, URL and domain is derived from a hash of the resource's type and name, so two runs of the
same program give the same plan byte for byte. Outputs start as the inputs (what the provider would echo),
then gain what AWS would compute: ``vpc-``/``subnet-``/``sg-``/``nat-``/``igw-``/``rtb-``/``acl-``/``lt-``
ids, ``eipalloc-<17 hex>`` allocation ids with the plan's address as ``publicIp`` (from the EIP's
``smtp-egress:address`` tag; a reserve EIP gets a documentation address), ``pl-<8 hex>`` prefix lists of
gateway VPC endpoints, bucket names, SQS queue URLs, CloudFront ``dxxxx.cloudfront.net`` domains, SNS topic
and subscription ARNs, EventBridge rule ARNs (``arn:aws:events:...:rule/<name>``), CloudWatch alarm ARNs
(``arn:aws:cloudwatch:...:alarm:<name>``) and ARNs in account 123456789012.
An imported resource (``import_``) keeps its import ID, as in AWS: an adopted EIP keeps its allocation ID.
A test that needs another answer (an EIP holding the wrong address...) subclasses :class:`SynthMocks`.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pulumi

ACCOUNT = "123456789012"

ID_PREFIX = {
    "ec2/vpc:Vpc": "vpc",
    "ec2/subnet:Subnet": "subnet",
    "ec2/securityGroup:SecurityGroup": "sg",
    "ec2/defaultSecurityGroup:DefaultSecurityGroup": "sg",
    "ec2/natGateway:NatGateway": "nat",
    "ec2/internetGateway:InternetGateway": "igw",
    "ec2/routeTable:RouteTable": "rtb",
    "ec2/defaultRouteTable:DefaultRouteTable": "rtb",
    "ec2/networkAcl:NetworkAcl": "acl",
    "ec2/defaultNetworkAcl:DefaultNetworkAcl": "acl",
    "ec2/launchTemplate:LaunchTemplate": "lt",
    "ec2/eip:Eip": "eipalloc",
    "ec2/eipAssociation:EipAssociation": "eipassoc",
    "ec2/routeTableAssociation:RouteTableAssociation": "rtbassoc",
    "ec2/instance:Instance": "i",
    "ec2/networkInterface:NetworkInterface": "eni",
    "ec2/vpcEndpoint:VpcEndpoint": "vpce",
    "ec2/securityGroupRule:SecurityGroupRule": "sgrule",
    "vpc/securityGroupEgressRule:SecurityGroupEgressRule": "sgr",
    "vpc/securityGroupIngressRule:SecurityGroupIngressRule": "sgr",
    "ec2/flowLog:FlowLog": "fl",
    "ec2/networkAclAssociation:NetworkAclAssociation": "aclassoc",
}


def digest(*parts: str) -> str:
    """The hex SHA-256 of the parts joined by '::' (type and name): the seed of every mock value."""
    return hashlib.sha256("::".join(parts).encode()).hexdigest()


class SynthMocks(pulumi.runtime.Mocks):
    """Deterministic, realistic outputs for every resource and invoke."""

    def __init__(self, region: str = "us-east-1"):
        self.region = region

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        typ, name, inputs = args.typ, args.name, dict(args.inputs)
        h = digest(typ, name)
        mod = typ.split(":", 1)[1] if ":" in typ else typ
        service = mod.split("/")[0]
        kind = mod.split(":")[-1]
        out: dict[str, Any] = dict(inputs)
        out.setdefault("name", inputs.get("name") or f"{name}-{h[:7]}")
        if "tags" in inputs:
            out.setdefault("tagsAll", inputs["tags"])
        rid = f"{ID_PREFIX[mod]}-{h[:17]}" if mod in ID_PREFIX else f"{name}-{h[:8]}"
        arn_name = out["name"]
        if mod == "ec2/eip:Eip":
            tags = inputs.get("tags") or {}
            spare = f"192.0.2.{200 + int(h[:4], 16) % 50}"  # a documentation address for a reserve EIP
            out.update(
                publicIp=tags.get("smtp-egress:address") or inputs.get("address") or spare,
                allocationId=rid,
                domain="vpc",
            )
        elif mod == "ec2/vpc:Vpc":
            out.update(
                defaultSecurityGroupId=f"sg-{h[17:34]}",
                defaultNetworkAclId=f"acl-{h[17:34]}",
                mainRouteTableId=f"rtb-{h[17:34]}",
                ownerId=ACCOUNT,
            )
        elif mod == "ec2/vpcEndpoint:VpcEndpoint":
            gateway = inputs.get("vpcEndpointType") == "Gateway"  # only a gateway endpoint has a prefix list
            out.update(prefixListId=f"pl-{h[17:25]}" if gateway else "", state="available", ownerId=ACCOUNT)
        elif mod == "ec2/launchTemplate:LaunchTemplate":
            out.update(latestVersion=1, defaultVersion=1)
        elif service == "s3" and kind in ("Bucket", "BucketV2"):
            rid = inputs.get("bucket") or f"{name}-{h[:7]}"
            out.update(
                bucket=rid,
                arn=f"arn:aws:s3:::{rid}",
                bucketDomainName=f"{rid}.s3.amazonaws.com",
                bucketRegionalDomainName=f"{rid}.s3.{self.region}.amazonaws.com",
                region=self.region,
            )
        elif mod == "sqs/queue:Queue":
            qname = inputs.get("name") or f"{name}-{h[:7]}" + (".fifo" if inputs.get("fifoQueue") else "")
            rid = f"https://sqs.{self.region}.amazonaws.com/{ACCOUNT}/{qname}"
            out.update(name=qname, url=rid, arn=f"arn:aws:sqs:{self.region}:{ACCOUNT}:{qname}")
        elif mod == "cloudfront/distribution:Distribution":
            rid = "E" + h[:13].upper()
            out.update(
                domainName=f"d{_base36(h)[:13]}.cloudfront.net",
                hostedZoneId="Z2FDTNDATAQYW2",
                arn=f"arn:aws:cloudfront::{ACCOUNT}:distribution/{rid}",
                status="Deployed",
            )
        elif mod == "route53/record:Record":
            rid = f"{inputs.get('zoneId')}_{inputs.get('name')}_{inputs.get('type')}"
            out.setdefault("fqdn", inputs.get("name"))
        elif service == "iam":
            arn_kind = {"Role": "role", "Policy": "policy", "InstanceProfile": "instance-profile", "User": "user"}.get(
                kind
            )
            if arn_kind:
                rid = arn_name
                out.update(arn=f"arn:aws:iam::{ACCOUNT}:{arn_kind}/{arn_name}", uniqueId=f"AROA{h[:17].upper()}")
        elif mod == "secretsmanager/secret:Secret":
            rid = f"arn:aws:secretsmanager:{self.region}:{ACCOUNT}:secret:{arn_name}-{_base36(h)[:6]}"
            out["arn"] = rid
        elif mod == "ecs/taskDefinition:TaskDefinition":
            out.update(
                revision=1,
                arn=f"arn:aws:ecs:{self.region}:{ACCOUNT}:task-definition/{inputs.get('family', arn_name)}:1",
            )
        elif mod == "cloudwatch/logGroup:LogGroup":
            out["arn"] = f"arn:aws:logs:{self.region}:{ACCOUNT}:log-group:{arn_name}"
        elif mod == "scheduler/schedule:Schedule":
            out["arn"] = (
                f"arn:aws:scheduler:{self.region}:{ACCOUNT}:schedule/{inputs.get('groupName', 'default')}/{arn_name}"
            )
        elif mod == "ecs/cluster:Cluster":
            rid = out["arn"] = f"arn:aws:ecs:{self.region}:{ACCOUNT}:cluster/{arn_name}"
        elif mod == "sns/topic:Topic":
            rid = out["arn"] = f"arn:aws:sns:{self.region}:{ACCOUNT}:{arn_name}"
        elif mod == "sns/topicSubscription:TopicSubscription":
            rid = out["arn"] = f"{inputs.get('topic')}:{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"
        elif mod == "cloudwatch/eventRule:EventRule":
            rid = arn_name
            out["arn"] = f"arn:aws:events:{self.region}:{ACCOUNT}:rule/{arn_name}"
        elif mod == "cloudwatch/metricAlarm:MetricAlarm":
            rid = arn_name
            out["arn"] = f"arn:aws:cloudwatch:{self.region}:{ACCOUNT}:alarm:{arn_name}"
        elif mod == "kms/key:Key":
            rid = f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"
            out.update(keyId=rid, arn=f"arn:aws:kms:{self.region}:{ACCOUNT}:key/{rid}")
        if args.resource_id:  # imported: the existing resource's ID
            rid = args.resource_id
            if mod == "ec2/eip:Eip":
                out["allocationId"] = rid
        out.setdefault("arn", f"arn:aws:{service}:{self.region}:{ACCOUNT}:{kind[0].lower() + kind[1:]}/{arn_name}")
        out.setdefault("id", rid)
        return rid, out

    # the engine takes a plain dict as well as the (result, failures) pair that the base class declares
    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:  # type: ignore[override]
        tok = args.token
        if tok == "aws:index/getAvailabilityZones:getAvailabilityZones":
            names = [f"{self.region}{z}" for z in "abc"]
            return {
                "names": names,
                "zoneIds": [f"{self.region[:2]}{self.region.split('-')[1][0]}1-az{i}" for i in (1, 2, 3)],
            }
        if tok == "aws:index/getCallerIdentity:getCallerIdentity":
            return {"accountId": ACCOUNT, "arn": f"arn:aws:iam::{ACCOUNT}:user/synth", "userId": "AIDASYNTH"}
        if tok == "aws:index/getRegion:getRegion":
            return {"name": self.region, "region": self.region, "id": self.region}
        if tok == "aws:index/getPartition:getPartition":
            return {"partition": "aws", "dnsSuffix": "amazonaws.com"}
        if tok == "aws:iam/getPolicyDocument:getPolicyDocument":
            return {"json": json.dumps(args.args, sort_keys=True, default=str)}
        return {}


def _base36(hexdigest: str) -> str:
    n, out = int(hexdigest, 16), ""
    while n:
        n, r = divmod(n, 36)
        out += "0123456789abcdefghijklmnopqrstuvwxyz"[r]
    return out
