"""VpcEndpoints: pure validation, then the exact child contract under mocks (S3 gateway, SQS interface, SG)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pulumi
import pytest

from smtp_egress.checks import policies
from smtp_egress.components import aws
from smtp_egress.components.vpc_endpoints import (
    ArgsError,
    VpcEndpoints,
    VpcEndpointsArgs,
    s3_endpoint_policy,
    service_name,
    validate,
)
from smtp_egress.errors import ConfigError

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
TYPE = "smtp-egress:network:VpcEndpoints"
ENDPOINT, SG = "aws:ec2/vpcEndpoint:VpcEndpoint", "aws:ec2/securityGroup:SecurityGroup"
VPC_CIDR = "10.40.0.0/16"
ARGS = VpcEndpointsArgs(
    aws_region="us-east-1",
    vpc_id="vpc-0123456789abcdef0",
    vpc_cidr=VPC_CIDR,
    private_subnet_ids=["subnet-a", "subnet-b"],
    private_route_table_ids=["rtb-a", "rtb-b"],
    tags={"team": "mail"},
)


def deploy(pulumi_mocks, args=ARGS):
    rec = pulumi_mocks()
    captured: list[dict] = []

    @pulumi.runtime.test
    def run():
        comp = VpcEndpoints("us-endpoints", args)
        return pulumi.Output.all(pl=comp.s3_prefix_list_id, ids=comp.endpoint_ids, sg=comp.security_group_id).apply(
            captured.append
        )

    run()
    assert len(captured) == 1, "the component's outputs never resolved: asserts would not have run"
    return rec, captured[0]


# --- pure functions --------------------------------------------------------------------------------------


def test_defaults_validate_and_service_names():
    validate(ARGS)
    validate(
        dataclasses.replace(ARGS, aws_region="us-gov-west-1", interface_services=("sqs", "ecr.dkr", "execute-api"))
    )
    assert service_name("eu-central-1", "sqs") == "com.amazonaws.eu-central-1.sqs"


@pytest.mark.parametrize(
    "change, words",
    [
        ({"aws_region": "us"}, "aws_region 'us' must be an AWS region such as 'us-east-1'"),
        ({"aws_region": "US-EAST-1"}, "aws_region 'US-EAST-1'"),
        ({"aws_region": "us-east"}, "aws_region 'us-east'"),
        ({"vpc_cidr": "10.40.0.1/16"}, "vpc_cidr '10.40.0.1/16' is not a network"),
        ({"vpc_cidr": "fd00::/56"}, "vpc_cidr 'fd00::/56' must be an IPv4 network"),
        ({"interface_services": ("SQS",)}, "interface_services entry 'SQS'"),
        ({"interface_services": ("sqs ",)}, "interface_services entry 'sqs '"),
        ({"interface_services": ("sqs..x",)}, "interface_services entry 'sqs..x'"),
        (
            {"interface_services": ("com.amazonaws.us-east-1.sqs",)},
            "'com.amazonaws.us-east-1.sqs' is a full endpoint service name; give only the service, e.g. 'sqs'",
        ),
        ({"interface_services": ("s3",)}, "entry 's3': S3 already has a gateway endpoint"),
        ({"interface_services": ("sqs", "sqs")}, "entry 'sqs' is listed twice"),
        ({"interface_services": "sqs"}, "interface_services 'sqs' must be a list"),
        ({"private_route_table_ids": []}, "private_route_table_ids is empty"),
        ({"private_subnet_ids": ()}, "private_subnet_ids is empty"),
    ],
)
def test_validate_names_the_bad_value(change, words):
    with pytest.raises(ArgsError, match="VpcEndpoints: ") as exc:
        validate(dataclasses.replace(ARGS, **change))
    assert words in str(exc.value)
    assert isinstance(exc.value, ConfigError)  # the command line turns it into a message, not a traceback


def test_validate_reports_every_problem_at_once():
    with pytest.raises(ArgsError) as exc:
        validate(dataclasses.replace(ARGS, aws_region="us", vpc_cidr="nope"))
    assert "aws_region 'us'" in str(exc.value) and "vpc_cidr 'nope'" in str(exc.value)


def test_component_validates_before_declaring_anything(pulumi_mocks):
    rec = pulumi_mocks()
    with pytest.raises(ArgsError, match="aws_region 'us'"):
        VpcEndpoints("us-endpoints", dataclasses.replace(ARGS, aws_region="us"))
    assert rec.resources == []


# --- the child contract under mocks ----------------------------------------------------------------------


def test_children_types_names_and_parents(pulumi_mocks):
    rec, _ = deploy(pulumi_mocks)
    (comp,) = [r for r in rec.sorted() if r.type == TYPE]
    assert comp.name == "us-endpoints"
    children = [r for r in rec.sorted() if r.type != TYPE]
    assert sorted((r.type, r.name) for r in children) == [
        (SG, "us-endpoints-sg"),
        (ENDPOINT, "us-endpoints-s3"),
        (ENDPOINT, "us-endpoints-sqs"),
    ]
    assert all(r.parent == comp.urn for r in children)


def test_outputs(pulumi_mocks):
    rec, out = deploy(pulumi_mocks)
    # what AWS computes for a gateway endpoint: its service's prefix list (an interface endpoint has none)
    assert rec.outputs_of(ENDPOINT, "us-endpoints-sqs")["prefixListId"] == ""
    assert out["pl"] == rec.outputs_of(ENDPOINT, "us-endpoints-s3")["prefixListId"] and out["pl"].startswith("pl-")
    assert {service: rec.name_of(i) for service, i in out["ids"].items()} == {
        "s3": "us-endpoints-s3",
        "sqs": "us-endpoints-sqs",
    }
    assert all(i.startswith("vpce-") for i in out["ids"].values())
    assert rec.name_of(out["sg"]) == "us-endpoints-sg"


def test_s3_is_a_gateway_endpoint_on_the_private_route_tables(pulumi_mocks):
    rec, _ = deploy(pulumi_mocks)
    s3 = rec.inputs_of(ENDPOINT, "us-endpoints-s3")
    assert s3["serviceName"] == "com.amazonaws.us-east-1.s3" and s3["vpcEndpointType"] == "Gateway"
    assert s3["vpcId"] == "vpc-0123456789abcdef0" and s3["routeTableIds"] == ["rtb-a", "rtb-b"]
    assert not {"subnetIds", "securityGroupIds", "privateDnsEnabled"} & set(s3)
    assert s3["tags"] == {"team": "mail", "Name": "us-endpoints-s3"}


def test_sqs_is_an_interface_endpoint_with_private_dns_in_the_private_subnets(pulumi_mocks):
    rec, out = deploy(pulumi_mocks)
    sqs = rec.inputs_of(ENDPOINT, "us-endpoints-sqs")
    assert sqs["serviceName"] == "com.amazonaws.us-east-1.sqs" and sqs["vpcEndpointType"] == "Interface"
    assert sqs["privateDnsEnabled"] is True
    assert sqs["subnetIds"] == ["subnet-a", "subnet-b"] and sqs["securityGroupIds"] == [out["sg"]]
    assert sqs["vpcId"] == "vpc-0123456789abcdef0" and "routeTableIds" not in sqs


def test_endpoint_security_group_admits_exactly_https_from_the_vpc_and_sends_nothing(pulumi_mocks):
    rec, _ = deploy(pulumi_mocks)
    sg = rec.inputs_of(SG, "us-endpoints-sg")
    assert sg["vpcId"] == "vpc-0123456789abcdef0" and sg["egress"] == []
    assert [(i["protocol"], int(i["fromPort"]), int(i["toPort"]), i["cidrBlocks"]) for i in sg["ingress"]] == [
        ("tcp", 443, 443, [VPC_CIDR])
    ]
    assert not any(i.get("ipv6CidrBlocks") or i.get("securityGroups") or i.get("self") for i in sg["ingress"])
    assert policies.no_open_ingress({"type": SG, "urn": "u", "inputs": sg}) == []


def test_one_interface_endpoint_per_service(pulumi_mocks):
    rec, out = deploy(
        pulumi_mocks, dataclasses.replace(ARGS, aws_region="eu-central-1", interface_services=("sqs", "ecr.dkr"))
    )
    interface = {r.name: r.inputs for r in rec.by_type(ENDPOINT) if r.inputs["vpcEndpointType"] == "Interface"}
    assert {n: i["serviceName"] for n, i in interface.items()} == {
        "us-endpoints-ecr.dkr": "com.amazonaws.eu-central-1.ecr.dkr",
        "us-endpoints-sqs": "com.amazonaws.eu-central-1.sqs",
    }
    assert all(i["privateDnsEnabled"] is True for i in interface.values())
    assert set(out["ids"]) == {"s3", "sqs", "ecr.dkr"}


def test_no_interface_services_leaves_only_the_gateway_and_the_group(pulumi_mocks):
    rec, out = deploy(pulumi_mocks, dataclasses.replace(ARGS, interface_services=()))
    assert [r.name for r in rec.by_type(ENDPOINT)] == ["us-endpoints-s3"]
    assert list(out["ids"]) == ["s3"] and rec.name_of(out["ids"]["s3"]) == "us-endpoints-s3"


# --- the S3 gateway endpoint's policy ---------------------------------------------------------------------

# The data-plane actions the archive, the published documents and the Pulumi state need; no bucket administration.
BUCKET_ACTIONS = {f"s3:{a}Object" for a in ("Get", "Put", "Delete")} | {
    "s3:ListBucket",
    "s3:GetBucketLocation",
    "s3:AbortMultipartUpload",
    "s3:ListMultipartUploadParts",
}


def allowed(policy: str) -> dict[str, set[str]]:
    """Resource ARN -> the actions the endpoint lets through for it (every statement is an Allow to anyone)."""
    out: dict[str, set[str]] = {}
    for s in json.loads(policy)["Statement"]:
        assert s["Effect"] == "Allow" and s["Principal"] == "*" and not {"NotAction", "NotResource"} & set(s)
        for arn in s["Resource"]:
            out.setdefault(arn, set()).update(s["Action"])
    return out


def test_the_s3_policy_names_the_buckets_and_ecr_s_layers_only():
    policy = s3_endpoint_policy("eu-west-1", ["b-archive", "b-published", "b-archive"])
    assert allowed(policy) == {
        "arn:aws:s3:::b-archive": BUCKET_ACTIONS,
        "arn:aws:s3:::b-archive/*": BUCKET_ACTIONS,
        "arn:aws:s3:::b-published": BUCKET_ACTIONS,
        "arn:aws:s3:::b-published/*": BUCKET_ACTIONS,
        "arn:aws:s3:::prod-eu-west-1-starport-layer-bucket/*": {"s3:GetObject"},
    }
    with pytest.raises(ArgsError, match="at least one bucket"):
        s3_endpoint_policy("eu-west-1", [])


def test_parliament_finds_nothing_in_the_s3_policy():
    from .test_daily_task import parliament_findings

    assert parliament_findings(s3_endpoint_policy("us-east-1", ["b-archive", "b-published"])) == []
    # and it is looking: an action S3 does not have is a finding
    assert parliament_findings(s3_endpoint_policy("us-east-1", ["b"]).replace("s3:GetBucketLocation", "s3:GetBucket"))


def test_limit_s3_to_declares_the_endpoint_s_policy_once_the_buckets_exist(pulumi_mocks):
    rec = pulumi_mocks()

    @pulumi.runtime.test
    def run():
        comp = VpcEndpoints("us-endpoints", ARGS)
        bucket = aws.s3.Bucket("archive")
        comp.limit_s3_to([bucket.bucket, "state-bucket"])
        return bucket.bucket

    run()
    (policy,) = [r for r in rec.sorted() if r.type == "aws:ec2/vpcEndpointPolicy:VpcEndpointPolicy"]
    (comp,) = [r for r in rec.sorted() if r.type == TYPE]
    assert policy.name == "us-endpoints-s3-policy" and policy.parent == comp.urn
    inputs = rec.inputs_of(policy.type, policy.name)
    assert rec.name_of(inputs["vpcEndpointId"]) == "us-endpoints-s3"
    archive = rec.outputs_of("aws:s3/bucket:Bucket", "archive")["bucket"]
    assert {arn.split(":::")[1].split("/")[0] for arn in allowed(inputs["policy"])} == {
        archive,
        "state-bucket",
        "prod-us-east-1-starport-layer-bucket",
    }


@pytest.mark.parametrize("stack", ["us", "eu"])
def test_the_stacks_let_through_their_own_buckets_only(stack):
    """In the golden plans: the archive, the publisher's bucket, the state bucket, ECR's layers; nothing else."""
    plan = json.loads((GOLDEN / f"synth-{stack}.json").read_text())
    resources = plan["resources"]
    by_type = {}
    for r in resources:
        by_type.setdefault(r["type"], []).append(r)
    (policy,) = by_type["aws:ec2/vpcEndpointPolicy:VpcEndpointPolicy"]
    (s3,) = [r for r in by_type["aws:ec2/vpcEndpoint:VpcEndpoint"] if r["inputs"]["vpcEndpointType"] == "Gateway"]
    assert policy["inputs"]["vpcEndpointId"] == s3["id"]
    ours = {r["inputs"].get("bucket") or r["id"] for r in by_type["aws:s3/bucket:Bucket"]}
    state = "example-pulumi-state"  # smtp-egress:stateBackend in stacks/Pulumi.<stack>.yaml
    aws_region = {"us": "us-east-1", "eu": "eu-west-1"}[stack]
    names = {arn.split(":::")[1].split("/")[0] for arn in allowed(policy["inputs"]["policy"])}
    assert names == ours | {state, f"prod-{aws_region}-starport-layer-bucket"}


def test_without_a_state_backend_the_endpoint_lets_no_state_bucket_through():
    import datetime as dt

    from smtp_egress.jobs import synth

    data = Path(__file__).resolve().parents[1] / "stacks" / "data"
    plan = synth.run(
        synth.SynthInputs(
            "us",
            data / "egress-ips.yaml",
            dt.date(2026, 11, 26),
            published=str(data / "published-us-announced.json"),
            config={"smtp-egress:stateBackend": ""},
        )
    ).document
    (policy,) = [r for r in plan["resources"] if r["type"] == "aws:ec2/vpcEndpointPolicy:VpcEndpointPolicy"]
    buckets = {r["id"] for r in plan["resources"] if r["type"] == "aws:s3/bucket:Bucket"}
    names = {arn.split(":::")[1].split("/")[0] for arn in allowed(policy["inputs"]["policy"])}
    assert names == buckets | {"prod-us-east-1-starport-layer-bucket"} and len(buckets) == 2
