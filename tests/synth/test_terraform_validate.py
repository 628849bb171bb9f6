"""Both synth plans through the real AWS provider: every resource translated to Terraform JSON and checked by
``terraform validate`` (the provider's own rules for every value), offline; the translator's own rules without
Terraform."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from smtp_egress.synth.terraform import TERRAFORM_TYPES, TerraformTranslationError, snake, to_terraform

ROOT = Path(__file__).resolve().parents[2]
REGIONS = {"us": "us-east-1", "eu": "eu-west-1"}
SG = "aws:ec2/securityGroup:SecurityGroup"


def golden(stack: str) -> dict:
    """What ``egress synth --stack STACK`` records (tests/stacks/test_synth.py keeps these byte-identical to it)."""
    return json.loads((ROOT / "tests" / "golden" / f"synth-{stack}.json").read_text())


def workers_group(plan: dict) -> dict:
    return next(r for r in plan["resources"] if r["type"] == SG and r["name"].endswith("-smtp-workers"))


# With the real provider --------------------------------------------------------------------------------


@pytest.mark.parametrize("references", [False, True], ids=["literal-ids", "references"])
@pytest.mark.parametrize("stack", sorted(REGIONS))
def test_every_resource_of_the_synth_plan_passes_the_providers_validation(stack, references, provider_schema, validate):
    plan = golden(stack)
    document = to_terraform(plan, provider_schema, region=REGIONS[stack], references=references)
    translated = sum(len(named) for named in document["resource"].values())
    assert translated == sum(1 for r in plan["resources"] if r["custom"]) > 70
    assert validate(document) == []


def test_the_provider_refuses_an_apostrophe_in_a_rule_description(provider_schema, validate):
    """The bug this gate was built for: AWS allows no apostrophe in a security-group rule's description."""
    plan = golden("us")
    workers_group(plan)["inputs"]["egress"][0]["description"] = "SMTP submission to customers' servers (465)"
    errors = validate(to_terraform(plan, provider_schema, region="us-east-1"))
    assert len(errors) == 1, errors
    assert errors[0].address == "aws_security_group.us-smtp-workers"
    assert "description\" doesn't comply" in errors[0].summary
    assert "customers' servers (465)" in errors[0].summary


@pytest.mark.parametrize(
    ("type_", "inputs", "words"),
    [
        ("aws:ec2/subnet:Subnet", {"cidrBlock": "10.20.0.0/33"}, "not a valid CIDR block"),
        ("aws:cloudwatch/logGroup:LogGroup", {"retentionInDays": 10}, "retention_in_days"),
        ("aws:sqs/queue:Queue", {"redrivePolicy": "{not json"}, "redrive_policy"),
    ],
)
def test_other_values_aws_refuses_are_caught_too(type_, inputs, words, provider_schema, validate):
    plan = golden("eu")
    target = next(r for r in plan["resources"] if r["type"] == type_)
    target["inputs"].update(inputs)
    errors = validate(to_terraform(plan, provider_schema, region="eu-west-1"))
    assert len(errors) == 1 and words in str(errors[0]), errors


# The translator on its own -----------------------------------------------------------------------------


def fake_schema(**types: dict) -> dict:
    return {"provider_schemas": {"registry.terraform.io/hashicorp/aws": {"resource_schemas": types}}}


def resource(type_: str, name: str, inputs: dict, id_: str = "x-1") -> dict:
    return {"custom": True, "type": type_, "name": name, "urn": f"urn:{type_}::{name}", "id": id_, "inputs": inputs}


SUBNET = {"block": {"attributes": {"vpc_id": {"type": "string"}, "cidr_block": {"type": "string"}}}}
VPC = {"block": {"attributes": {"cidr_block": {"type": "string"}}}}


def test_camel_case_names_become_the_providers_names():
    assert [snake(n) for n in ("ipv6CidrBlocks", "contentBase64", "isIpv6Enabled", "ttl")] == [
        "ipv6_cidr_blocks",
        "content_base64",
        "is_ipv6_enabled",
        "ttl",
    ]


def test_ids_of_other_resources_become_references_only_when_asked():
    plan = {
        "resources": [
            resource("aws:ec2/vpc:Vpc", "us-vpc", {"cidrBlock": "10.0.0.0/16"}, "vpc-1"),
            resource("aws:ec2/subnet:Subnet", "1a", {"vpcId": "vpc-1", "cidrBlock": "10.0.0.0/24"}),
            {"custom": False, "type": "smtp-egress:x:Y", "name": "c", "urn": "urn:c", "inputs": {}},
        ]
    }
    schema = fake_schema(aws_vpc=VPC, aws_subnet=SUBNET)
    literal = to_terraform(plan, schema, region="us-east-1")["resource"]
    assert literal == {
        "aws_vpc": {"us-vpc": {"cidr_block": "10.0.0.0/16"}},
        "aws_subnet": {"r_1a": {"vpc_id": "vpc-1", "cidr_block": "10.0.0.0/24"}},
    }
    referenced = to_terraform(plan, schema, region="us-east-1", references=True)["resource"]
    assert referenced["aws_subnet"]["r_1a"]["vpc_id"] == "${aws_vpc.us-vpc.id}"


def test_template_sequences_in_values_stay_literal():
    plan = {"resources": [resource("aws:ec2/vpc:Vpc", "v", {"cidrBlock": "echo ${HOME} %{x}"})]}
    body = to_terraform(plan, fake_schema(aws_vpc=VPC), region="r")["resource"]["aws_vpc"]["v"]
    assert body == {"cidr_block": "echo $${HOME} %%{x}"}


def test_an_unmapped_type_or_property_is_an_error_never_skipped():
    with pytest.raises(TerraformTranslationError, match=r"aws:ec2/instance:Instance"):
        to_terraform({"resources": [resource("aws:ec2/instance:Instance", "i", {})]}, fake_schema(), region="r")
    with pytest.raises(
        TerraformTranslationError, match=r"aws:ec2/vpc:Vpc 'v'.* no 'cidr_blok' for Pulumi's 'cidrBlok'"
    ):
        to_terraform(
            {"resources": [resource("aws:ec2/vpc:Vpc", "v", {"cidrBlok": "10.0.0.0/16"})]},
            fake_schema(aws_vpc=VPC),
            region="r",
        )


def test_every_type_in_both_plans_is_mapped():
    used = {r["type"] for stack in REGIONS for r in golden(stack)["resources"] if r["custom"]}
    assert used <= set(TERRAFORM_TYPES)


def test_the_plans_are_not_changed_by_translation(provider_schema):
    plan = golden("us")
    before = copy.deepcopy(plan)
    to_terraform(plan, provider_schema, region="us-east-1", references=True)
    assert plan == before
