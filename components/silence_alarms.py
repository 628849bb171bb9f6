"""The alarms that make silence loud: no successful daily run for 26 hours, and scheduler invocations that failed.

Two CloudWatch metric alarms, created by :class:`~smtp_egress.components.job_alerts.JobAlerts` on its SNS topic
(the same topic and recipients as a task that exits non-zero):

- **heartbeat** (:func:`heartbeat_alarm`): each successful run puts ``DailyRunSucceeded`` = 1 (dimension
  ``Region``; :mod:`smtp_egress.heartbeats`). The alarm reads its ``Sum`` per hour over the last 26 hours and
  fires when every one of those hours is below 1, with **missing data treated as breaching**: an hour
  without a data point is an hour without a successful run. So the alarm fires when no run succeeded for 26
  hours, whatever the cause (the schedule disabled or deleted, the task failing to start, the job failing
  every day, CloudWatch unreachable from the task). It is also in ALARM from its creation until the first run
  succeeds: run the task once after the first deploy.

  CloudWatch's limits decide the construction: ``Period`` x ``EvaluationPeriods`` may not exceed 7 days, and
  only 1 day for a period shorter than an hour. 26 hours therefore needs periods of an hour or more: 26
  periods of 3600 s (93,600 s) is valid, while 156 periods of 600 s would be refused (over the 1-day limit
  for short periods). A single period of 26 hours would judge a whole 26-hour block at once, so a run early
  in one block and none in the next would be noticed up to about 52 hours later; with hourly periods the
  alarm fires in the hour after the 26th hour of silence. :func:`window_problem` checks these limits for every
  alarm made here.

- **dead letters** (:func:`dead_letter_alarm`, the spec of any dead-letter queue's alarm;
  :func:`schedule_dead_letter_alarm` for a schedule's): EventBridge Scheduler retries a failed RunTask (the retry
  policy), then puts the event in the schedule's dead-letter queue. Any message visible there
  (``ApproximateNumberOfMessagesVisible`` > 0, maximum over 5 minutes) means a daily run never started; missing
  data is not breaching (SQS publishes nothing for an idle, empty queue).

The policies these need are here too: :func:`heartbeat_metric_policy` (the task may put metrics in its one
namespace) and :func:`dead_letter_queue_policy` (only the scheduler's role may send to the queue, over TLS).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi

from smtp_egress.heartbeats import DIMENSION, METRIC_NAME, SILENCE_HOURS

from . import aws, iam_policies

HOUR = 3600
MAX_WINDOW = 7 * 24 * HOUR  # Period x EvaluationPeriods, for periods of an hour or more
MAX_SHORT_WINDOW = 24 * HOUR  # ... and for periods shorter than an hour
DEAD_LETTER_PERIOD = 300
DEAD_LETTER_RETENTION_S = 14 * 24 * 3600  # SQS's maximum: two weeks to read why a run never started


@dataclass(frozen=True)
class MetricAlarmSpec:
    """A CloudWatch metric alarm on the alerts topic; the child is named ``{component}-{suffix}``."""

    suffix: str
    description: str  # what the alert says (CloudWatch puts it in the notification)
    namespace: str
    metric_name: str
    dimensions: Mapping[str, pulumi.Input[str]]
    statistic: str
    period: int
    evaluation_periods: int
    comparison_operator: str
    threshold: float
    treat_missing_data: str
    datapoints_to_alarm: int | None = None


def window_problem(period: int, evaluation_periods: int) -> str | None:
    """Why CloudWatch would refuse an alarm evaluating ``evaluation_periods`` periods of ``period`` seconds."""
    if period not in (10, 20, 30) and (period <= 0 or period % 60):
        return f"period {period!r} must be 10, 20, 30 or a multiple of 60 seconds"
    if evaluation_periods < 1:
        return f"evaluation_periods {evaluation_periods!r} must be at least 1"
    window = period * evaluation_periods
    limit = MAX_WINDOW if period >= HOUR else MAX_SHORT_WINDOW
    if window > limit:
        return (
            f"period {period} s x evaluation_periods {evaluation_periods} = {window} s exceeds CloudWatch's "
            f"{limit} s for periods {'of an hour or more' if period >= HOUR else 'shorter than an hour'}"
        )
    return None


def heartbeat_alarm(job: str, namespace: str, region: str) -> MetricAlarmSpec:
    """No successful run of ``region``'s daily job for :data:`SILENCE_HOURS` hours (missing data breaches)."""
    return MetricAlarmSpec(
        suffix="silent",
        description=(
            f"{job}: no run succeeded for {SILENCE_HOURS} hours (no {METRIC_NAME} data point for {DIMENSION} "
            f"{region} in {namespace}). The schedule may be disabled, the task may fail to start or exit non-zero "
            "every day, or it cannot reach CloudWatch. Notices that are due may not have gone out: run "
            f"'egress status --region {region}' and check the task's logs."
        ),
        namespace=namespace,
        metric_name=METRIC_NAME,
        dimensions={DIMENSION: region},
        statistic="Sum",
        period=HOUR,
        evaluation_periods=SILENCE_HOURS,
        datapoints_to_alarm=SILENCE_HOURS,
        comparison_operator="LessThanThreshold",
        threshold=1.0,
        treat_missing_data="breaching",
    )


