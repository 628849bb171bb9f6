"""Further than validate: the network and security resources of the US synth plan, translated with references
between them, planned and applied by Terraform with the real AWS provider against moto's server (the EC2 API
over HTTP on loopback: the session's server, tests/conftest.py, in an AWS account of this test's own), and what
the provider read back checked."""

from __future__ import annotations

import json
from pathlib import Path

from smtp_egress.synth.terraform import to_terraform

ROOT = Path(__file__).resolve().parents[2]
NETWORK = (
    "aws:ec2/vpc:Vpc",
    "aws:ec2/subnet:Subnet",
    "aws:ec2/internetGateway:InternetGateway",
    "aws:ec2/routeTable:RouteTable",
    "aws:ec2/route:Route",
    "aws:ec2/routeTableAssociation:RouteTableAssociation",
    "aws:ec2/eip:Eip",
    "aws:ec2/natGateway:NatGateway",
    "aws:ec2/securityGroup:SecurityGroup",
    "aws:ec2/networkAcl:NetworkAcl",
    "aws:ec2/vpcEndpoint:VpcEndpoint",
)


def test_the_network_and_security_resources_apply_with_the_real_provider(terraform, provider_schema, moto_server):
    plan = json.loads((ROOT / "tests" / "golden" / "synth-us.json").read_text())
    network = [r for r in plan["resources"] if r["type"] in NETWORK]
    assert {r["type"] for r in network} == set(NETWORK)
    document = to_terraform({**plan, "resources": network}, provider_schema, region="us-east-1", references=True)
    account = moto_server.account()
    document["provider"]["aws"].update(
        access_key=account["AWS_ACCESS_KEY_ID"],
        secret_key=account["AWS_SECRET_ACCESS_KEY"],
        token=account["AWS_SESSION_TOKEN"],
        endpoints=[{"ec2": moto_server.url, "sts": moto_server.url}],
    )
    folder = terraform.project(document)
    terraform.run("apply", "-auto-approve", "-input=false", workdir=folder)
    state = json.loads(terraform.run("show", "-json", workdir=folder).stdout)
    created = {r["address"]: r["values"] for r in state["values"]["root_module"]["resources"]}
    assert len(created) == len(network)

    workers = created["aws_security_group.us-smtp-workers"]
    assert workers["ingress"] == []
    world = sorted(
        (rule["from_port"], rule["description"]) for rule in workers["egress"] if rule["cidr_blocks"] == ["0.0.0.0/0"]
    )
    assert world == [(port, f"SMTP submission to customer servers ({port})") for port in (465, 587, 2525)]
    assert not [rule for rule in workers["egress"] if rule["from_port"] <= 25 <= rule["to_port"]]
    acl = created["aws_network_acl.us-smtp-private-nacl"]
    deny_25 = {(r["rule_no"], r["cidr_block"] or r["ipv6_cidr_block"]) for r in acl["egress"] if r["from_port"] == 25}
    assert deny_25 == {(110, "0.0.0.0/0"), (111, "::/0")}
    # every reference resolved to what moto created, e.g. the workers' group is in the VPC Terraform made
    assert workers["vpc_id"] == created["aws_vpc.us-vpc"]["id"] != plan_id(plan, "aws:ec2/vpc:Vpc")


def plan_id(plan: dict, type_: str) -> str:
    return next(r["id"] for r in plan["resources"] if r["type"] == type_)
