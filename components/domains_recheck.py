"""DomainsRecheck: the region's scheduled re-check of customers' branded tracking domains, ``egress domains verify
--all --notify`` as an ECS Fargate task run by EventBridge Scheduler, beside the daily notice job.

It reuses what the region's :class:`~smtp_egress.components.notice_schedule.NoticeSchedule` made: its cluster, its
execution role (pull the image, write the log group, read the secrets), its log group (stream prefix
``recheck/recheck``) and its secrets (``EGRESS_DB`` and the notice channels': the transition notices leave on the
same channels). ``environment`` holds the plain settings (``EGRESS_FROM``, ``EGRESS_BASE_URL``,
``EGRESS_TRACKING_DOMAIN``). The task has no task role: the command calls no AWS API (it asks DNS, writes the
ledger and sends notices), so its containers get no AWS credentials at all.

Children: ``{name}-task`` (family ``name``), then :func:`~smtp_egress.components.task_schedule.schedule_task`'s
(``{name}-scheduler-role`` + ``-policy``: RunTask on this task definition, PassRole on the execution role only;
``{name}-dlq`` + ``-dlq-policy``; ``{name}-schedule``) and :class:`~smtp_egress.components.job_alerts.JobAlerts`
``name``: an alert when the run fails (any non-zero exit but 7 and 8, which are findings about customers' DNS that
the run reports and, with ``--notify``, tells the workspaces), when it fails to start, and when a message reaches
the dead-letter queue. No heartbeat: the command puts no metric, and a run that never starts is the dead-letter
queue's alarm.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi

from smtp_egress.errors import ConfigError

from . import aws, job_alerts, notice_schedule, silence_alarms, task_schedule

CONTAINER = "recheck"
# egress domains verify: 7 a check failed, 8 a check was unknown: what it found in customers' DNS, not a failed run
FINDINGS_EXIT_CODES = (7, 8)
EXIT_CODES = (
    "1 internal error (a bug), 2 bad input or configuration, 6 a transition notice was not delivered "
    "(7 and 8, failed or unknown checks of customers' DNS, are findings and never alerted)"
)
CONSEQUENCE = "Until it is fixed, no workspace's branded domains are re-checked and no transition is told."


@dataclass(frozen=True)
class DomainsRecheckArgs:
    """``secret_arns``: variable -> Secrets Manager ARN (NoticeSchedule.secret_arns); ``execution_role_arn`` may
    read them and write ``log_group_name``; ``environment``: plain settings only."""

    region: str
    image: str
    cluster_arn: pulumi.Input[str]
    execution_role_arn: pulumi.Input[str]
    log_group_name: pulumi.Input[str]
    secret_arns: pulumi.Input[Mapping[str, str]]
    subnet_ids: pulumi.Input[Sequence[pulumi.Input[str]]]
    security_group_id: pulumi.Input[str]
    environment: Mapping[str, pulumi.Input[str]]
    schedule_expression: str = "cron(30 7 * * ? *)"
    cpu: int = 256
    memory: int = 512
    cpu_architecture: str = "X86_64"  # the image's, as NoticeSchedule's
    plan_path: str | None = None  # --plan inside the image; default: stacks/egress-ips.yaml under its WORKDIR
    alert_emails: Sequence[str] = ()
    tags: Mapping[str, str] | None = None


def validate(args: DomainsRecheckArgs) -> None:
    p = []
    if not notice_schedule.SCHEDULE_EXPRESSION.fullmatch(args.schedule_expression):
        p.append(
            f"schedule_expression {args.schedule_expression[:200]!r} must be a recurring 'cron(m h dom mon dow y)' "
            "or 'rate(n unit)'"
        )
    if args.memory not in notice_schedule.FARGATE_MEMORY.get(args.cpu, ()):
        p.append(f"cpu {args.cpu!r} with memory {args.memory!r} is not a Fargate size (e.g. 256/512, 512/1024)")
    if args.cpu_architecture not in ("X86_64", "ARM64"):
        p.append(f"cpu_architecture {args.cpu_architecture!r} must be 'X86_64' or 'ARM64'")
    p.extend(job_alerts.email_problems(args.alert_emails))
    if p:
        raise ConfigError("DomainsRecheck: " + "; ".join(p))


def command(plan_path: str | None = None) -> list[str]:
    plan = ["--plan", plan_path] if plan_path else []
    return ["egress", "domains", "verify", "--all", "--notify", *plan, "--json"]


class DomainsRecheck(pulumi.ComponentResource):
    schedule_arn: pulumi.Output[str]
    task_definition_arn: pulumi.Output[str]
    alerts_topic_arn: pulumi.Output[str]

    def __init__(self, name: str, args: DomainsRecheckArgs, opts: pulumi.ResourceOptions | None = None):
        validate(args)
        super().__init__("smtp-egress:jobs:DomainsRecheck", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = {**(args.tags or {}), "smtp-egress:region": args.region}
        account = aws.get_caller_identity_output(opts=pulumi.InvokeOptions(parent=self)).account_id
        aws_region = aws.get_region_output(opts=pulumi.InvokeOptions(parent=self)).region

        definitions = pulumi.Output.all(
            log_group=args.log_group_name,
            aws_region=aws_region,
            secret_arns=args.secret_arns,
            environment=pulumi.Output.all(**args.environment),
        ).apply(
            lambda v: notice_schedule.container_definitions(
                image=args.image,
                command=command(args.plan_path),
                environment=v["environment"],
                secret_arns=v["secret_arns"],
                log_group=v["log_group"],
                aws_region=v["aws_region"],
                container=CONTAINER,
            )
        )
        task = task_schedule.fargate_task(
            name,
            args=args,
            execution_role_arn=args.execution_role_arn,
            task_role_arn=None,  # the command calls no AWS API
            container_definitions=definitions,
            tags=tags,
            child=child,
        )
        schedule, _, dead_letter_name = task_schedule.schedule_task(
            name,
            description=f"egress domains verify --all --notify for region {args.region}",
            schedule_expression=args.schedule_expression,
            cluster_arn=args.cluster_arn,
            task=task,
            pass_role_arns=[pulumi.Output.from_input(args.execution_role_arn)],
            subnet_ids=args.subnet_ids,
            security_group_id=args.security_group_id,
            dead_letter_queue_arn=None,
            account=account,
            tags=tags,
            child=child,
        )
        job = f"smtp-egress branded domains re-check for region {args.region}"
        alerts = job_alerts.JobAlerts(
            name,
            job_alerts.JobAlertsArgs(
                job=job,
                cluster_arn=args.cluster_arn,
                task_family=task.family,
                log_group_name=args.log_group_name,
                log_stream_prefix=f"{CONTAINER}/{CONTAINER}",
                emails=tuple(args.alert_emails),
                tags=tags,
                alarms=(silence_alarms.schedule_dead_letter_alarm(job, dead_letter_name),),
                findings_exit_codes=FINDINGS_EXIT_CODES,
                exit_codes=EXIT_CODES,
                consequence=CONSEQUENCE,
            ),
            opts=child,
        )
        self.schedule_arn = schedule.arn
        self.task_definition_arn = task.arn
        self.alerts_topic_arn = alerts.topic_arn
        self.register_outputs(
            {
                "schedule_arn": self.schedule_arn,
                "task_definition_arn": self.task_definition_arn,
                "alerts_topic_arn": self.alerts_topic_arn,
            }
        )
