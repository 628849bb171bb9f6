"""IAM and bucket policy documents as pure functions of ARNs (tested without Pulumi).

Components call these inside ``Output.all(...).apply(...)`` once the ARNs are known. Every function
refuses an ARN that is not one (``None`` from an unknown output, an empty string, a bucket name where
an ARN belongs), because a policy with a wrong ``Resource`` either fails at deploy time or, worse,
grants something nobody reviewed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

VERSION = "2012-10-17"

# What a delivery worker may do, and nothing else.
WORKER_QUEUE_ACTIONS = (
    "sqs:ChangeMessageVisibility",
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
    "sqs:ReceiveMessage",
)
# GetObject: the worker asks whether a job it receives again was archived (a HEAD request) before delivering it;
# ListBucket makes that question answer 404 for a missing entry, where S3 answers 403 without it.
WORKER_ARCHIVE_ACTIONS = ("s3:GetObject", "s3:PutObject")
WORKER_LARGE_MESSAGE_ACTIONS = ("s3:DeleteObject", "s3:GetObject")

_ECR_IMAGE = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/"
    r"(?P<repo>[a-z0-9][a-z0-9._/-]*?)(?::[\w.-]+)?(?:@sha256:[0-9a-f]{64})?$"
)


def require_arn(value, what: str) -> str:
    if not isinstance(value, str) or not value.startswith("arn:") or any(c.isspace() for c in value):
        raise ValueError(f"{what} must be an ARN (arn:...), got {value!r}")
    return value


def document(statements: Sequence[dict]) -> str:
    """The policy JSON, keys sorted so that an unchanged policy never shows a diff."""
    return json.dumps({"Version": VERSION, "Statement": list(statements)}, sort_keys=True)


def assume_role_policy(service: str, source_account: str | None = None) -> str:
    """Trust policy for one AWS service; ``source_account`` adds the confused-deputy guard (aws:SourceAccount)."""
    if not re.fullmatch(r"[a-z0-9.-]+\.amazonaws\.com", service):
        raise ValueError(f"service must be a service principal such as 'ec2.amazonaws.com', got {service!r}")
    statement = {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
    if source_account is not None:
        if not re.fullmatch(r"\d{12}", str(source_account)):
            raise ValueError(f"source_account must be a 12-digit AWS account ID, got {source_account!r}")
        statement["Condition"] = {"StringEquals": {"aws:SourceAccount": str(source_account)}}
    return document([statement])


def worker_policy(queue_arn: str, archive_bucket_arn: str, smtp_key_arn: str, large_messages_prefix: str) -> str:
    """The delivery worker's only permissions: consume the main queue, write sent-mail copies to the archive,
    read and delete the messages of jobs too large for SQS under ``large_messages_prefix`` of the archive bucket
    (the enqueuer, not the worker, puts them there), decrypt the SMTP passwords' data keys with the SMTP key
    (envelope encryption; it never encrypts)."""
    bucket = require_arn(archive_bucket_arn, "archive_bucket_arn")
    return document(
        [
            {
                "Sid": "ConsumeDeliveryQueue",
                "Effect": "Allow",
                "Action": list(WORKER_QUEUE_ACTIONS),
                "Resource": require_arn(queue_arn, "queue_arn"),
            },
            {
                "Sid": "ArchiveSentMail",
                "Effect": "Allow",
                "Action": list(WORKER_ARCHIVE_ACTIONS),
                "Resource": f"{bucket}/*",
            },
            {"Sid": "FindArchivedMail", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": bucket},
            {
                "Sid": "FetchLargeJobMessages",
                "Effect": "Allow",
                "Action": list(WORKER_LARGE_MESSAGE_ACTIONS),
                "Resource": f"{bucket}/{large_messages_prefix.strip('/')}/*",
            },
            {
                "Sid": "DecryptSmtpPasswords",
                "Effect": "Allow",
                "Action": ["kms:Decrypt"],
                "Resource": require_arn(smtp_key_arn, "smtp_key_arn"),
            },
        ]
    )


def worker_secrets_policy(secret_arns: Sequence[str], kms_key_arn: str | None = None) -> str:
    """The delivery worker's read of its own secrets (the ledger URL, the tracking keys): GetSecretValue on exactly
    these ARNs; with a customer managed key encrypting them, kms:Decrypt on that key only for these secrets (the
    encryption context Secrets Manager sends names the secret)."""
    arns = sorted(require_arn(a, "secret ARN") for a in secret_arns)
    if not arns:
        raise ValueError("worker_secrets_policy needs at least one secret ARN")
    statements: list[dict] = [
        {"Sid": "ReadWorkerSecrets", "Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": arns}
    ]
    if kms_key_arn is not None:
        statements.append(
            {
                "Sid": "DecryptWorkerSecrets",
                "Effect": "Allow",
                "Action": "kms:Decrypt",
                "Resource": require_arn(kms_key_arn, "kms_key_arn"),
                "Condition": {"StringEquals": {"kms:EncryptionContext:SecretARN": arns}},
            }
        )
    return document(statements)


def deny_insecure_transport(bucket_arn: str) -> dict:
    """Bucket policy statement refusing every request not made over TLS."""
    arn = require_arn(bucket_arn, "bucket_arn")
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [arn, f"{arn}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def tls_only_bucket_policy(bucket_arn: str) -> str:
    return document([deny_insecure_transport(bucket_arn)])


def cloudfront_read_policy(bucket_arn: str, distribution_arn: str) -> str:
    """Only this one CloudFront distribution (through its origin access control) may read objects."""
    arn = require_arn(bucket_arn, "bucket_arn")
    return document(
        [
            {
                "Sid": "AllowCloudFrontRead",
                "Effect": "Allow",
                "Principal": {"Service": "cloudfront.amazonaws.com"},
                "Action": "s3:GetObject",
                "Resource": f"{arn}/*",
                "Condition": {"StringEquals": {"AWS:SourceArn": require_arn(distribution_arn, "distribution_arn")}},
            },
            deny_insecure_transport(arn),
        ]
    )


def ecr_repository_arn(image: str) -> str | None:
    """The ECR repository ARN of an image reference, or None for an image hosted elsewhere (no ECR rights needed)."""
    m = _ECR_IMAGE.match(image)
    if not m:
        return None
    partition = "aws-cn" if ".amazonaws.com.cn/" in image else "aws"
    return f"arn:{partition}:ecr:{m['region']}:{m['account']}:repository/{m['repo']}"


def task_execution_policy(log_group_arn: str, secret_arns: Sequence[str], ecr_repository: str | None) -> str:
    """What ECS needs to start the task: pull its image, write its logs, read exactly its secrets."""
    statements: list[dict] = []
    if ecr_repository is not None:
        statements += [
            {"Sid": "EcrAuth", "Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"},
            {
                "Sid": "EcrPull",
                "Effect": "Allow",
                "Action": ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
                "Resource": require_arn(ecr_repository, "ecr_repository"),
            },
        ]
    statements.append(
        {
            "Sid": "WriteLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": f"{require_arn(log_group_arn, 'log_group_arn')}:log-stream:*",
        }
    )
    if secret_arns:
        statements.append(
            {
                "Sid": "ReadJobSecrets",
                "Effect": "Allow",
                "Action": "secretsmanager:GetSecretValue",
                "Resource": sorted(require_arn(a, "secret ARN") for a in secret_arns),
            }
        )
    return document(statements)


def scheduler_policy(
    task_definition_arn: str, cluster_arn: str, pass_role_arns: Sequence[str], dead_letter_arn: str | None = None
) -> str:
    """EventBridge Scheduler may run this task definition on this cluster and pass exactly its two roles."""
    statements = [
        {
            "Sid": "RunNoticeTask",
            "Effect": "Allow",
            "Action": "ecs:RunTask",
            "Resource": require_arn(task_definition_arn, "task_definition_arn"),
            "Condition": {"ArnEquals": {"ecs:cluster": require_arn(cluster_arn, "cluster_arn")}},
        },
        {
            "Sid": "PassTaskRoles",
            "Effect": "Allow",
            "Action": "iam:PassRole",
            "Resource": sorted(require_arn(a, "role ARN") for a in pass_role_arns),
            "Condition": {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
        },
    ]
    if dead_letter_arn is not None:
        statements.append(
            {
                "Sid": "DeadLetter",
                "Effect": "Allow",
                "Action": "sqs:SendMessage",
                "Resource": require_arn(dead_letter_arn, "dead_letter_arn"),
            }
        )
    return document(statements)


# What the daily task (egress daily) may do on EC2 for `pulumi up --target` of the NAT gateways: add and remove
# their secondary addresses, and read them back. Describe* cannot be limited to resources (Resource "*").
DAILY_NAT_ACTIONS = ("ec2:AssociateNatGatewayAddress", "ec2:DisassociateNatGatewayAddress")
DAILY_DESCRIBE_ACTIONS = ("ec2:DescribeAddresses", "ec2:DescribeNatGateways")


def daily_task_policy(
    *,
    publish_bucket_arn: str,
    publish_prefix: str,
    distribution_arn: str,
    state_bucket_arn: str,
    state_prefix: str,
    nat_gateway_arns: Sequence[str],
    elastic_ip_arns: Sequence[str],
    network_interfaces_arn: str,
    secrets_kms_key_arn: str | None = None,
) -> str:
    """The daily task's role: publish the region's tree (its prefix of the publisher bucket, invalidations of its
    distribution), read and write the stack's state (the Pulumi backend's prefix), and move addresses on and off
    the region's NAT gateways; with an ``awskms`` secrets provider, use its key."""
    bucket, state = require_arn(publish_bucket_arn, "publish_bucket_arn"), require_arn(state_bucket_arn, "state")
    state_objects = f"{state_prefix.strip('/')}/*" if state_prefix.strip("/") else "*"
    statements: list[dict] = [
        {
            "Sid": "PublishObjects",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject"],
            "Resource": f"{bucket}/{publish_prefix}*",
        },
        {
            "Sid": "PublishUnsign",  # the one object the upload deletes: the signature of a tree no longer signed
            "Effect": "Allow",
            "Action": "s3:DeleteObject",
            "Resource": f"{bucket}/{publish_prefix}v1/info/ip_addresses.sig",
        },
        {
            "Sid": "PublishList",
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": bucket,
            "Condition": {"StringLike": {"s3:prefix": [f"{publish_prefix}*"]}},
        },
        {
            "Sid": "Invalidate",
            "Effect": "Allow",
            # list and get: the latest invalidation says whether the edges may still cache an earlier tree
            "Action": ["cloudfront:CreateInvalidation", "cloudfront:GetInvalidation", "cloudfront:ListInvalidations"],
            "Resource": require_arn(distribution_arn, "distribution_arn"),
        },
        {
            "Sid": "StackState",
            "Effect": "Allow",
            "Action": ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"],
            "Resource": f"{state}/{state_objects}",
        },
        {
            "Sid": "StackStateList",
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": state,
            "Condition": {"StringLike": {"s3:prefix": [state_objects]}},
        },
        {"Sid": "ReadGateways", "Effect": "Allow", "Action": list(DAILY_DESCRIBE_ACTIONS), "Resource": "*"},
        {
            "Sid": "GatewayAddresses",
            "Effect": "Allow",
            "Action": list(DAILY_NAT_ACTIONS),
            "Resource": sorted(
                [
                    *(require_arn(a, "NAT gateway ARN") for a in nat_gateway_arns),
                    *(require_arn(a, "Elastic IP ARN") for a in elastic_ip_arns),
                    require_arn(network_interfaces_arn, "network_interfaces_arn"),
                ]
            ),
        },
    ]
    if secrets_kms_key_arn is not None:
        statements.append(
            {
                "Sid": "StackSecrets",
                "Effect": "Allow",
                "Action": ["kms:Decrypt", "kms:Encrypt"],
                "Resource": require_arn(secrets_kms_key_arn, "secrets_kms_key_arn"),
            }
        )
    return document(statements)
