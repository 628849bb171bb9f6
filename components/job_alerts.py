"""JobAlerts: tell humans when a scheduled ECS task (the daily ``egress notify``) fails.

EventBridge Scheduler retries a failed RunTask call, but a task that starts and then exits non-zero is a
success to the scheduler. ``egress notify`` exits non-zero exactly when a human must act (README, "Exit
codes"), so without these alerts nobody hears that a notice is late or undelivered. ECS sends an "ECS Task
State Change" event to the default event bus whenever a task stops. Two rules catch this task family's
failures in this cluster:

- ``{name}-failed``: the task stopped and a container exited with a code other than 0 (the job's own
  verdicts 2-6, 1 for a crash, or 137/143 when it was killed), and other than ``findings_exit_codes``: a job
  whose exits also report findings for someone else (``egress domains verify``: 7 and 8 are about customers'
  DNS, not a failed run) alerts on every other non-zero exit only;
- ``{name}-failed-to-start``: the task stopped with stopCode ``TaskFailedToStart`` (image pull, secrets,
  network). Its containers never ran, so they carry no exit code and the first rule cannot match them.

Each rule's target publishes one readable sentence to the SNS topic ``{name}-alerts``: the job, the exit
code (or the stop code and reason), the task, the log group and what the exit codes mean. The CloudWatch
alarms in ``alarms`` (:mod:`~smtp_egress.components.silence_alarms`: no successful run for 26 hours, messages
in the scheduler's dead-letter queue) alert the same topic: a job that never runs is silent, and silence is
an alarm too. Each address in
``emails`` gets an email subscription, and each recipient must click the confirmation link that AWS sends
before any alert arrives.

Encryption: the topic uses a customer-managed KMS key ``{name}-alerts-key`` (rotated yearly) whose key
policy lets EventBridge use it. It cannot use the AWS-managed key ``alias/aws/sns``: that key's policy cannot
be changed to admit events.amazonaws.com, so every publish from the rules would fail (the rule's
FailedInvocations metric) and the alert would be lost without a trace. The topic policy lets
events.amazonaws.com publish only on behalf of these two rules, and cloudwatch.amazonaws.com only on behalf of
these alarms (``aws:SourceArn``); the key policy lets both use the key.

Children: ``{name}-alerts-key``, ``{name}-alerts`` (topic), ``{name}-alerts-policy``, ``{name}-failed`` +
``{name}-failed-alert`` (rule + target), ``{name}-failed-to-start`` + ``{name}-failed-to-start-alert``, and
``{name}-<suffix>`` per alarm (``{name}-silent``, ``{name}-dead-letters``), and
``{name}-alerts-email-<8 hex of the address>`` per address (named by address, so a removed address
replaces nobody else's confirmed subscription).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pulumi

from smtp_egress.errors import ConfigError

from . import aws, iam_policies
from .alert_policies import key_policy, topic_policy
from .silence_alarms import MetricAlarmSpec, window_problem

EXIT_CODES = (
    "1 internal error (a bug), 2 bad input or configuration, 3 published list unusable, "
    "4 short notice, 5 drift, 6 undelivered notices"
)
FAILED_TO_START = "TaskFailedToStart"
NOTICE_CONSEQUENCE = "Until it is fixed, customers may miss a notice that is due."

_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_EMAIL = re.compile(rf"{_ATOM}(\.{_ATOM})*@([A-Za-z0-9]([A-Za-z0-9-]{{0,61}}[A-Za-z0-9])?\.)+[A-Za-z]{{2,63}}")


@dataclass(frozen=True)
class JobAlertsArgs:
    """``job`` names the job in every alert (e.g. "smtp-egress notice job for region us"); ``task_family`` and
    ``cluster_arn`` say which task's stops to watch; ``log_stream_prefix`` is the awslogs prefix/container."""

    job: str
    cluster_arn: pulumi.Input[str]
    task_family: pulumi.Input[str]
    log_group_name: pulumi.Input[str]
    log_stream_prefix: str | None = None
    emails: Sequence[str] = ()
    tags: Mapping[str, str] | None = None
    alarms: Sequence[MetricAlarmSpec] = ()  # CloudWatch alarms that alert the topic too
    findings_exit_codes: Sequence[int] = ()  # exits that report findings, not a failed run: no alert
    exit_codes: str = EXIT_CODES  # what the job's exit codes mean, in the alert
    consequence: str = NOTICE_CONSEQUENCE  # what a failed run leaves undone, in the alert


