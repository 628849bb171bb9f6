"""The silence alarms: CloudWatch's limits on an alarm's window, the heartbeat alarm's construction, the policies."""

from __future__ import annotations

import dataclasses
import json

import pytest

from smtp_egress.components import job_alerts, silence_alarms
from smtp_egress.errors import ConfigError
from smtp_egress.heartbeats import SILENCE_HOURS

JOB = "smtp-egress notice job for region us"


@pytest.mark.parametrize(
    "period, evaluations, problem",
    [
        (3600, 26, None),  # the heartbeat's 26 hours: over a day, allowed for periods of an hour or more
        (3600, 168, None),  # 7 days, the limit
        (60, 1440, None),  # 1 day of minutes, the limit for short periods
        (600, 156, "exceeds CloudWatch's 86400 s for periods shorter than an hour"),  # 26 hours of 10 minutes
        (3600, 169, "exceeds CloudWatch's 604800 s for periods of an hour or more"),
        (90, 1, "must be 10, 20, 30 or a multiple of 60"),
        (300, 0, "evaluation_periods 0 must be at least 1"),
    ],
)
def test_the_window_limits_cloudwatch_enforces(period, evaluations, problem):
    found = silence_alarms.window_problem(period, evaluations)
    assert (found is None) if problem is None else (problem in found)


def test_the_heartbeat_alarm_fires_after_26_silent_hours_and_fits_the_limits():
    alarm = silence_alarms.heartbeat_alarm(JOB, "SmtpEgress", "us")
    assert silence_alarms.window_problem(alarm.period, alarm.evaluation_periods) is None
    assert alarm.period * alarm.evaluation_periods == SILENCE_HOURS * 3600
    assert alarm.datapoints_to_alarm == alarm.evaluation_periods  # every hour silent, not M of N
    assert alarm.treat_missing_data == "breaching" and alarm.dimensions == {"Region": "us"}


def test_an_alarm_cloudwatch_would_refuse_is_a_config_error():
    bad = dataclasses.replace(
        silence_alarms.heartbeat_alarm(JOB, "SmtpEgress", "us"), period=600, evaluation_periods=156
    )
    args = job_alerts.JobAlertsArgs(
        job=JOB, cluster_arn="arn:aws:ecs:r:1:cluster/c", task_family="f", log_group_name="g"
    )
    with pytest.raises(ConfigError, match=r"alarm 'silent': period 600 s x evaluation_periods 156 = 93600 s exceeds"):
        job_alerts.validate(dataclasses.replace(args, alarms=(bad,)))


def test_the_task_may_put_metrics_in_its_namespace_only():
    (statement,) = json.loads(silence_alarms.heartbeat_metric_policy("SmtpEgress"))["Statement"]
    assert statement["Action"] == "cloudwatch:PutMetricData"
    assert statement["Condition"] == {"StringEquals": {"cloudwatch:namespace": "SmtpEgress"}}


def test_the_dead_letter_queue_policy_refuses_what_is_not_an_arn():
    with pytest.raises(ValueError, match="scheduler role ARN must be an ARN"):
        silence_alarms.dead_letter_queue_policy("arn:aws:sqs:r:1:q", None)


def test_the_topic_policy_without_alarms_is_unchanged():
    topic = "arn:aws:sns:us-east-1:123456789012:t"
    rule = "arn:aws:events:us-east-1:123456789012:rule/r"
    assert [s["Sid"] for s in json.loads(job_alerts.topic_policy(topic, [rule]))["Statement"]] == [
        "EventBridgePublishesJobFailures"
    ]
    assert len(json.loads(job_alerts.key_policy("123456789012"))["Statement"]) == 2
