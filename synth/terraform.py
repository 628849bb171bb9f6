"""A synth plan as Terraform JSON, so the real AWS provider (the one pulumi-aws bridges) can check every value.

``egress synth`` records what a stack declares with Pulumi's names (``aws:ec2/securityGroup:SecurityGroup``,
``fromPort``). The Terraform AWS provider under pulumi-aws holds the rules AWS applies to those values (enums,
lengths, the characters a security-group rule description may hold, JSON documents), and ``terraform validate``
runs them offline with no credentials. :func:`to_terraform` turns a plan into a ``main.tf.json`` document:

* each custom resource's type goes through :data:`TERRAFORM_TYPES` (a token missing from it is an error, so a new
  kind of resource is mapped on purpose, never skipped);
* each property name goes camelCase -> snake_case and is looked up in the provider's own schema (the output of
  ``terraform providers schema -json``); Pulumi names a repeated block in the plural where Terraform uses the
  singular (``rules`` -> ``rule``), so the singular is tried too; a property the schema does not know is an error;
* values stay literal (Terraform then checks them, as pulumi-aws would at ``pulumi up``), with ``${`` and ``%{``
  escaped; with ``references=True`` a value equal to another resource's ID becomes a reference to it, as a real
  deployment has it (what ``terraform plan`` needs to order the resources);
* a ``name`` the provider requires and the plan leaves to Pulumi's auto-naming gets a Pulumi-style name.

Components (``smtp-egress:...``) declare nothing in AWS and are left out.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

from smtp_egress.errors import EgressError

PROVIDER = "registry.terraform.io/hashicorp/aws"

# Pulumi type token -> Terraform resource type (pulumi-aws's own mapping, for the types the stacks declare).
TERRAFORM_TYPES: Mapping[str, str] = {
    "aws:autoscaling/group:Group": "aws_autoscaling_group",
    "aws:autoscaling/policy:Policy": "aws_autoscaling_policy",
    "aws:cloudfront/distribution:Distribution": "aws_cloudfront_distribution",
    "aws:cloudfront/originAccessControl:OriginAccessControl": "aws_cloudfront_origin_access_control",
    "aws:cloudwatch/eventRule:EventRule": "aws_cloudwatch_event_rule",
    "aws:cloudwatch/eventTarget:EventTarget": "aws_cloudwatch_event_target",
    "aws:cloudwatch/logGroup:LogGroup": "aws_cloudwatch_log_group",
    "aws:cloudwatch/metricAlarm:MetricAlarm": "aws_cloudwatch_metric_alarm",
    "aws:ec2/eip:Eip": "aws_eip",
    "aws:ec2/internetGateway:InternetGateway": "aws_internet_gateway",
    "aws:ec2/launchTemplate:LaunchTemplate": "aws_launch_template",
    "aws:ec2/natGateway:NatGateway": "aws_nat_gateway",
    "aws:ec2/networkAcl:NetworkAcl": "aws_network_acl",
    "aws:ec2/route:Route": "aws_route",
    "aws:ec2/routeTable:RouteTable": "aws_route_table",
    "aws:ec2/routeTableAssociation:RouteTableAssociation": "aws_route_table_association",
    "aws:ec2/securityGroup:SecurityGroup": "aws_security_group",
    "aws:ec2/subnet:Subnet": "aws_subnet",
    "aws:ec2/vpc:Vpc": "aws_vpc",
    "aws:ec2/vpcEndpoint:VpcEndpoint": "aws_vpc_endpoint",
    "aws:ec2/vpcEndpointPolicy:VpcEndpointPolicy": "aws_vpc_endpoint_policy",
    "aws:ecs/cluster:Cluster": "aws_ecs_cluster",
    "aws:ecs/taskDefinition:TaskDefinition": "aws_ecs_task_definition",
    "aws:iam/instanceProfile:InstanceProfile": "aws_iam_instance_profile",
    "aws:iam/policy:Policy": "aws_iam_policy",
    "aws:iam/role:Role": "aws_iam_role",
    "aws:iam/rolePolicy:RolePolicy": "aws_iam_role_policy",
    "aws:kms/key:Key": "aws_kms_key",
    "aws:route53/record:Record": "aws_route53_record",
    "aws:s3/bucket:Bucket": "aws_s3_bucket",
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": "aws_s3_bucket_lifecycle_configuration",
    "aws:s3/bucketObjectv2:BucketObjectv2": "aws_s3_object",
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": "aws_s3_bucket_ownership_controls",
    "aws:s3/bucketPolicy:BucketPolicy": "aws_s3_bucket_policy",
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": "aws_s3_bucket_public_access_block",
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": (
        "aws_s3_bucket_server_side_encryption_configuration"
    ),
    "aws:s3/bucketVersioning:BucketVersioning": "aws_s3_bucket_versioning",
    "aws:scheduler/schedule:Schedule": "aws_scheduler_schedule",
    "aws:secretsmanager/secret:Secret": "aws_secretsmanager_secret",
    "aws:secretsmanager/secretVersion:SecretVersion": "aws_secretsmanager_secret_version",
    "aws:sns/topic:Topic": "aws_sns_topic",
    "aws:sns/topicPolicy:TopicPolicy": "aws_sns_topic_policy",
    "aws:sns/topicSubscription:TopicSubscription": "aws_sns_topic_subscription",
    "aws:sqs/queue:Queue": "aws_sqs_queue",
    "aws:sqs/queuePolicy:QueuePolicy": "aws_sqs_queue_policy",
}

# Properties pulumi-aws renames beyond camelCase and plurals: (Terraform type, Pulumi name) -> Terraform name.
RENAMED: Mapping[tuple[str, str], str] = {
    ("aws_sns_topic_subscription", "topic"): "topic_arn",
    ("aws_cloudwatch_metric_alarm", "name"): "alarm_name",  # Pulumi auto-names it as ``name``
}

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_NOT_IDENT = re.compile(r"[^A-Za-z0-9_-]")
Json = Any  # a JSON value as the plan and Terraform's JSON syntax hold it


class TerraformTranslationError(EgressError):
    """The plan holds a resource type or property this translator or the provider's schema does not know."""


