"""NoticeSchedule: the daily job of one region, an ECS Fargate task run by EventBridge Scheduler: ``egress notify``,
or with ``daily`` the whole day's work, ``egress daily`` (notify, publish, the gateways, publish again).

Why ECS Fargate and not Lambda: the job is the real ``egress`` command line, and a container image carries it
with every dependency (SQLAlchemy, psycopg, jinja2, pulumi, pulumi-aws: about 450 MB installed, beyond
Lambda's 250 MB unzipped limit for zip packages); the same image runs the same command on a laptop
(``docker run IMAGE egress notify ...``), so what runs daily is what was tested, exit codes included. A
Fargate task has no 15-minute ceiling (a fan-out to many workspaces with SMTP retries and backoff may need
longer), needs no handler wrapper, and keeps no state: the ledger is PostgreSQL (``EGRESS_DB``) and notices
leave over SMTP (``EGRESS_SMTP_URL``), so the container's root filesystem is read-only.

Secrets (``secrets``: ``EGRESS_DB`` and every notice channel's stack secret, as the channels declare them in
:mod:`smtp_egress.notices.channels`: ``EGRESS_SMTP_URL`` required, ``EGRESS_WEBHOOK_SECRET`` when a
workspace has a webhook) are stored in Secrets Manager secrets created here and reach the container through
the task definition's ``secrets`` (``valueFrom`` = the secret's ARN), never its plain ``environment``; only
each ``SecretVersion`` holds a value, as a Pulumi secret. Plain settings: ``EGRESS_FROM`` is ``sender``
(required: notices never come from the CLI's placeholder ``ip-notices@localhost``), ``EGRESS_BASE_URL`` (the
host linked from notices) defaults to the scheme and host of ``published_url``.

Children (``name`` is the component's name; ``<env>`` is the variable in lower case with '-'):
``{name}-cluster`` (only when ``cluster_arn`` is None), ``{name}-secret-<env>`` and ``{name}-secret-<env>-version``
per secret, ``{name}-logs`` (retention 400 days), ``{name}-execution-role`` + ``-execution-role-policy``
(pull the image if it is in ECR, write the log group, read exactly these secrets), ``{name}-task-role`` +
``-task-role-policy`` (cloudwatch:PutMetricData in ``heartbeat_namespace`` only: the heartbeat of a successful
run, ``EGRESS_HEARTBEAT_NAMESPACE``; with ``daily``, the task runs ``egress daily`` and the role also gets
``{name}-daily-role-policy``: exactly what its steps need, see :mod:`~smtp_egress.components.daily_task`),
``{name}-task`` (family ``name``), ``{name}-dlq`` + ``{name}-dlq-policy``
(the schedule's dead-letter queue, SQS-managed encryption, 14 days' retention; only the scheduler's role may
send to it, over TLS; not created when ``dead_letter_queue_arn`` names an existing queue),
``{name}-scheduler-role`` + ``-scheduler-role-policy`` (ecs:RunTask on this task definition in this cluster,
iam:PassRole on the two roles, sqs:SendMessage to the dead-letter queue), ``{name}-schedule`` (UTC, no flexible
window, FARGATE, private subnets, no public IP; retry policy: 2 retries within an hour, then the dead-letter
queue). Scheduler retries cover a failed RunTask call, not a task that exits non-zero: the child
:class:`~components.job_alerts.JobAlerts` ``name`` (same name, its own type) watches the task's stops and
emails ``alert_emails`` through the SNS topic ``{name}-alerts`` when the job exits non-zero or fails to start,
when a message reaches the dead-letter queue, and when no run succeeded for 26 hours (the heartbeat's alarm,
missing data breaching: :mod:`~components.silence_alarms`).
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi

from smtp_egress.errors import ConfigError
from smtp_egress.heartbeats import DEFAULT_NAMESPACE, namespace_problem
from smtp_egress.notices.channels import stack_secrets
from smtp_egress.notices.channels.email import sender_problem

from . import aws, daily_task, iam_policies, job_alerts, silence_alarms, task_schedule

REQUIRED_SECRETS = {
    "EGRESS_DB": "the ledger must be the shared PostgreSQL database; a task's default SQLite file vanishes with it",
    **{s.env: s.reason for s in stack_secrets() if s.required},
}
KNOWN_SECRETS = (*REQUIRED_SECRETS, *(s.env for s in stack_secrets() if not s.required))
FARGATE_MEMORY = {
    256: range(512, 2049, 512),
    512: range(1024, 4097, 1024),
    1024: range(2048, 8193, 1024),
    2048: range(4096, 16385, 1024),
    4096: range(8192, 30721, 1024),
}
LOG_RETENTION_DAYS = 400
CONTAINER = "notify"
_QUEUE_ARN = re.compile(r"arn:aws[a-z-]*:sqs:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,80}")  # a standard queue

_ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")
_SECRET_LIKE = re.compile(r"SECRET|PASSWORD|PASSWD|TOKEN|CREDENTIAL|PRIVATE_KEY")
_USERINFO = re.compile(r"://[^/@\s]*:[^/@\s]*@")
SCHEDULE_EXPRESSION = re.compile(r"(cron\((\S+ ){5}\S+\)|rate\(\d+ (minute|minutes|hour|hours|day|days)\))")


@dataclass(frozen=True)
class NoticeScheduleArgs:
    """``secrets``: variable -> value (a Pulumi secret), stored in Secrets Manager; ``environment``: plain settings
    only; ``cluster_arn`` None creates a cluster; ``published_url`` may be an Output (e.g. IpListPublisher.url)."""

    region: str
    image: str
    subnet_ids: pulumi.Input[Sequence[pulumi.Input[str]]]
    security_group_id: pulumi.Input[str]
    published_url: pulumi.Input[str]
    secrets: Mapping[str, pulumi.Input[str]]
    sender: str  # the From: of the notices (EGRESS_FROM), e.g. 'IP notices <ip-notices@platform.example>'
    environment: Mapping[str, str] = field(default_factory=dict)
    cluster_arn: pulumi.Input[str] | None = None
    schedule_expression: str = "cron(0 6 * * ? *)"
    cpu: int = 256
    memory: int = 512
    cpu_architecture: str = "X86_64"
    plan_path: str | None = None  # --plan inside the image; default: stacks/egress-ips.yaml under its WORKDIR
    dead_letter_queue_arn: pulumi.Input[str] | None = None  # None: the component creates {name}-dlq
    alert_emails: Sequence[str] = ()  # who is emailed when the job exits non-zero or fails to start, or falls silent
    heartbeat_namespace: str = DEFAULT_NAMESPACE  # where a successful run puts its heartbeat metric
    extra_alarms: Sequence[silence_alarms.MetricAlarmSpec] = ()  # other alarms of the region on the same topic
    daily: daily_task.DailyTaskArgs | None = None  # run `egress daily` (notify, publish, gateways), not notify alone
    tags: Mapping[str, str] | None = None


def validate(args: NoticeScheduleArgs) -> None:
    """Raise ConfigError naming every bad value (secret values are never inspected or printed)."""
    p = []
    if not re.fullmatch(r"[a-z][a-z0-9-]{0,30}", args.region):
        p.append(f"region {args.region!r} must be a plan region name such as 'us'")
    if not args.image or any(c.isspace() for c in args.image):
        p.append(
            f"image {args.image!r} must be a container image reference such as "
            "'ACCOUNT.dkr.ecr.REGION.amazonaws.com/smtp-egress:0.1.0'"
        )
    if not SCHEDULE_EXPRESSION.fullmatch(args.schedule_expression):
        p.append(
            f"schedule_expression {args.schedule_expression!r} must be a recurring 'cron(m h dom mon dow y)' "
            "or 'rate(n unit)'"
        )
    if isinstance(args.published_url, str) and not re.fullmatch(r"https://[^\s/?#]+/\S*", args.published_url):
        p.append(f"published_url {args.published_url!r} must be the https URL of the published list")
    for key in sorted(args.secrets):
        if not _ENV_NAME.fullmatch(key):
            p.append(f"secret name {key!r} must be an environment variable name such as 'EGRESS_DB'")
    problem = sender_problem(args.sender) if isinstance(args.sender, str) else "is not a string"
    if problem:
        p.append(f"sender {args.sender!r} {problem}; the task's notices must come from the platform's address")
    for key, why in REQUIRED_SECRETS.items():
        if key not in args.secrets:
            p.append(f"secrets lack {key!r}: {why}")
    for key, value in sorted(args.environment.items()):
        if not _ENV_NAME.fullmatch(key):
            p.append(f"environment name {key!r} must be an environment variable name")
        elif key in ("EGRESS_FROM", "EGRESS_HEARTBEAT_NAMESPACE"):
            source = "sender" if key == "EGRESS_FROM" else "heartbeat_namespace"
            p.append(f"environment {key!r} is set from {source}; leave it out")
        elif key in args.secrets:
            p.append(f"{key!r} is in both environment and secrets; keep it in secrets only")
        elif key in KNOWN_SECRETS or _SECRET_LIKE.search(key):
            p.append(f"environment {key!r} looks like a secret; pass it in secrets (stored in Secrets Manager)")
        elif not isinstance(value, str) or _USERINFO.search(value):
            p.append(f"environment {key!r} must be a plain string without credentials (user:password@); use secrets")
    if args.memory not in FARGATE_MEMORY.get(args.cpu, ()):
        p.append(
            f"cpu {args.cpu!r} with memory {args.memory!r} is not a Fargate size (e.g. 256/512, 512/1024, 1024/2048)"
        )
    if args.cpu_architecture not in ("X86_64", "ARM64"):
        p.append(f"cpu_architecture {args.cpu_architecture!r} must be 'X86_64' or 'ARM64'")
    if args.plan_path is not None and not re.fullmatch(r"[\w./-]+", args.plan_path):
        p.append(f"plan_path {args.plan_path!r} must be a path inside the image")
    problem = namespace_problem(args.heartbeat_namespace)
    if problem:
        p.append(f"heartbeat_namespace {args.heartbeat_namespace!r} {problem}")
    if isinstance(args.dead_letter_queue_arn, str) and not _QUEUE_ARN.fullmatch(args.dead_letter_queue_arn):
        p.append(
            f"dead_letter_queue_arn {args.dead_letter_queue_arn!r} must be the ARN of a standard SQS queue "
            "(EventBridge Scheduler takes no FIFO queue), e.g. 'arn:aws:sqs:us-east-1:123456789012:notices-dlq'"
        )
    p.extend(job_alerts.email_problems(args.alert_emails))
    if args.daily is not None:
        p.extend(daily_task.problems(args.daily))
    if p:
        raise ConfigError("NoticeSchedule: " + "; ".join(p))


def base_url(published_url: str) -> str:
    """https://host/v1/info/ip_addresses -> https://host (what notices link to, as EGRESS_BASE_URL)."""
    parts = urllib.parse.urlsplit(published_url)
    return f"{parts.scheme}://{parts.netloc}"