def dead_letter_alarm(suffix: str, description: str, queue_name: pulumi.Input[str]) -> MetricAlarmSpec:
    """Any message visible in the dead-letter queue ``queue_name`` (maximum over 5 minutes > 0) alerts the topic;
    missing data is not breaching (SQS publishes nothing for an idle, empty queue). The child is named
    ``{component}-{suffix}``; ``description`` is what the alert tells its reader to do."""
    return MetricAlarmSpec(
        suffix=suffix,
        description=description,
        namespace="AWS/SQS",
        metric_name="ApproximateNumberOfMessagesVisible",
        dimensions={"QueueName": queue_name},
        statistic="Maximum",
        period=DEAD_LETTER_PERIOD,
        evaluation_periods=1,
        comparison_operator="GreaterThanThreshold",
        threshold=0.0,
        treat_missing_data="notBreaching",
    )


def schedule_dead_letter_alarm(job: str, queue_name: pulumi.Input[str]) -> MetricAlarmSpec:
    """A message in the schedule's dead-letter queue: the scheduler gave up starting a run."""
    return dead_letter_alarm(
        "dead-letters",
        f"{job}: EventBridge Scheduler could not start the task, even after its retries, and put the event in "
        "the dead-letter queue. Read the message there (it says why: permissions, a deleted task definition "
        "or cluster, a throttled RunTask), fix the cause, run the task by hand, then delete the message.",
        queue_name,
    )


def heartbeat_metric_policy(namespace: str) -> str:
    """The task may put metric data, in ``namespace`` only (PutMetricData has no resource: the condition scopes it)."""
    return iam_policies.document(
        [
            {
                "Sid": "PutHeartbeat",
                "Effect": "Allow",
                "Action": "cloudwatch:PutMetricData",
                "Resource": "*",
                "Condition": {"StringEquals": {"cloudwatch:namespace": namespace}},
            }
        ]
    )


def dead_letter_queue_policy(queue_arn: str, sender_role_arn: str) -> str:
    """The schedule's dead-letter queue: the scheduler's role (which EventBridge Scheduler uses to deliver dead
    letters) may send to it; nothing reaches it without TLS."""
    queue = iam_policies.require_arn(queue_arn, "queue ARN")
    return iam_policies.document(
        [
            {
                "Sid": "SchedulerSendsDeadLetters",
                "Effect": "Allow",
                "Principal": {"AWS": iam_policies.require_arn(sender_role_arn, "scheduler role ARN")},
                "Action": "sqs:SendMessage",
                "Resource": queue,
            },
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "sqs:*",
                "Resource": queue,
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
        ]
    )


def dead_letter_queue(
    name: str,
    given_arn: pulumi.Input[str] | None,
    sender_role_arn: pulumi.Input[str],
    tags: Mapping[str, str],
    child: pulumi.ResourceOptions,
) -> tuple[pulumi.Output[str], pulumi.Output[str]]:
    """A schedule's dead-letter queue (ARN, name): the one given, or ``{name}-dlq`` (SQS-managed encryption, 14
    days' retention) and its policy ``{name}-dlq-policy``, created under the caller (``child``'s parent)."""
    if given_arn is not None:
        arn = pulumi.Output.from_input(given_arn)
        return arn, arn.apply(lambda a: a.rsplit(":", 1)[-1])
    dlq = aws.sqs.Queue(
        f"{name}-dlq",
        message_retention_seconds=DEAD_LETTER_RETENTION_S,
        sqs_managed_sse_enabled=True,
        tags=dict(tags),
        opts=child,
    )
    aws.sqs.QueuePolicy(
        f"{name}-dlq-policy",
        queue_url=dlq.url,
        opts=child,
        policy=pulumi.Output.all(dlq.arn, sender_role_arn).apply(lambda a: dead_letter_queue_policy(a[0], a[1])),
    )
    return dlq.arn, dlq.name