def snake(name: str) -> str:
    """``ipv6CidrBlocks`` -> ``ipv6_cidr_blocks``: Pulumi's input name as Terraform spells it."""
    return _CAMEL.sub("_", name).lower()


def to_terraform(
    plan: Mapping[str, Json], schema: Mapping[str, Json], *, region: str, references: bool = False
) -> dict[str, Json]:
    """The plan's custom resources as a Terraform JSON document for the hashicorp/aws provider in ``schema``.

    ``schema`` is ``terraform providers schema -json``'s output. Raises :class:`TerraformTranslationError`
    naming the resource and property when something has no Terraform counterpart."""
    resource_schemas = schema["provider_schemas"][PROVIDER]["resource_schemas"]
    custom = [r for r in plan["resources"] if r.get("custom")]
    names = _terraform_names(custom)
    by_id = {
        r["id"]: f"${{{TERRAFORM_TYPES[r['type']]}.{names[r['urn']]}.id}}"
        for r in custom
        if references and r.get("id") and r["type"] in TERRAFORM_TYPES
    }
    resources: dict[str, dict[str, Json]] = {}
    for resource in custom:
        tf_type = TERRAFORM_TYPES.get(resource["type"])
        if tf_type is None:
            raise TerraformTranslationError(
                f"{resource['urn']}: no Terraform type is known for {resource['type']!r}; "
                "add it to TERRAFORM_TYPES (smtp_egress.synth.terraform)"
            )
        block = resource_schemas[tf_type]["block"]
        where = f"{resource['type']} {resource['name']!r}"
        inputs = {RENAMED.get((tf_type, key), key): value for key, value in resource["inputs"].items()}
        body = _block(inputs, block, where, by_id)
        _autoname(body, block, resource, RENAMED.get((tf_type, "name"), "name"))
        resources.setdefault(tf_type, {})[names[resource["urn"]]] = body
    return {
        "terraform": {"required_providers": {"aws": {"source": "hashicorp/aws"}}},
        "provider": {
            "aws": {
                "region": region,
                "skip_credentials_validation": True,
                "skip_requesting_account_id": True,
                "skip_metadata_api_check": True,
            }
        },
        "resource": resources,
    }


