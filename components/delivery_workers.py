"""DeliveryWorkers: the queue, the sent-mail archive and the autoscaled EC2 workers of one region.

Children (``name`` is the component's name):

- ``{name}-dlq`` and ``{name}-queue``: SQS queues, SSE (SQS-managed keys); the main queue redrives a message
  to the dead-letter queue after ``max_receive_count`` receives. The DLQ keeps messages 14 days.
- ``{name}-archive`` (+ ``-public-access-block``, ``-ownership``, ``-encryption``, ``-versioning``,
  ``-lifecycle``, ``-policy``): the copy of every sent email, private, SSE-S3 (AES256), versioned,
  STANDARD_IA after 30 days, expired after ``archive_retention_days``, TLS-only bucket policy. Under
  ``archive/.queue/`` the messages of jobs too large for SQS (:mod:`smtp_egress.worker.offload`): the worker
  deletes each when its job is finished, the lifecycle expires what is left after 15 days (SQS keeps a message
  14 days at most) and old versions after a day.
- ``{name}-role`` (trust: ec2.amazonaws.com), ``{name}-role-policy`` (only what
  :func:`smtp_egress.components.iam_policies.worker_policy` allows: the queue, the archive (get, put, list),
  delete under ``archive/.queue/``, kms:Decrypt on the SMTP key), ``{name}-instance-profile``; ``{name}-smtp-key``:
  the KMS key of the SMTP passwords' envelope encryption (``EGRESS_SMTP_KMS_KEY``; output ``smtp_key_arn`` for
  ``egress smtp add``).
- ``{name}-ledger-url`` and ``{name}-tracking-keys``: Secrets Manager secrets WITHOUT a value (the ledger URL and
  the tracking key file's text; an operator puts them with ``aws secretsmanager put-secret-value``, so no value is
  ever in the program, its state or the user data), unless ``ledger_url_secret_arn`` / ``tracking_keys_secret_arn``
  name existing ones (the tracker's keyring, say); encrypted with ``secrets_kms_key_arn`` when given, else
  Secrets Manager's AWS managed key. ``{name}-secrets-policy``: the role's ``secretsmanager:GetSecretValue`` on
  exactly those two ARNs (and ``kms:Decrypt`` on ``secrets_kms_key_arn`` for them only). The user data carries
  the ARNs (``EGRESS_DB_SECRET``, ``EGRESS_TRACKING_KEYS_SECRET``); the worker reads the values at start. Until a
  value is put, a worker stops at start naming the secret, and systemd starts it again every 10 s.
- ``{name}-launch-template``: IMDSv2 only (hop limit 1), no public IP, encrypted gp3 root volume, user data =
  cloud-init from :mod:`~smtp_egress.components.worker_host` (the worker's own user, its configuration
  readable by root and that user only, the nftables firewall of :mod:`~smtp_egress.components.worker_firewall`,
  ``smtp-egress-worker.service`` running ``/opt/smtp-egress/bin/egress worker run``). It installs NOTHING:
  the AMI (``packer/``) must carry /opt/smtp-egress; without it cloud-init says so and leaves the worker off.
- ``{name}-asg``: the autoscaling group in the private subnets, on the launch template's latest version, rolling
  instance refresh, EC2 health checks with a 180 s grace period; systemd restarts a worker that exits or (its
  watchdog) hangs, and one that keeps failing marks its instance Unhealthy itself: ``{name}-role-health`` lets the
  role call ``autoscaling:SetInstanceHealth`` on this group only (:mod:`~smtp_egress.components.worker_scaling`);
  ``{name}-scaling``: target tracking on visible messages per in-service instance
  (:mod:`~smtp_egress.components.worker_scaling`).

``dead_letter_alarm`` (not a resource) is the alarm spec for the workers' dead-letter queue: the stack hands it to
the alerts component (:class:`~smtp_egress.components.job_alerts.JobAlerts`), whose topic policy admits it.
``ami_id`` is required and comes from the stack configuration. The AMI pins the version; a new AMI ID rolls the
workers. The workers reach SQS, KMS and S3 through the VPC endpoints, not the internet. ``region`` is the plan's
region name (``us``). Without SSM or CloudWatch permissions, instances offer no shell and ship no logs: deliberate.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi

from smtp_egress.errors import ConfigError
from smtp_egress.worker.offload import EXPIRE_DAYS, QUEUE_FOLDER
from smtp_egress.worker.secrets import SECRET_ARN

from . import aws, iam_policies
from .private_bucket import check_bucket_resource_name, private_bucket
from .silence_alarms import MetricAlarmSpec
from .worker_host import render_user_data
from .worker_scaling import (
    HEALTH_CHECK_GRACE_S,
    instance_health_policy,
    queue_depth_per_instance,
    visibility_problem,
    worker_dead_letter_alarm,
)

ARCHIVE_TRANSITION_DAYS = 30
ARCHIVE_PREFIX = "archive"  # EGRESS_ARCHIVE=s3://<bucket>/archive
LARGE_MESSAGES_PREFIX = f"{ARCHIVE_PREFIX}/{QUEUE_FOLDER}"  # jobs too large for SQS (smtp_egress.worker.offload)
ARCHIVE_STORAGE_CLASS = "STANDARD_IA"
NONCURRENT_VERSION_DAYS = 30
DLQ_RETENTION_SECONDS = 1_209_600  # 14 days, the SQS maximum
SERVICE_NAME = "smtp-egress-worker.service"

WARMUP_S = 180  # a new worker's boot + cloud-init before its metrics count for scaling
STOP_MARGIN_S = 30  # systemd waits a delivery's longest duration + this for a graceful stop
_REGION = re.compile(r"[a-z][a-z0-9-]{0,30}")


@dataclass(frozen=True)
class DeliveryWorkersArgs:
    """``ami_id`` is required: the stack config names it (``smtp-egress:workerAmi``). ``region`` is the plan region."""

    region: str
    ami_id: pulumi.Input[str]
    private_subnet_ids: pulumi.Input[Sequence[pulumi.Input[str]]]
    security_group_id: pulumi.Input[str]
    vpc_cidr: pulumi.Input[str]  # the host firewall allows HTTPS (VPC endpoints) and DNS inside it
    instance_type: str = "t3.small"
    min_size: int = 2
    max_size: int = 4
    desired_capacity: int = 2
    archive_retention_days: int = 400
    message_retention_seconds: int = 345_600  # 4 days
    visibility_timeout_seconds: int = 300
    max_delivery_seconds: int = 120  # the longest one delivery may take (the worker's timeouts bound it)
    messages_per_instance: int = 500  # scaling target: visible messages per in-service worker
    max_receive_count: int = 5
    root_device_name: str = "/dev/xvda"
    root_volume_size_gb: int = 16
    tags: Mapping[str, str] | None = None
    # existing Secrets Manager secrets (stack config workerLedgerSecretArn / workerTrackingKeysSecretArn); None:
    # the component declares them, without a value
    ledger_url_secret_arn: pulumi.Input[str] | None = None
    tracking_keys_secret_arn: pulumi.Input[str] | None = None
    secrets_kms_key_arn: pulumi.Input[str] | None = None  # a customer managed key encrypting them (workerSecretsKmsKey)


def validate(args: DeliveryWorkersArgs) -> None:
    """Raise ConfigError naming every bad value; pure, runs before any resource is declared."""
    p = []
    if not _REGION.fullmatch(args.region):
        p.append(f"region {args.region!r} must be a plan region name such as 'us' (lowercase letters, digits, '-')")
    if isinstance(args.ami_id, str) and not re.fullmatch(r"ami-([0-9a-f]{8}|[0-9a-f]{17})", args.ami_id):
        p.append(f"ami_id {args.ami_id!r} is not an AMI ID such as 'ami-0123456789abcdef0' (stack config names it)")
    if not re.fullmatch(r"[a-z][a-z0-9-]*\.[a-z0-9]+", args.instance_type):
        p.append(f"instance_type {args.instance_type!r} is not an EC2 instance type such as 't3.small'")
    if not (0 <= args.min_size <= args.desired_capacity <= args.max_size and args.max_size >= 1):
        p.append(
            f"sizes min_size={args.min_size!r}, desired_capacity={args.desired_capacity!r}, max_size={args.max_size!r} "
            "must satisfy 0 <= min_size <= desired_capacity <= max_size and max_size >= 1"
        )
    if args.archive_retention_days <= ARCHIVE_TRANSITION_DAYS:
        p.append(
            f"archive_retention_days {args.archive_retention_days!r} must be more than {ARCHIVE_TRANSITION_DAYS} "
            f"(copies move to {ARCHIVE_STORAGE_CLASS} after {ARCHIVE_TRANSITION_DAYS} days)"
        )
    if not 60 <= args.message_retention_seconds <= DLQ_RETENTION_SECONDS // 2:
        p.append(
            f"message_retention_seconds {args.message_retention_seconds!r} must be 60..{DLQ_RETENTION_SECONDS // 2}: "
            "the dead-letter queue (14 days) must keep a failed message at least 7 days after it expires here"
        )
    if not 0 <= args.visibility_timeout_seconds <= 43_200:
        p.append(f"visibility_timeout_seconds {args.visibility_timeout_seconds!r} must be 0..43200")
    visibility = visibility_problem(args.visibility_timeout_seconds, args.max_delivery_seconds)
    if visibility:
        p.append(visibility)
    if not 1 <= args.messages_per_instance <= 100_000:
        p.append(f"messages_per_instance {args.messages_per_instance!r} must be 1..100000")
    if not 1 <= args.max_receive_count <= 1000:
        p.append(f"max_receive_count {args.max_receive_count!r} must be 1..1000")
    if not re.fullmatch(r"/dev/[a-z0-9]+", args.root_device_name):
        p.append(f"root_device_name {args.root_device_name!r} must be the AMI's root device, e.g. '/dev/xvda'")
    if not 8 <= args.root_volume_size_gb <= 1024:
        p.append(f"root_volume_size_gb {args.root_volume_size_gb!r} must be 8..1024")
    for field in ("ledger_url_secret_arn", "tracking_keys_secret_arn"):
        arn = getattr(args, field)
        if isinstance(arn, str) and not SECRET_ARN.fullmatch(arn):
            p.append(
                f"{field} {arn[:120]!r} is not a Secrets Manager secret ARN (arn:aws:secretsmanager:...:secret:...)"
            )
    kms = args.secrets_kms_key_arn
    if isinstance(kms, str) and not re.fullmatch(r"arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[A-Za-z0-9-]{1,128}", kms):
        p.append(f"secrets_kms_key_arn {kms[:120]!r} is not a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID)")
    if p:
        raise ConfigError("DeliveryWorkers: " + "; ".join(p))


def archive_lifecycle_rules(retention_days: int) -> list[aws.s3.BucketLifecycleConfigurationRuleArgsDict]:
    return [
        {
            "id": "archive-sent-mail",
            "status": "Enabled",
            "filter": {"prefix": ""},
            "transitions": [{"days": ARCHIVE_TRANSITION_DAYS, "storage_class": ARCHIVE_STORAGE_CLASS}],
            "expiration": {"days": retention_days},
            "noncurrent_version_expiration": {"noncurrent_days": NONCURRENT_VERSION_DAYS},
            "abort_incomplete_multipart_upload": {"days_after_initiation": 7},
        },
        {  # the messages of large jobs: deleted by the worker when done; what is left outlives every queued job
            "id": "queued-large-messages",
            "status": "Enabled",
            "filter": {"prefix": f"{LARGE_MESSAGES_PREFIX}/"},
            "expiration": {"days": EXPIRE_DAYS},
            "noncurrent_version_expiration": {"noncurrent_days": 1},
            "abort_incomplete_multipart_upload": {"days_after_initiation": 1},
        },
    ]


class DeliveryWorkers(pulumi.ComponentResource):
    queue_url: pulumi.Output[str]
    queue_arn: pulumi.Output[str]
    dlq_url: pulumi.Output[str]
    archive_bucket_name: pulumi.Output[str]
    archive_bucket_arn: pulumi.Output[str]
    role_arn: pulumi.Output[str]
    launch_template_id: pulumi.Output[str]
    asg_name: pulumi.Output[str]
    smtp_key_arn: pulumi.Output[str]
    ledger_secret_arn: pulumi.Output[str]
    tracking_keys_secret_arn: pulumi.Output[str]

    def __init__(self, name: str, args: DeliveryWorkersArgs, opts: pulumi.ResourceOptions | None = None):
        validate(args)
        check_bucket_resource_name(f"{name}-archive")
        super().__init__("smtp-egress:workers:DeliveryWorkers", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = {**(args.tags or {}), "smtp-egress:region": args.region}

        dlq = aws.sqs.Queue(
            f"{name}-dlq",
            message_retention_seconds=DLQ_RETENTION_SECONDS,
            sqs_managed_sse_enabled=True,
            tags=tags,
            opts=child,
        )
        queue = aws.sqs.Queue(
            f"{name}-queue",
            message_retention_seconds=args.message_retention_seconds,
            visibility_timeout_seconds=args.visibility_timeout_seconds,
            sqs_managed_sse_enabled=True,
            redrive_policy=pulumi.Output.json_dumps(
                {"deadLetterTargetArn": dlq.arn, "maxReceiveCount": args.max_receive_count}
            ),
            tags=tags,
            opts=child,
        )

        archive = private_bucket(f"{name}-archive", self, tags)
        bucket = archive.bucket
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-archive-lifecycle",
            bucket=bucket.id,
            rules=archive_lifecycle_rules(args.archive_retention_days),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[archive.versioning]),
        )
        aws.s3.BucketPolicy(
            f"{name}-archive-policy",
            bucket=bucket.id,
            policy=bucket.arn.apply(iam_policies.tls_only_bucket_policy),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[archive.public_access_block]),
        )

        role = aws.iam.Role(
            f"{name}-role",
            assume_role_policy=iam_policies.assume_role_policy("ec2.amazonaws.com"),
            description=f"smtp-egress delivery workers ({args.region})",
            tags=tags,
            opts=child,
        )
        smtp_key = aws.kms.Key(
            f"{name}-smtp-key",
            description=f"smtp-egress: envelope key of the workspaces' SMTP passwords ({args.region})",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            tags=tags,
            opts=child,
        )
        role_policy = aws.iam.RolePolicy(
            f"{name}-role-policy",
            role=role.id,
            policy=pulumi.Output.all(queue.arn, bucket.arn, smtp_key.arn).apply(
                lambda a: iam_policies.worker_policy(a[0], a[1], a[2], LARGE_MESSAGES_PREFIX)
            ),
            opts=child,
        )
        secrets = self._secrets(name, args, tags)
        secrets_policy = aws.iam.RolePolicy(
            f"{name}-secrets-policy",
            role=role.id,
            policy=pulumi.Output.all(args.secrets_kms_key_arn, *secrets).apply(
                lambda a: iam_policies.worker_secrets_policy(a[1:], a[0])
            ),
            opts=child,
        )
        profile = aws.iam.InstanceProfile(f"{name}-instance-profile", role=role.name, tags=tags, opts=child)

        user_data = pulumi.Output.all(queue.url, bucket.bucket, args.vpc_cidr, smtp_key.arn, *secrets).apply(
            lambda v: base64.b64encode(
                render_user_data(
                    region=args.region,
                    queue=v[0],
                    archive=f"s3://{v[1]}/{ARCHIVE_PREFIX}",
                    vpc_cidr=v[2],
                    smtp_kms_key=v[3],
                    ledger_secret=v[4],
                    tracking_keys_secret=v[5],
                    stop_timeout=args.max_delivery_seconds + STOP_MARGIN_S,
                ).encode()
            ).decode()
        )
        template = aws.ec2.LaunchTemplate(
            f"{name}-launch-template",
            image_id=args.ami_id,
            instance_type=args.instance_type,
            iam_instance_profile={"arn": profile.arn},
            metadata_options={
                "http_endpoint": "enabled",
                "http_tokens": "required",
                "http_put_response_hop_limit": 1,
                "instance_metadata_tags": "disabled",
            },
            network_interfaces=[
                {
                    "device_index": 0,
                    "associate_public_ip_address": "false",
                    "delete_on_termination": "true",
                    "security_groups": [args.security_group_id],
                }
            ],
            block_device_mappings=[
                {
                    "device_name": args.root_device_name,
                    "ebs": {
                        "encrypted": "true",
                        "volume_type": "gp3",
                        "volume_size": args.root_volume_size_gb,
                        "delete_on_termination": "true",
                    },
                }
            ],
            user_data=user_data,
            update_default_version=True,
            tag_specifications=[{"resource_type": "volume", "tags": tags}],
            tags=tags,
            opts=child,
        )
        asg = aws.autoscaling.Group(
            f"{name}-asg",
            vpc_zone_identifiers=args.private_subnet_ids,
            min_size=args.min_size,
            max_size=args.max_size,
            desired_capacity=args.desired_capacity,
            launch_template={"id": template.id, "version": template.latest_version.apply(str)},
            health_check_type="EC2",
            health_check_grace_period=HEALTH_CHECK_GRACE_S,
            metrics_granularity="1Minute",
            enabled_metrics=[aws.autoscaling.Metric.GROUP_IN_SERVICE_INSTANCES],
            instance_refresh={"strategy": "Rolling", "preferences": {"min_healthy_percentage": 50}},
            tags=[
                {"key": k, "value": v, "propagate_at_launch": True}
                for k, v in sorted({**tags, "Name": f"{name}-worker"}.items())
            ],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[role_policy, secrets_policy]),
        )

        aws.iam.RolePolicy(
            f"{name}-role-health",
            role=role.id,
            policy=asg.arn.apply(instance_health_policy),
            opts=child,
        )
        aws.autoscaling.Policy(
            f"{name}-scaling",
            autoscaling_group_name=asg.name,
            policy_type="TargetTrackingScaling",
            estimated_instance_warmup=WARMUP_S,
            target_tracking_configuration=pulumi.Output.all(queue.name, asg.name).apply(
                lambda v: queue_depth_per_instance(v[0], v[1], args.messages_per_instance)
            ),
            opts=child,
        )

        self.dead_letter_alarm: MetricAlarmSpec = worker_dead_letter_alarm(args.region, dlq.name)
        self.smtp_key_arn = smtp_key.arn
        self.ledger_secret_arn, self.tracking_keys_secret_arn = secrets
        self.queue_url = queue.url
        self.queue_arn = queue.arn
        self.dlq_url = dlq.url
        self.archive_bucket_name = bucket.bucket
        self.archive_bucket_arn = bucket.arn
        self.role_arn = role.arn
        self.launch_template_id = template.id
        self.asg_name = asg.name
        self.register_outputs(
            {
                "queue_url": self.queue_url,
                "queue_arn": self.queue_arn,
                "dlq_url": self.dlq_url,
                "archive_bucket_name": self.archive_bucket_name,
                "archive_bucket_arn": self.archive_bucket_arn,
                "role_arn": self.role_arn,
                "launch_template_id": self.launch_template_id,
                "asg_name": self.asg_name,
                "smtp_key_arn": self.smtp_key_arn,
                "ledger_secret_arn": self.ledger_secret_arn,
                "tracking_keys_secret_arn": self.tracking_keys_secret_arn,
            }
        )

    def _secrets(
        self, name: str, args: DeliveryWorkersArgs, tags: Mapping[str, str]
    ) -> tuple[pulumi.Output[str], pulumi.Output[str]]:
        """The ARNs of the ledger URL's and the tracking keys' secrets: the given ones, else new secrets without a
        value (never a SecretVersion here: the values stay out of the program and its state)."""
        arns = []
        for key, given, what in (
            ("ledger-url", args.ledger_url_secret_arn, "the ledger URL (EGRESS_DB_SECRET)"),
            (
                "tracking-keys",
                args.tracking_keys_secret_arn,
                "the tracking key file's text (EGRESS_TRACKING_KEYS_SECRET)",
            ),
        ):
            arn = given
            if arn is None:
                arn = aws.secretsmanager.Secret(
                    f"{name}-{key}",
                    description=f"smtp-egress delivery workers ({args.region}): {what}; "
                    "put the value with aws secretsmanager put-secret-value",
                    kms_key_id=args.secrets_kms_key_arn,
                    tags=tags,
                    opts=pulumi.ResourceOptions(parent=self),
                ).arn
            arns.append(pulumi.Output.from_input(arn))
        return arns[0], arns[1]
