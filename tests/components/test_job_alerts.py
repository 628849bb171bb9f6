"""JobAlerts: the exact event patterns, readable alert messages, the topic's policies, email subscriptions."""

from __future__ import annotations

import dataclasses
import json
import re

import pulumi
import pytest

from smtp_egress.components.job_alerts import (
    JobAlerts,
    JobAlertsArgs,
    email_problems,
    failed_pattern,
    failed_to_start_pattern,
    failed_to_start_transformer,
    failed_transformer,
    key_policy,
    subscription_name,
    topic_policy,
    validate,
)
from smtp_egress.errors import ConfigError

TYPE = "smtp-egress:jobs:JobAlerts"
CLUSTER = "arn:aws:ecs:us-east-1:123456789012:cluster/jobs"
OTHER_CLUSTER = "arn:aws:ecs:us-east-1:123456789012:cluster/other"
JOB = "smtp-egress notice job for region us"
LOG_GROUP = "us-notices-logs-abc1234"
RULE = "arn:aws:events:us-east-1:123456789012:rule/{}-abc1234"
TOPIC = "arn:aws:sns:us-east-1:123456789012:us-notices-alerts-abc1234"
KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
EMAILS = ("ops-alerts@example.com", "On.Call+smtp@mail.example.org")
ARGS = JobAlertsArgs(
    job=JOB,
    cluster_arn=CLUSTER,
    task_family="us-notices",
    log_group_name=LOG_GROUP,
    log_stream_prefix="notify/notify",
    emails=EMAILS,
    tags={"team": "mail"},
)


def stopped(*, exit_codes=(), stop_code="EssentialContainerExited", cluster=CLUSTER, group="family:us-notices") -> dict:
    """An "ECS Task State Change" event of a stopped task, shaped as ECS sends it."""
    containers = [
        {"name": "notify", "lastStatus": "STOPPED", **({"exitCode": c} if c is not None else {})} for c in exit_codes
    ] or [{"name": "notify", "lastStatus": "STOPPED"}]
    return {
        "version": "0",
        "source": "aws.ecs",
        "detail-type": "ECS Task State Change",
        "account": "123456789012",
        "time": "2026-12-01T06:00:42Z",
        "region": "us-east-1",
        "detail": {
            "clusterArn": cluster,
            "group": group,
            "lastStatus": "STOPPED",
            "desiredStatus": "STOPPED",
            "stopCode": stop_code,
            "stoppedReason": "Essential container in task exited",
            "taskArn": "arn:aws:ecs:us-east-1:123456789012:task/jobs/0f1e2d3c4b5a69788796a5b4c3d2e1f0",
            "containers": containers,
        },
    }


def matches(pattern, event) -> bool:
    """EventBridge matching for what these patterns use: exact values, anything-but, nested objects, a field
    that must exist, and an event array matching when any element does."""
    for key, want in pattern.items():
        if key not in event:
            return False
        got = event[key]
        if isinstance(want, dict):
            items = got if isinstance(got, list) else [got]
            if not any(isinstance(i, dict) and matches(want, i) for i in items):
                return False
            continue
        values = got if isinstance(got, list) else [got]
        if not any(_one(w, v) for w in want for v in values):
            return False
    return True


def _one(want, value) -> bool:
    if isinstance(want, dict) and set(want) == {"anything-but"}:
        but = want["anything-but"]
        return value not in but if isinstance(but, list) else value != but
    return want == value


def render(transformer: dict, event: dict) -> str:
    """What EventBridge sends the topic: the template with each <name> replaced by its path's value."""

    def value(path):
        node = event
        for part in re.findall(r"[^.\[\]]+", path[2:]):
            node = node[int(part)] if part.isdigit() else node[part]
        return node

    text = transformer["input_template"]
    for name, path in transformer["input_paths"].items():
        text = text.replace(
            f"<{name}>", json.dumps(value(path))[1:-1] if isinstance(value(path), str) else str(value(path))
        )
    return json.loads(text)


# --- pure functions --------------------------------------------------------------------------------------


def test_failed_pattern_is_exactly_a_non_zero_exit_of_this_family_in_this_cluster():
    assert json.loads(failed_pattern(CLUSTER, "us-notices")) == {
        "source": ["aws.ecs"],
        "detail-type": ["ECS Task State Change"],
        "detail": {
            "clusterArn": [CLUSTER],
            "group": ["family:us-notices"],
            "lastStatus": ["STOPPED"],
            "containers": {"exitCode": [{"anything-but": 0}]},
        },
    }