def _terraform_names(resources: list[Mapping[str, Json]]) -> dict[str, str]:
    """URN -> a unique Terraform resource name derived from the Pulumi name."""
    names: dict[str, str] = {}
    taken: set[tuple[str, str]] = set()
    for resource in resources:
        base = _NOT_IDENT.sub("_", resource["name"])
        if not re.match(r"[A-Za-z_]", base):
            base = f"r_{base}"
        name, n = base, 1
        while (resource["type"], name) in taken:
            n += 1
            name = f"{base}_{n}"
        taken.add((resource["type"], name))
        names[resource["urn"]] = name
    return names


def _block(values: Mapping[str, Json], block: Mapping[str, Json], where: str, by_id: Mapping[str, str]) -> dict:
    attributes = block.get("attributes", {})
    blocks = block.get("block_types", {})
    out: dict[str, Json] = {}
    for key, value in values.items():
        name = _schema_name(key, attributes, blocks, where)
        if value is None:
            continue
        if name in blocks:
            nested = blocks[name]["block"]
            items = value if isinstance(value, list) else [value]
            out[name] = [_block(item, nested, f"{where}.{key}", by_id) for item in items]
        elif "nested_type" in attributes[name]:
            nested_type = attributes[name]["nested_type"]
            inner = {"attributes": nested_type["attributes"]}
            if isinstance(value, list):
                out[name] = [_block(item, inner, f"{where}.{key}", by_id) for item in value]
            else:
                out[name] = _block(value, inner, f"{where}.{key}", by_id)
        elif _object_type(attributes[name]["type"]) is not None:
            out[name] = _objects(value, attributes[name]["type"], f"{where}.{key}", by_id)
        else:
            out[name] = _literal(value, by_id)
    return out


def _object_type(cty: Json) -> Mapping[str, Json] | None:
    """The attribute types of an object, or of a list or set of objects (Terraform's type notation)."""
    if isinstance(cty, list) and cty[0] in ("list", "set"):
        cty = cty[1]
    if isinstance(cty, list) and cty[0] == "object":
        return dict(cty[1])
    return None


def _objects(value: Json, cty: Json, where: str, by_id: Mapping[str, str]) -> Json:
    """An object-typed attribute (a security group's ``egress``, say): Terraform's JSON syntax wants every key
    of each object, so the ones the plan leaves out are given as null."""
    fields = _object_type(cty) or {}
    as_block = {"attributes": {field: {"type": field_type} for field, field_type in fields.items()}}

    def one(item: Mapping[str, Json]) -> dict[str, Json]:
        given = _block(item, as_block, where, by_id)
        return {field: given.get(field) for field in fields}

    return [one(item) for item in value] if isinstance(value, list) else one(value)


def _schema_name(key: str, attributes: Mapping[str, Json], blocks: Mapping[str, Json], where: str) -> str:
    name = snake(key)
    candidates = [name]
    if name.endswith("ies"):
        candidates.append(name[:-3] + "y")
    if name.endswith("s"):
        candidates.append(name[:-1])
    for candidate in candidates:
        if candidate in attributes or candidate in blocks:
            return candidate
    raise TerraformTranslationError(
        f"{where}: the provider's schema has no {' or '.join(map(repr, candidates))} for Pulumi's {key!r}"
    )


def _literal(value: Json, by_id: Mapping[str, str]) -> Json:
    """A plan value in Terraform's JSON syntax: template sequences escaped, other resources' IDs referenced."""
    if isinstance(value, str):
        if value in by_id:
            return by_id[value]
        return value.replace("${", "$${").replace("%{", "%%{")
    if isinstance(value, list):
        return [_literal(item, by_id) for item in value]
    if isinstance(value, dict):
        return {key: _literal(item, by_id) for key, item in value.items()}
    return value


def _autoname(body: dict[str, Json], block: Mapping[str, Json], resource: Mapping[str, Json], key: str) -> None:
    """Fill a required name (``key``: ``name``, or what the provider calls it) the plan leaves to Pulumi's
    auto-naming (``<name>-<7 hex>``)."""
    name_attribute = block.get("attributes", {}).get(key, {})
    if name_attribute.get("required") and key not in body:
        suffix = hashlib.sha256(resource["urn"].encode()).hexdigest()[:7]
        body[key] = f"{resource['name']}-{suffix}"