def command(region: str, published_url: str, plan_path: str | None = None) -> list[str]:
    plan = ["--plan", plan_path] if plan_path else []
    return ["egress", "notify", "--region", region, "--published", published_url, *plan, "--json"]


def container_definitions(
    *,
    image: str,
    command: Sequence[str],
    environment: Mapping[str, str],
    secret_arns: Mapping[str, str],
    log_group: str,
    aws_region: str,
    scratch: bool = False,
    container: str = CONTAINER,
) -> str:
    """The task's one container: plain settings in ``environment``, secrets only as ``valueFrom`` ARNs;
    ``scratch``: a writable volume at /tmp (the root filesystem stays read-only)."""
    mounts = [{"sourceVolume": "scratch", "containerPath": daily_task.SCRATCH}] if scratch else []
    return json.dumps(
        [
            {
                **({"mountPoints": mounts} if mounts else {}),
                "name": container,
                "image": image,
                "essential": True,
                "command": list(command),
                "environment": [{"name": k, "value": v} for k, v in sorted(environment.items())],
                "secrets": [
                    {"name": k, "valueFrom": iam_policies.require_arn(v, f"secret {k}")}
                    for k, v in sorted(secret_arns.items())
                ],
                "readonlyRootFilesystem": True,
                "logConfiguration": {
                    "logDriver": "awslogs",
                    "options": {
                        "awslogs-group": log_group,
                        "awslogs-region": aws_region,
                        "awslogs-stream-prefix": container,
                    },
                },
            }
        ],
        sort_keys=True,
    )