def test_failed_to_start_pattern_is_exactly_a_task_that_never_ran():
    assert json.loads(failed_to_start_pattern(CLUSTER, "us-notices")) == {
        "source": ["aws.ecs"],
        "detail-type": ["ECS Task State Change"],
        "detail": {
            "clusterArn": [CLUSTER],
            "group": ["family:us-notices"],
            "lastStatus": ["STOPPED"],
            "stopCode": ["TaskFailedToStart"],
        },
    }


@pytest.mark.parametrize(
    "event, failed, failed_to_start",
    [
        (stopped(exit_codes=[0]), False, False),  # all well: no alert
        (stopped(exit_codes=[4]), True, False),  # short notice
        (stopped(exit_codes=[6]), True, False),  # undelivered notices
        (stopped(exit_codes=[137], stop_code="UserInitiated"), True, False),  # killed
        (stopped(exit_codes=[None], stop_code="TaskFailedToStart"), False, True),  # image pull failed: no exit code
        (stopped(exit_codes=[3], cluster=OTHER_CLUSTER), False, False),  # another cluster's task
        (stopped(exit_codes=[3], group="family:eu-notices"), False, False),  # another job
    ],
)
def test_the_two_rules_together_catch_every_failure_and_nothing_else(event, failed, failed_to_start):
    assert matches(json.loads(failed_pattern(CLUSTER, "us-notices")), event) is failed
    assert matches(json.loads(failed_to_start_pattern(CLUSTER, "us-notices")), event) is failed_to_start


@pytest.mark.parametrize(
    "exit_code, alerted",
    [(0, False), (7, False), (8, False), (1, True), (2, True), (6, True), (3, True), (137, True)],
)
def test_a_job_whose_exits_also_report_findings_alerts_on_every_other_non_zero_exit(exit_code, alerted):
    """egress domains verify: 7 and 8 are customers' DNS, not a failed run; a crash or a kill still alerts."""
    pattern = json.loads(failed_pattern(CLUSTER, "us-domains", (8, 7, 7)))
    assert pattern["detail"]["containers"] == {"exitCode": [{"anything-but": [0, 7, 8]}]}
    assert matches(pattern, stopped(exit_codes=[exit_code], group="family:us-domains")) is alerted
    assert not matches(pattern, stopped(exit_codes=[exit_code], group="family:us-notices"))


def test_findings_exit_codes_must_be_non_zero_exit_codes():
    for bad in (0, 256, "7", True):
        with pytest.raises(ConfigError, match=f"findings exit code {bad!r} must be a non-zero exit code"):
            validate(dataclasses.replace(ARGS, findings_exit_codes=(bad,)))
    validate(dataclasses.replace(ARGS, findings_exit_codes=(7, 8)))


def test_the_failed_alert_says_what_the_jobs_own_codes_mean():
    t = failed_transformer(JOB, LOG_GROUP, "recheck/recheck", "7 and 8 are findings", "Nothing is re-checked.")
    text = render(t, stopped(exit_codes=[2]))
    assert "Exit codes: 7 and 8 are findings;" in text and text.endswith("what to do. Nothing is re-checked.")
    assert "4 short notice" not in text


def test_patterns_refuse_a_cluster_that_is_not_an_arn():
    with pytest.raises(ValueError, match="cluster_arn"):
        failed_pattern("jobs", "us-notices")


@pytest.mark.parametrize("make", [failed_transformer, failed_to_start_transformer])
def test_every_placeholder_is_an_input_path_and_the_template_is_a_json_string(make):
    t = make(JOB, LOG_GROUP, "notify/notify")
    assert set(re.findall(r"<([^<>]*)>", t["input_template"])) == set(t["input_paths"])
    assert isinstance(json.loads(t["input_template"]), str)  # SNS gets a plain sentence, not JSON


def test_failed_alert_names_the_exit_code_the_log_group_and_what_the_codes_mean():
    text = render(failed_transformer(JOB, LOG_GROUP, "notify/notify"), stopped(exit_codes=[4]))
    assert text.startswith("smtp-egress notice job for region us stopped with exit code 4 at 2026-12-01T06:00:42Z.")
    assert f"log group {LOG_GROUP}, stream notify/notify/" in text
    assert "task/jobs/0f1e2d3c4b5a69788796a5b4c3d2e1f0" in text
    for meaning in ("3 published list unusable", "4 short notice", "5 drift", "6 undelivered notices"):
        assert meaning in text


def test_failed_to_start_alert_names_the_stop_reason_and_the_log_group():
    event = stopped(exit_codes=[None], stop_code="TaskFailedToStart")
    event["detail"]["stoppedReason"] = 'CannotPullContainerError: pull image manifest "smtp-egress:0.1.0": not found'
    text = render(failed_to_start_transformer(JOB, LOG_GROUP), event)
    assert text.startswith(
        f"{JOB} failed to start at 2026-12-01T06:00:42Z (TaskFailedToStart: CannotPullContainerError: "
        'pull image manifest "smtp-egress:0.1.0": not found); nothing was checked or sent.'
    )
    assert f"log group {LOG_GROUP}" in text