def email_problems(emails) -> list[str]:
    """What is wrong with a list of alert addresses (empty: nothing). One bare address per entry."""
    if isinstance(emails, (str, bytes)):
        return [f"alert emails must be a list of addresses, not the single string {emails!r}"]
    problems, seen = [], set()
    for email in emails:
        if (
            not isinstance(email, str)
            or len(email) > 254
            or not _EMAIL.fullmatch(email)
            or len(email.split("@")[0]) > 64
        ):
            problems.append(
                f"alert email {email!r} is not an email address such as 'ops-alerts@example.com' "
                "(one bare address per entry: no display name, no comma, no spaces)"
            )
        elif email.lower() in seen:
            problems.append(f"alert email {email!r} is listed twice")
        else:
            seen.add(email.lower())
    return problems


def validate(args: JobAlertsArgs) -> None:
    problems = email_problems(args.emails)
    for alarm in args.alarms:
        problem = window_problem(alarm.period, alarm.evaluation_periods)
        if problem:
            problems.append(f"alarm {alarm.suffix!r}: {problem}")
    for code in args.findings_exit_codes:
        if isinstance(code, bool) or not isinstance(code, int) or not 0 < code < 256:
            problems.append(f"findings exit code {code!r} must be a non-zero exit code (1-255)")
    if not args.job.strip() or "<" in args.job or ">" in args.job:
        problems.append(
            f"job {args.job!r} must name the job in the alerts without '<' or '>' (EventBridge "
            "placeholders), e.g. 'smtp-egress notice job for region us'"
        )
    if problems:
        raise ConfigError("JobAlerts: " + "; ".join(problems))


def _task_stopped(cluster_arn: str, family: str) -> dict:
    iam_policies.require_arn(cluster_arn, "cluster_arn")
    return {
        "source": ["aws.ecs"],
        "detail-type": ["ECS Task State Change"],
        "detail": {"clusterArn": [cluster_arn], "group": [f"family:{family}"], "lastStatus": ["STOPPED"]},
    }


def failed_pattern(cluster_arn: str, family: str, findings: Sequence[int] = ()) -> str:
    """A task of ``family`` in the cluster stopped and a container exited non-zero, with none of the exit codes
    in ``findings`` (the job's reports of what it found, not a failed run)."""
    pattern = _task_stopped(cluster_arn, family)
    quiet = [0, *sorted(set(findings))] if findings else 0
    pattern["detail"]["containers"] = {"exitCode": [{"anything-but": quiet}]}
    return json.dumps(pattern, sort_keys=True)


def failed_to_start_pattern(cluster_arn: str, family: str) -> str:
    """A task of ``family`` in the cluster stopped before its containers ran (they have no exit code)."""
    pattern = _task_stopped(cluster_arn, family)
    pattern["detail"]["stopCode"] = [FAILED_TO_START]
    return json.dumps(pattern, sort_keys=True)


def _logs(log_group: str, stream_prefix: str | None) -> str:
    stream = (
        f", stream {stream_prefix}/ followed by the task ID (the last part of the task ARN)" if stream_prefix else ""
    )
    return f"log group {log_group}{stream}"


def failed_transformer(
    job: str,
    log_group: str,
    stream_prefix: str | None = None,
    exit_codes: str = EXIT_CODES,
    consequence: str = NOTICE_CONSEQUENCE,
) -> aws.cloudwatch.EventTargetInputTransformerArgsDict:
    """The target's input transformer: one sentence naming the exit code, the task and the log group."""
    message = (
        f"{job} stopped with exit code <exitCode> at <time>. Task <taskArn>; logs: "
        f"{_logs(log_group, stream_prefix)}. Exit codes: {exit_codes}; the README's exit-code table says "
        f"what to do. {consequence}"
    )
    return {
        "input_paths": {"exitCode": "$.detail.containers[0].exitCode", "taskArn": "$.detail.taskArn", "time": "$.time"},
        "input_template": json.dumps(message),
    }


def failed_to_start_transformer(
    job: str, log_group: str, stream_prefix: str | None = None
) -> aws.cloudwatch.EventTargetInputTransformerArgsDict:
    """The target's input transformer for a task that never ran: the stop code and ECS's reason (no log stream
    is named: none was written; ``stream_prefix`` is accepted so that both transformers take the same arguments)."""
    message = (
        f"{job} failed to start at <time> (<stopCode>: <stoppedReason>); nothing was checked or sent. "
        f"Task <taskArn>. The container never ran, so log group {log_group} may hold nothing for it. "
        "Fix the cause (image, secrets, network) and run the task again."
    )
    return {
        "input_paths": {
            "stopCode": "$.detail.stopCode",
            "stoppedReason": "$.detail.stoppedReason",
            "taskArn": "$.detail.taskArn",
            "time": "$.time",
        },
        "input_template": json.dumps(message),
    }