class NoticeSchedule(pulumi.ComponentResource):
    schedule_arn: pulumi.Output[str]
    task_definition_arn: pulumi.Output[str]
    log_group_name: pulumi.Output[str]
    secret_arns: pulumi.Output[dict]
    alerts_topic_arn: pulumi.Output[str]
    dead_letter_queue_arn: pulumi.Output[str]
    cluster_arn: pulumi.Output[str]
    execution_role_arn: pulumi.Output[str]

    def __init__(self, name: str, args: NoticeScheduleArgs, opts: pulumi.ResourceOptions | None = None):
        validate(args)
        super().__init__("smtp-egress:jobs:NoticeSchedule", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        daily = args.daily
        tags = {**(args.tags or {}), "smtp-egress:region": args.region}
        account = aws.get_caller_identity_output(opts=pulumi.InvokeOptions(parent=self)).account_id
        aws_region = aws.get_region_output(opts=pulumi.InvokeOptions(parent=self)).region

        cluster_arn = args.cluster_arn
        if cluster_arn is None:
            cluster_arn = aws.ecs.Cluster(f"{name}-cluster", tags=tags, opts=child).arn

        secret_arns: dict[str, pulumi.Output[str]] = {}
        for key in sorted(args.secrets):
            slug = key.lower().replace("_", "-")
            secret = aws.secretsmanager.Secret(
                f"{name}-secret-{slug}", description=f"{key} of the {args.region} notice job", tags=tags, opts=child
            )
            aws.secretsmanager.SecretVersion(
                f"{name}-secret-{slug}-version",
                secret_id=secret.id,
                secret_string=pulumi.Output.secret(args.secrets[key]),
                opts=child,
            )
            secret_arns[key] = secret.arn

        logs = aws.cloudwatch.LogGroup(f"{name}-logs", retention_in_days=LOG_RETENTION_DAYS, tags=tags, opts=child)

        def ecs_role(role: str) -> aws.iam.Role:
            trust = account.apply(lambda a: iam_policies.assume_role_policy("ecs-tasks.amazonaws.com", a))
            return aws.iam.Role(f"{name}-{role}", assume_role_policy=trust, tags=tags, opts=child)

        execution_role, task_role = ecs_role("execution-role"), ecs_role("task-role")
        aws.iam.RolePolicy(
            f"{name}-task-role-policy",
            role=task_role.id,
            opts=child,
            policy=silence_alarms.heartbeat_metric_policy(args.heartbeat_namespace),
        )
        if daily is not None:
            aws.iam.RolePolicy(
                f"{name}-daily-role-policy",
                role=task_role.id,
                opts=child,
                policy=daily_task.task_role_policy(daily, args.region, account, aws_region),
            )
        ecr = iam_policies.ecr_repository_arn(args.image)
        aws.iam.RolePolicy(
            f"{name}-execution-role-policy",
            role=execution_role.id,
            opts=child,
            policy=pulumi.Output.all(logs.arn, *secret_arns.values()).apply(
                lambda a: iam_policies.task_execution_policy(a[0], a[1:], ecr)
            ),
        )

        environment = {
            "EGRESS_BASE_URL": pulumi.Output.from_input(args.published_url).apply(base_url),
            **args.environment,
            "EGRESS_FROM": args.sender,
            "EGRESS_HEARTBEAT_NAMESPACE": args.heartbeat_namespace,
            **({"PULUMI_BACKEND_URL": args.daily.state_backend} if args.daily else {}),
        }
        definitions = pulumi.Output.all(
            published=args.published_url,
            log_group=logs.name,
            aws_region=aws_region,
            secret_arns=pulumi.Output.all(**secret_arns),
            environment=pulumi.Output.all(**environment),
            bucket=daily.publish_bucket_name if daily else "",
            distribution=daily.distribution_id if daily else "",
        ).apply(
            lambda v: container_definitions(
                image=args.image,
                command=(
                    daily_task.command(
                        args.region, daily.stack, v["published"], v["bucket"], v["distribution"], args.plan_path
                    )
                    if daily
                    else command(args.region, v["published"], args.plan_path)
                ),
                environment=v["environment"],
                secret_arns=v["secret_arns"],
                log_group=v["log_group"],
                aws_region=v["aws_region"],
                scratch=daily is not None,
            )
        )
        task = task_schedule.fargate_task(
            name,
            args=args,
            execution_role_arn=execution_role.arn,
            task_role_arn=task_role.arn,
            container_definitions=definitions,
            volumes=[{"name": "scratch"}] if daily else None,
            tags=tags,
            child=child,
        )

        schedule, dead_letter_arn, dead_letter_name = task_schedule.schedule_task(
            name,
            description=f"daily egress {'daily' if daily else 'notify'} for region {args.region}"
            + (" (notify, publish, gateways)" if daily else ""),
            schedule_expression=args.schedule_expression,
            cluster_arn=cluster_arn,
            task=task,
            pass_role_arns=[execution_role.arn, task_role.arn],
            subnet_ids=args.subnet_ids,
            security_group_id=args.security_group_id,
            dead_letter_queue_arn=args.dead_letter_queue_arn,
            account=account,
            tags=tags,
            child=child,
        )

        job = f"smtp-egress notice job for region {args.region}"
        alerts = job_alerts.JobAlerts(
            name,
            job_alerts.JobAlertsArgs(
                job=job,
                cluster_arn=cluster_arn,
                task_family=task.family,
                log_group_name=logs.name,
                log_stream_prefix=f"{CONTAINER}/{CONTAINER}",
                emails=tuple(args.alert_emails),
                tags=tags,
                alarms=(
                    silence_alarms.heartbeat_alarm(job, args.heartbeat_namespace, args.region),
                    silence_alarms.schedule_dead_letter_alarm(job, dead_letter_name),
                    *args.extra_alarms,
                ),
            ),
            opts=child,
        )

        self.schedule_arn = schedule.arn
        self.task_definition_arn = task.arn
        self.log_group_name = logs.name
        self.secret_arns = pulumi.Output.all(**secret_arns)
        self.alerts_topic_arn = alerts.topic_arn
        self.dead_letter_queue_arn = dead_letter_arn
        # what another job of the region reuses (the domains re-check: the same secrets, logs and cluster)
        self.cluster_arn = pulumi.Output.from_input(cluster_arn)
        self.execution_role_arn = execution_role.arn
        self.register_outputs(
            {
                "schedule_arn": self.schedule_arn,
                "task_definition_arn": self.task_definition_arn,
                "log_group_name": self.log_group_name,
                "secret_arns": self.secret_arns,
                "alerts_topic_arn": self.alerts_topic_arn,
                "dead_letter_queue_arn": self.dead_letter_queue_arn,
            }
        )