def test_topic_policy_lets_eventbridge_publish_only_for_the_rules():
    policy = json.loads(topic_policy(TOPIC, [RULE.format("b"), RULE.format("a")]))
    assert policy == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "EventBridgePublishesJobFailures",
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Action": "sns:Publish",
                "Resource": TOPIC,
                "Condition": {"ArnEquals": {"aws:SourceArn": [RULE.format("a"), RULE.format("b")]}},
            }
        ],
    }
    with pytest.raises(ValueError, match="rule ARN"):
        topic_policy(TOPIC, [None])


def test_key_policy_keeps_the_account_in_control_and_lets_eventbridge_encrypt():
    statements = json.loads(key_policy("123456789012"))["Statement"]
    assert [(s["Principal"], s["Action"]) for s in statements] == [
        ({"AWS": "arn:aws:iam::123456789012:root"}, "kms:*"),
        ({"Service": "events.amazonaws.com"}, ["kms:Decrypt", "kms:GenerateDataKey*"]),
    ]
    with pytest.raises(ValueError, match="12-digit"):
        key_policy("me")


def test_good_addresses_pass():
    assert email_problems(EMAILS) == [] and email_problems(()) == []


@pytest.mark.parametrize(
    "emails, words",
    [
        (["ops"], "alert email 'ops' is not an email address"),
        (["Ops <ops@example.com>"], "'Ops <ops@example.com>' is not"),
        (["a@example.com,b@example.com"], "no comma"),
        ([" ops@example.com"], "' ops@example.com' is not"),
        (["ops@example"], "'ops@example' is not"),
        (["ops..alerts@example.com"], "is not an email address"),
        ([""], "'' is not"),
        ([None], "None is not"),
        (["ops@example.com", "OPS@example.com"], "'OPS@example.com' is listed twice"),
        ("ops@example.com", "not the single string 'ops@example.com'"),
    ],
)
def test_bad_addresses_are_named(emails, words):
    (problem,) = email_problems(emails)
    assert words in problem


def test_validate_refuses_bad_emails_and_a_job_with_placeholders():
    with pytest.raises(ConfigError, match=r"^JobAlerts: alert email 'ops' "):
        validate(dataclasses.replace(ARGS, emails=["ops"]))
    with pytest.raises(ConfigError, match="without '<' or '>'"):
        validate(dataclasses.replace(ARGS, job="job <x>"))


def test_subscription_names_follow_the_address_not_its_position():
    assert subscription_name("n", "Ops@Example.com") == subscription_name("n", "ops@example.com")
    assert re.fullmatch(r"n-alerts-email-[0-9a-f]{8}", subscription_name("n", "ops@example.com"))


# --- the child contract under mocks ----------------------------------------------------------------------

TOPIC_TYPE, RULE_TYPE = "aws:sns/topic:Topic", "aws:cloudwatch/eventRule:EventRule"


def topic_arn(rec) -> str:
    """The alerts topic's ARN, as the mocks computed it (what AWS would)."""
    return rec.outputs_of(TOPIC_TYPE, "us-notices-alerts")["arn"]


def deploy(pulumi_mocks, check, args=ARGS):
    rec = pulumi_mocks()
    captured = []

    @pulumi.runtime.test
    def run():
        return JobAlerts("us-notices", args).topic_arn.apply(captured.append)

    run()
    assert captured == [topic_arn(rec)], "the component's output never resolved, or is not the topic's ARN"
    assert captured[0].startswith("arn:aws:sns:us-east-1:123456789012:us-notices-alerts-")
    check(rec)


def test_children_types_names_and_parents(pulumi_mocks):
    def check(rec):
        (comp,) = [r for r in rec.sorted() if r.type == TYPE]
        children = [r for r in rec.sorted() if r.type != TYPE]
        assert comp.name == "us-notices" and all(r.parent == comp.urn for r in children)
        assert sorted((r.type, r.name) for r in children) == sorted(
            [
                ("aws:kms/key:Key", "us-notices-alerts-key"),
                ("aws:sns/topic:Topic", "us-notices-alerts"),
                ("aws:sns/topicPolicy:TopicPolicy", "us-notices-alerts-policy"),
                ("aws:cloudwatch/eventRule:EventRule", "us-notices-failed"),
                ("aws:cloudwatch/eventTarget:EventTarget", "us-notices-failed-alert"),
                ("aws:cloudwatch/eventRule:EventRule", "us-notices-failed-to-start"),
                ("aws:cloudwatch/eventTarget:EventTarget", "us-notices-failed-to-start-alert"),
                *(("aws:sns/topicSubscription:TopicSubscription", subscription_name("us-notices", e)) for e in EMAILS),
            ]
        )

    deploy(pulumi_mocks, check)


