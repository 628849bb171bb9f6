"""How the delivery workers scale and alarm: pure functions of names and numbers, tested without Pulumi.

- **Scaling** (:func:`queue_depth_per_instance`): target tracking on the main queue's backlog per instance,
  ``ApproximateNumberOfMessagesVisible / GroupInServiceInstances`` (CloudWatch metric math; the group's metrics
  collection must be on for ``GroupInServiceInstances``, the component enables it). The group adds instances
  when each has more than ``target`` messages waiting, and removes them when the backlog falls. SQS and the
  autoscaling group do the scaling; the worker only consumes.
- **Dead letters** (:func:`worker_dead_letter_alarm`): any message visible in the workers' dead-letter queue
  (a job received ``max_receive_count`` times without being deleted: the worker crashed on it or could not
  reach the ledger) alarms the stack's existing alerts topic, through
  :class:`~smtp_egress.components.job_alerts.JobAlerts` (its topic policy admits the alarms it creates).
- **Instance health** (:func:`instance_health_policy`, :data:`HEALTH_CHECK_GRACE_S`): systemd restarts a worker
  that exits and, through its watchdog, one that hangs; a worker that keeps failing fails its unit, whose
  ``OnFailure=`` runs ``egress worker report-unhealthy``: ``autoscaling:SetInstanceHealth`` on the instance itself
  (``ShouldRespectGracePeriod``), so the group replaces it. The role may call it on its own group only (the
  group's ARN); reading the status back (``DescribeAutoScalingInstances``) has no resource-level permission.
- **Visibility** (:func:`visibility_problem`): a job received by one worker is hidden from the others for the
  queue's visibility timeout. It must be longer than the longest delivery plus a margin (the worker extends it
  while a delivery runs, but a worker that stops extending, killed or stalled, must not have its job delivered
  twice by another before its own attempt has timed out).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pulumi

from .iam_policies import document, require_arn
from .silence_alarms import MetricAlarmSpec, dead_letter_alarm

if TYPE_CHECKING:
    from pulumi_aws.autoscaling import PolicyTargetTrackingConfigurationArgsDict

# The group's health check grace period: how long after launch an instance's health is not acted on (EC2 status
# checks, and the worker's own report). A worker is ready about a minute after launch (boot, cloud-init; the AMI
# carries everything), the same 180 s the scaling policy waits before counting a new worker (its warm-up) covers
# a slow boot. Longer would leave a broken instance in service for nothing; shorter could replace an instance that
# is still booting. A worker that fails inside it is reported again every minute (the report unit retries while
# the group ignores it), so it is replaced when the grace period ends, at most one replacement per instance every
# ~3 minutes if the AMI itself is broken.
HEALTH_CHECK_GRACE_S = 180
HEALTH_ACTIONS = ("autoscaling:SetInstanceHealth",)
VISIBILITY_MARGIN_S = 60  # a delivery's longest duration + this <= the queue's visibility timeout
SCALE_IN_INSTANCES_METRIC = "GroupInServiceInstances"


def visibility_problem(visibility_timeout_s: int, max_delivery_s: int) -> str | None:
    """Why this visibility timeout would let a second worker take a job whose delivery still runs."""
    if not 1 <= max_delivery_s <= 3600:
        return f"max_delivery_seconds {max_delivery_s!r} must be 1..3600"
    if visibility_timeout_s < max_delivery_s + VISIBILITY_MARGIN_S:
        return (
            f"visibility_timeout_seconds {visibility_timeout_s!r} must be at least max_delivery_seconds "
            f"{max_delivery_s} + {VISIBILITY_MARGIN_S}: a shorter one lets another worker receive a job whose "
            "delivery is still running, and the message is sent twice"
        )
    return None


def queue_depth_per_instance(
    queue_name: str, asg_name: str, target: float
) -> PolicyTargetTrackingConfigurationArgsDict:
    """The target tracking configuration (pulumi-aws input shape): visible messages per in-service instance."""
    return {
        "target_value": float(target),
        "disable_scale_in": False,
        "customized_metric_specification": {
            "metrics": [
                {
                    "id": "visible",
                    "label": "messages visible in the delivery queue",
                    "return_data": False,
                    "metric_stat": {
                        "metric": {
                            "namespace": "AWS/SQS",
                            "metric_name": "ApproximateNumberOfMessagesVisible",
                            "dimensions": [{"name": "QueueName", "value": queue_name}],
                        },
                        "stat": "Sum",
                    },
                },
                {
                    "id": "instances",
                    "label": "in-service workers",
                    "return_data": False,
                    "metric_stat": {
                        "metric": {
                            "namespace": "AWS/AutoScaling",
                            "metric_name": SCALE_IN_INSTANCES_METRIC,
                            "dimensions": [{"name": "AutoScalingGroupName", "value": asg_name}],
                        },
                        "stat": "Average",
                    },
                },
                {
                    "id": "backlog_per_instance",
                    "label": "visible messages per in-service worker",
                    "expression": "visible / instances",
                    "return_data": True,
                },
            ]
        },
    }


def worker_dead_letter_alarm(region: str, queue_name: pulumi.Input[str]) -> MetricAlarmSpec:
    """Any job in the workers' dead-letter queue (maximum over 5 minutes > 0) alerts the stack's topic."""
    return dead_letter_alarm(
        "worker-dead-letters",
        f"smtp-egress delivery workers for region {region}: a send job reached the workers' dead-letter queue "
        "(received too many times without finishing: the worker crashed on it or could not reach the ledger "
        "or the archive). Read the message there and the worker's journal (journalctl -u "
        "smtp-egress-worker), fix the cause, then send the job again or delete it.",
        queue_name,
    )


def instance_health_policy(group_arn: str) -> str:
    """The workers' role may mark instances of its own group unhealthy, and read an instance's status back."""
    return document(
        [
            {
                "Sid": "ReportOwnInstanceUnhealthy",
                "Effect": "Allow",
                "Action": list(HEALTH_ACTIONS),
                "Resource": require_arn(group_arn, "group_arn"),
            },
            {
                "Sid": "ReadInstanceHealth",
                "Effect": "Allow",
                "Action": ["autoscaling:DescribeAutoScalingInstances"],
                "Resource": "*",  # Describe* actions take no resource-level permission
            },
        ]
    )