if TYPE_CHECKING:  # the input transformers above: (job, log group, log stream prefix) -> transformer
    Transformer = Callable[[str, str, str | None], aws.cloudwatch.EventTargetInputTransformerArgsDict]


def _codes(codes: Sequence[int]) -> str:
    return ", ".join(map(str, sorted(set(codes))))


def subscription_name(name: str, email: str) -> str:
    return f"{name}-alerts-email-{hashlib.sha256(email.lower().encode()).hexdigest()[:8]}"


class JobAlerts(pulumi.ComponentResource):
    topic_arn: pulumi.Output[str]

    def __init__(self, name: str, args: JobAlertsArgs, opts: pulumi.ResourceOptions | None = None):
        validate(args)
        super().__init__("smtp-egress:jobs:JobAlerts", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = dict(args.tags or {})
        account = aws.get_caller_identity_output(opts=pulumi.InvokeOptions(parent=self)).account_id

        key = aws.kms.Key(
            f"{name}-alerts-key",
            description=f"encrypts the alerts of {args.job}",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=account.apply(lambda a: key_policy(a, alarms=bool(args.alarms))),
            tags=tags,
            opts=child,
        )
        topic = aws.sns.Topic(f"{name}-alerts", kms_master_key_id=key.arn, tags=tags, opts=child)

        watched = pulumi.Output.all(args.cluster_arn, args.task_family)
        where = pulumi.Output.from_input(args.log_group_name)

        def alert_rule(
            suffix: str, pattern: Callable[[str, str], str], transformer: Transformer, what: str
        ) -> aws.cloudwatch.EventRule:
            """A rule matching this task's failures of one kind, and its target publishing to the topic."""
            rule = aws.cloudwatch.EventRule(
                f"{name}-{suffix}",
                description=f"{args.job} {what}",
                state="ENABLED",
                tags=tags,
                opts=child,
                event_pattern=watched.apply(lambda v: pattern(v[0], v[1])),
            )
            aws.cloudwatch.EventTarget(
                f"{name}-{suffix}-alert",
                rule=rule.name,
                arn=topic.arn,
                opts=child,
                input_transformer=where.apply(lambda g: transformer(args.job, g, args.log_stream_prefix)),
            )
            return rule

        rules = [
            alert_rule(
                "failed",
                lambda cluster, family: failed_pattern(cluster, family, args.findings_exit_codes),
                lambda job, group, prefix: failed_transformer(job, group, prefix, args.exit_codes, args.consequence),
                "exited non-zero" + (f" (not {_codes(args.findings_exit_codes)})" if args.findings_exit_codes else ""),
            ),
            alert_rule("failed-to-start", failed_to_start_pattern, failed_to_start_transformer, "failed to start"),
        ]

        alarms = [
            aws.cloudwatch.MetricAlarm(
                f"{name}-{spec.suffix}",
                alarm_description=spec.description,
                namespace=spec.namespace,
                metric_name=spec.metric_name,
                dimensions=spec.dimensions,
                statistic=spec.statistic,
                period=spec.period,
                evaluation_periods=spec.evaluation_periods,
                datapoints_to_alarm=spec.datapoints_to_alarm,
                comparison_operator=spec.comparison_operator,
                threshold=spec.threshold,
                treat_missing_data=spec.treat_missing_data,
                alarm_actions=[topic.arn],
                tags=tags,
                opts=child,
            )
            for spec in args.alarms
        ]
        aws.sns.TopicPolicy(
            f"{name}-alerts-policy",
            arn=topic.arn,
            opts=child,
            policy=pulumi.Output.all(
                topic.arn, pulumi.Output.all(*(r.arn for r in rules)), pulumi.Output.all(*(a.arn for a in alarms))
            ).apply(lambda a: topic_policy(a[0], a[1], a[2])),
        )
        for email in args.emails:
            aws.sns.TopicSubscription(
                subscription_name(name, email), topic=topic.arn, protocol="email", endpoint=email, opts=child
            )

        self.topic_arn = topic.arn
        self.register_outputs({"topic_arn": self.topic_arn})
