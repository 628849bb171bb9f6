"""What :class:`~smtp_egress.components.notice_schedule.NoticeSchedule` adds when its task runs the whole day's work
(``egress daily``: notify, publish, the gateways, publish again) rather than ``egress notify`` alone.

* the command (:func:`command`): ``egress daily --region R --stack S --published URL --upload s3://BUCKET/R
  --invalidate DISTRIBUTION_ID --json``: the publish steps upload the region's tree to the publisher bucket (its
  ``R/`` prefix is the distribution's origin path) and invalidate the changed paths, so what the day decided is what
  customers fetch; the image's working folder is the Pulumi project (``Pulumi.yaml``, ``stacks/``);
* ``PULUMI_BACKEND_URL`` (the stack's state backend, ``s3://BUCKET/PREFIX``) in the task's plain environment, and a
  scratch volume at ``/tmp`` (the root filesystem stays read-only; the Pulumi CLI writes there);
* the task role's one policy (:func:`task_role_policy`, :func:`smtp_egress.components.iam_policies.daily_task_policy`):
  the region's prefix of the publisher bucket, its distribution's invalidations, the state backend's prefix, and the
  region's NAT gateways' secondary addresses (what ``pulumi up --target`` of the gateways does), nothing else.

Assumptions, documented in README ("Operations"): the Pulumi backend is a DIY S3 backend, and the stack's secrets
use a passphrase (``PULUMI_CONFIG_PASSPHRASE``, given as one of the task's secrets) or an ``awskms`` key
(``secrets_kms_key_arn``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi

from . import iam_policies

STATE_BACKEND = re.compile(r"s3://(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?P<prefix>/[\w./-]*)?")
SCRATCH = "/tmp"


@dataclass(frozen=True)
class DailyTaskArgs:
    """``stack``: the region's stack; ``state_backend``: ``s3://BUCKET/PREFIX`` (PULUMI_BACKEND_URL); the publisher's
    bucket and distribution, and the region's NAT gateways and Elastic IPs (their IDs, Outputs allowed)."""

    stack: str
    state_backend: str
    publish_bucket_name: pulumi.Input[str]
    distribution_id: pulumi.Input[str]
    nat_gateway_ids: Sequence[pulumi.Input[str]]
    allocation_ids: Sequence[pulumi.Input[str]]
    secrets_kms_key_arn: str | None = None


def problems(args: DailyTaskArgs) -> list[str]:
    p = []
    if not re.fullmatch(r"[a-z][a-z0-9-]{0,30}", args.stack):
        p.append(f"daily.stack {args.stack!r} must be a stack name such as 'us'")
    if not STATE_BACKEND.fullmatch(args.state_backend):
        p.append(
            f"daily.state_backend {args.state_backend[:200]!r} must be the stack's S3 state backend, "
            "s3://BUCKET/PREFIX (what PULUMI_BACKEND_URL says)"
        )
    if args.secrets_kms_key_arn is not None and not args.secrets_kms_key_arn.startswith("arn:"):
        p.append(f"daily.secrets_kms_key_arn {args.secrets_kms_key_arn[:200]!r} must be a KMS key ARN")
    return p


def state_bucket(state_backend: str) -> str:
    """The bucket of an ``s3://BUCKET/PREFIX`` state backend (checked by :func:`problems`)."""
    m = STATE_BACKEND.fullmatch(state_backend)
    assert m is not None, "problems() refuses a state backend it cannot read"
    return m["bucket"]


def command(
    region: str, stack: str, published_url: str, bucket: str, distribution_id: str, plan_path: str | None = None
) -> list[str]:
    """The task's ``egress daily`` command: it publishes to ``s3://bucket/region`` (the publisher's origin path) and
    invalidates ``distribution_id``."""
    plan = ["--plan", plan_path] if plan_path else []
    return [
        "egress",
        "daily",
        "--region",
        region,
        "--stack",
        stack,
        "--published",
        published_url,
        "--upload",
        f"s3://{bucket}/{region}",
        "--invalidate",
        distribution_id,
        *plan,
        "--json",
    ]


def task_role_policy(args: DailyTaskArgs, region: str, account: pulumi.Input[str], aws_region: pulumi.Input[str]):
    """The task role's policy document (an Output), from the IDs once they are known."""
    m = STATE_BACKEND.fullmatch(args.state_backend)
    assert m is not None  # problems() refused it before any resource
    state_bucket, state_prefix = m["bucket"], (m["prefix"] or "").strip("/")
    n_nat = len(args.nat_gateway_ids)
    return pulumi.Output.all(
        account, aws_region, args.publish_bucket_name, args.distribution_id, *args.nat_gateway_ids, *args.allocation_ids
    ).apply(
        lambda v: iam_policies.daily_task_policy(
            publish_bucket_arn=f"arn:aws:s3:::{v[2]}",
            publish_prefix=f"{region}/",
            distribution_arn=f"arn:aws:cloudfront::{v[0]}:distribution/{v[3]}",
            state_bucket_arn=f"arn:aws:s3:::{state_bucket}",
            state_prefix=state_prefix,
            nat_gateway_arns=[f"arn:aws:ec2:{v[1]}:{v[0]}:natgateway/{i}" for i in v[4 : 4 + n_nat]],
            elastic_ip_arns=[f"arn:aws:ec2:{v[1]}:{v[0]}:elastic-ip/{i}" for i in v[4 + n_nat :]],
            network_interfaces_arn=f"arn:aws:ec2:{v[1]}:{v[0]}:network-interface/*",
            secrets_kms_key_arn=args.secrets_kms_key_arn,
        )
    )
