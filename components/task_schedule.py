"""One ECS Fargate task run by EventBridge Scheduler: the scheduler's role, its dead-letter queue and the schedule.

Shared by the region's scheduled jobs (:class:`~smtp_egress.components.notice_schedule.NoticeSchedule`, the daily
notice job, and :class:`~smtp_egress.components.domains_recheck.DomainsRecheck`, the branded domains' re-check).
Children of the caller (``child``'s parent): :func:`fargate_task`'s ``{name}-task``; :func:`schedule_task`'s
``{name}-scheduler-role``, ``{name}-dlq`` + ``{name}-dlq-policy`` (not
created when ``dead_letter_queue_arn`` names an existing queue), ``{name}-scheduler-role-policy`` (ecs:RunTask on
this task definition in this cluster, iam:PassRole on exactly ``pass_role_arns``, sqs:SendMessage to the dead-letter
queue) and ``{name}-schedule`` (UTC, no flexible window, FARGATE, private subnets, no public IP; a failed RunTask is
retried twice within the hour, then the event goes to the dead-letter queue).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

import pulumi

from . import aws, iam_policies, silence_alarms

# A failed RunTask is tried twice more within the hour, then the event goes to the dead-letter queue.
RETRY_ATTEMPTS, RETRY_WINDOW_S = 2, 3600


class FargateSize(Protocol):
    """What a task's args say about its size (NoticeScheduleArgs, DomainsRecheckArgs)."""

    @property
    def cpu(self) -> int: ...
    @property
    def memory(self) -> int: ...
    @property
    def cpu_architecture(self) -> str: ...


def fargate_task(
    name: str,
    *,
    args: FargateSize,
    execution_role_arn: pulumi.Input[str],
    task_role_arn: pulumi.Input[str] | None,
    container_definitions: pulumi.Input[str],
    tags: Mapping[str, str],
    child: pulumi.ResourceOptions,
    volumes: Sequence[aws.ecs.TaskDefinitionVolumeArgsDict] | None = None,
) -> aws.ecs.TaskDefinition:
    """``{name}-task`` (family ``name``): a Linux Fargate task of ``args.cpu``, ``args.memory`` and
    ``args.cpu_architecture``; no task role when ``task_role_arn`` is None (no AWS credentials in the task)."""
    return aws.ecs.TaskDefinition(
        f"{name}-task",
        family=name,
        requires_compatibilities=["FARGATE"],
        network_mode="awsvpc",
        cpu=str(args.cpu),
        memory=str(args.memory),
        execution_role_arn=execution_role_arn,
        task_role_arn=task_role_arn,
        runtime_platform={"operating_system_family": "LINUX", "cpu_architecture": args.cpu_architecture},
        container_definitions=container_definitions,
        volumes=volumes,
        tags=dict(tags),
        opts=child,
    )


def schedule_task(
    name: str,
    *,
    description: str,
    schedule_expression: str,
    cluster_arn: pulumi.Input[str],
    task: aws.ecs.TaskDefinition,
    pass_role_arns: Sequence[pulumi.Output[str]],
    subnet_ids: pulumi.Input[Sequence[pulumi.Input[str]]],
    security_group_id: pulumi.Input[str],
    dead_letter_queue_arn: pulumi.Input[str] | None,
    account: pulumi.Output[str],
    tags: Mapping[str, str],
    child: pulumi.ResourceOptions,
) -> tuple[aws.scheduler.Schedule, pulumi.Output[str], pulumi.Output[str]]:
    """The schedule, and its dead-letter queue's ARN and name."""
    scheduler_role = aws.iam.Role(
        f"{name}-scheduler-role",
        tags=tags,
        opts=child,
        assume_role_policy=account.apply(lambda a: iam_policies.assume_role_policy("scheduler.amazonaws.com", a)),
    )
    dead_letter_arn, dead_letter_name = silence_alarms.dead_letter_queue(
        name, dead_letter_queue_arn, scheduler_role.arn, tags, child
    )
    aws.iam.RolePolicy(
        f"{name}-scheduler-role-policy",
        role=scheduler_role.id,
        opts=child,
        policy=pulumi.Output.all(task.arn, cluster_arn, dead_letter_arn, *pass_role_arns).apply(
            lambda a: iam_policies.scheduler_policy(a[0], a[1], a[3:], a[2])
        ),
    )
    target: aws.scheduler.ScheduleTargetArgsDict = {
        "arn": cluster_arn,
        "role_arn": scheduler_role.arn,
        "ecs_parameters": {
            "task_definition_arn": task.arn,
            "launch_type": "FARGATE",
            "task_count": 1,
            "platform_version": "LATEST",
            "network_configuration": {
                "subnets": subnet_ids,
                "security_groups": [security_group_id],
                "assign_public_ip": False,
            },
        },
        "retry_policy": {"maximum_retry_attempts": RETRY_ATTEMPTS, "maximum_event_age_in_seconds": RETRY_WINDOW_S},
        "dead_letter_config": {"arn": dead_letter_arn},
    }
    schedule = aws.scheduler.Schedule(
        f"{name}-schedule",
        description=description,
        schedule_expression=schedule_expression,
        schedule_expression_timezone="UTC",
        flexible_time_window={"mode": "OFF"},
        state="ENABLED",
        target=target,
        opts=child,
    )
    return schedule, dead_letter_arn, dead_letter_name