def test_rules_carry_the_exact_patterns_and_are_enabled(pulumi_mocks):
    def check(rec):
        failed = rec.inputs_of("aws:cloudwatch/eventRule:EventRule", "us-notices-failed")
        start = rec.inputs_of("aws:cloudwatch/eventRule:EventRule", "us-notices-failed-to-start")
        assert json.loads(failed["eventPattern"]) == json.loads(failed_pattern(CLUSTER, "us-notices"))
        assert json.loads(start["eventPattern"]) == json.loads(failed_to_start_pattern(CLUSTER, "us-notices"))
        assert failed["state"] == start["state"] == "ENABLED"
        assert failed["eventPattern"] == json.dumps(
            {
                "detail": {
                    "clusterArn": [CLUSTER],
                    "containers": {"exitCode": [{"anything-but": 0}]},
                    "group": ["family:us-notices"],
                    "lastStatus": ["STOPPED"],
                },
                "detail-type": ["ECS Task State Change"],
                "source": ["aws.ecs"],
            }
        )

    deploy(pulumi_mocks, check)


def test_targets_send_a_readable_sentence_to_the_topic(pulumi_mocks):
    def check(rec):
        for rule in ("us-notices-failed", "us-notices-failed-to-start"):
            target = rec.inputs_of("aws:cloudwatch/eventTarget:EventTarget", f"{rule}-alert")
            rule_name = rec.outputs_of(RULE_TYPE, rule)["name"]
            assert rule_name.startswith(f"{rule}-") and target["rule"] == rule_name and target["arn"] == topic_arn(rec)
            assert LOG_GROUP in target["inputTransformer"]["inputTemplate"]
        failed = rec.inputs_of("aws:cloudwatch/eventTarget:EventTarget", "us-notices-failed-alert")["inputTransformer"]
        assert failed["inputPaths"]["exitCode"] == "$.detail.containers[0].exitCode"
        assert "stopped with exit code <exitCode>" in failed["inputTemplate"]
        assert "6 undelivered notices" in failed["inputTemplate"]

    deploy(pulumi_mocks, check)


def test_topic_is_encrypted_with_its_own_key_and_only_the_rules_may_publish(pulumi_mocks):
    def check(rec):
        topic = rec.inputs_of("aws:sns/topic:Topic", "us-notices-alerts")
        key_arn = rec.outputs_of("aws:kms/key:Key", "us-notices-alerts-key")["arn"]
        assert key_arn.startswith("arn:aws:kms:us-east-1:123456789012:key/")
        assert topic["kmsMasterKeyId"] == key_arn  # not alias/aws/sns: EventBridge cannot use the AWS-managed key
        key = rec.inputs_of("aws:kms/key:Key", "us-notices-alerts-key")
        assert key["enableKeyRotation"] is True and key["policy"] == key_policy("123456789012")
        policy = rec.inputs_of("aws:sns/topicPolicy:TopicPolicy", "us-notices-alerts-policy")
        assert policy["arn"] == topic_arn(rec)
        (statement,) = json.loads(policy["policy"])["Statement"]
        assert statement["Principal"] == {"Service": "events.amazonaws.com"} and statement["Action"] == "sns:Publish"
        assert statement["Condition"] == {
            "ArnEquals": {
                "aws:SourceArn": [
                    rec.outputs_of(RULE_TYPE, rule)["arn"]
                    for rule in ("us-notices-failed", "us-notices-failed-to-start")
                ]
            }
        }

    deploy(pulumi_mocks, check)


def test_one_email_subscription_per_address(pulumi_mocks):
    def check(rec):
        subs = rec.by_type("aws:sns/topicSubscription:TopicSubscription")
        assert sorted(s.inputs["endpoint"] for s in subs) == sorted(EMAILS)
        assert all(s.inputs["protocol"] == "email" and s.inputs["topic"] == topic_arn(rec) for s in subs)

    deploy(pulumi_mocks, check)


def test_no_addresses_no_subscriptions(pulumi_mocks):
    def check(rec):
        assert not rec.by_type("aws:sns/topicSubscription:TopicSubscription")
        assert rec.by_type("aws:sns/topic:Topic")  # the topic still exists for other subscribers

    deploy(pulumi_mocks, check, dataclasses.replace(ARGS, emails=()))


def test_a_bad_address_is_refused_before_anything_is_declared(pulumi_mocks):
    rec = pulumi_mocks()
    with pytest.raises(ConfigError, match="alert email 'ops@'"):
        JobAlerts("us-notices", dataclasses.replace(ARGS, emails=("ops@",)))
    assert rec.resources == []
