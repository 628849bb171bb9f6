"""The alerts topic's policies (pure functions of ARNs, tested without Pulumi): who may publish to the topic of
:class:`~smtp_egress.components.job_alerts.JobAlerts`, and who may use its KMS key.

EventBridge publishes the task's failures (on behalf of the two rules only); CloudWatch publishes the silence
alarms' notifications (on behalf of those alarms only). Both encrypt with the topic's customer-managed key, so
the key policy names both services: a service that may publish but not use the key has every message dropped.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from . import iam_policies


def topic_policy(topic_arn: str, rule_arns: Sequence[str], alarm_arns: Sequence[str] = ()) -> str:
    """EventBridge may publish to the topic only for these rules, CloudWatch only for these alarms."""
    topic = iam_policies.require_arn(topic_arn, "topic ARN")
    statements = [_publishes("EventBridgePublishesJobFailures", "events.amazonaws.com", topic, rule_arns, "rule ARN")]
    if alarm_arns:
        statements.append(
            _publishes("CloudWatchPublishesAlarms", "cloudwatch.amazonaws.com", topic, alarm_arns, "alarm ARN")
        )
    return iam_policies.document(statements)


def _publishes(sid: str, service: str, topic: str, sources: Sequence[str], what: str) -> dict:
    """``service`` may publish to ``topic`` on behalf of exactly ``sources`` (aws:SourceArn)."""
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": {"Service": service},
        "Action": "sns:Publish",
        "Resource": topic,
        "Condition": {"ArnEquals": {"aws:SourceArn": sorted(iam_policies.require_arn(a, what) for a in sources)}},
    }


def key_policy(account: str, alarms: bool = False) -> str:
    """The topic key: the account administers it (through IAM), EventBridge (and CloudWatch, for ``alarms``) may
    encrypt messages for the topic."""
    if not re.fullmatch(r"\d{12}", str(account)):
        raise ValueError(f"account must be a 12-digit AWS account ID, got {account!r}")
    statements = [
        {
            "Sid": "AccountAdministersTheKey",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
            "Action": "kms:*",
            "Resource": "*",
        },
        {
            "Sid": "EventBridgePublishesToTheTopic",
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
            "Resource": "*",
        },
    ]
    if alarms:
        statements.append(
            {
                **statements[1],
                "Sid": "CloudWatchAlarmsPublishToTheTopic",
                "Principal": {"Service": "cloudwatch.amazonaws.com"},
            }
        )
    return iam_policies.document(statements)
