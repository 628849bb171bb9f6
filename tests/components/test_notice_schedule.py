"""NoticeSchedule: validation, the container definition, least-privilege roles, secrets that never leak, and
alerts on this very task's failures (the details of JobAlerts are in test_job_alerts)."""

from __future__ import annotations

import dataclasses
import json
import re

import pulumi
import pytest

from smtp_egress.components import iam_policies, job_alerts
from smtp_egress.components.notice_schedule import (
    NoticeSchedule,
    NoticeScheduleArgs,
    base_url,
    command,
    container_definitions,
    validate,
)
from smtp_egress.errors import ConfigError

TYPE = "smtp-egress:jobs:NoticeSchedule"
ALERTS = "smtp-egress:jobs:JobAlerts"
SECRET_SIG = "4dabf18193072939515e22adb298388d"  # pulumi's marker of a secret value on the wire
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/smtp-egress:0.1.0"
URL = "https://us.ips.example.com/v1/info/ip_addresses"
DB = "postgresql+psycopg://egress:Db-Pa55word-7f3@db.internal/egress"
SMTP = "smtp://notices:Smtp-Pa55word-91c@smtp.example.com:587"
HOOK = "Webhook-Key-0a1b2c3d4e5f"
TASK_ARN = "arn:aws:ecs:us-east-1:123456789012:task-definition/us-notices:1"


def args(**change) -> NoticeScheduleArgs:
    base = NoticeScheduleArgs(
        region="us",
        image=IMAGE,
        subnet_ids=["subnet-a", "subnet-b"],
        security_group_id="sg-jobs",
        published_url=URL,
        secrets={
            "EGRESS_DB": pulumi.Output.secret(DB),
            "EGRESS_SMTP_URL": pulumi.Output.secret(SMTP),
            "EGRESS_WEBHOOK_SECRET": HOOK,
        },  # a plain string is made secret too
        sender="IP notices <ip-notices@example.com>",
        alert_emails=("ops-alerts@example.com",),
        tags={"team": "mail"},
    )
    return dataclasses.replace(base, **change)


ROLE, LOGS = "aws:iam/role:Role", "aws:cloudwatch/logGroup:LogGroup"


def arn_of(rec, typ: str, name: str) -> str:
    """A child's ARN, as the mocks computed it (what AWS would)."""
    return rec.outputs_of(typ, name)["arn"]


def log_group(rec) -> str:
    """The log group's name: Pulumi's auto-name, ``us-notices-logs-`` and a random suffix."""
    name = rec.outputs_of(LOGS, "us-notices-logs")["name"]
    assert name.startswith("us-notices-logs-")
    return name


def deploy(pulumi_mocks, check, a=None):
    rec = pulumi_mocks()
    captured = []

    @pulumi.runtime.test
    def run():
        comp = NoticeSchedule("us-notices", a or args())
        outs = [
            comp.schedule_arn,
            comp.task_definition_arn,
            comp.log_group_name,
            comp.secret_arns,
            comp.alerts_topic_arn,
        ]
        return pulumi.Output.all(*outs).apply(captured.append)

    run()
    assert len(captured) == 1, "the component's outputs never resolved"  # every registration has finished here
    check(rec, captured[0])


# --- pure functions --------------------------------------------------------------------------------------


def test_defaults_validate():
    validate(args())


@pytest.mark.parametrize(
    "change, words",
    [
        ({"region": "US"}, "region 'US'"),
        ({"image": ""}, "image ''"),
        ({"schedule_expression": "0 6 * * *"}, "schedule_expression '0 6 * * *'"),
        ({"schedule_expression": "at(2026-12-01T06:00:00)"}, "recurring"),
        ({"published_url": "http://us.ips.example.com/v1/info/ip_addresses"}, "published_url 'http://"),
        ({"secrets": {"EGRESS_SMTP_URL": "x"}}, "secrets lack 'EGRESS_DB'"),
        ({"secrets": {"EGRESS_DB": "x"}}, "secrets lack 'EGRESS_SMTP_URL'"),
        ({"secrets": {"EGRESS_DB": "x", "EGRESS_SMTP_URL": "y", "bad-name": "z"}}, "secret name 'bad-name'"),
        ({"environment": {"EGRESS_DB": "sqlite:///x"}}, "in both environment and secrets"),
        (
            {"environment": {"EGRESS_WEBHOOK_SECRET": "k"}, "secrets": {"EGRESS_DB": "x", "EGRESS_SMTP_URL": "y"}},
            "looks like a secret",
        ),
        ({"environment": {"API_TOKEN": "k"}}, "environment 'API_TOKEN' looks like a secret"),
        ({"sender": "ip-notices@localhost"}, "sender 'ip-notices@localhost' is not an address like"),
        ({"sender": "IP notices <ip@example.com>\r\nBcc: x@example.com"}, "is not one line"),
        ({"environment": {"EGRESS_FROM": "ip@example.com"}}, "'EGRESS_FROM' is set from sender"),
        ({"environment": {"EGRESS_RELAY": "smtp://u:p@h"}}, "without credentials"),
        ({"cpu": 256, "memory": 4096}, "cpu 256 with memory 4096"),
        ({"cpu_architecture": "arm"}, "cpu_architecture 'arm'"),
        ({"plan_path": "plan.yaml; rm -rf /"}, "plan_path"),
        ({"alert_emails": ("ops-alerts@example.com", "Ops <ops@example.com>")}, "alert email 'Ops <ops@example.com>'"),
        ({"alert_emails": "ops-alerts@example.com"}, "not the single string 'ops-alerts@example.com'"),
    ],
)
def test_validate_names_the_bad_value(change, words):
    with pytest.raises(ConfigError, match="NoticeSchedule: ") as exc:
        validate(args(**change))
    assert words in str(exc.value)


def test_the_known_secrets_are_the_ledger_s_and_the_notice_channels():
    from smtp_egress.components.notice_schedule import KNOWN_SECRETS, REQUIRED_SECRETS
    from smtp_egress.notices.channels import stack_secrets

    assert list(REQUIRED_SECRETS) == ["EGRESS_DB", *(s.env for s in stack_secrets() if s.required)]
    assert set(KNOWN_SECRETS) == {"EGRESS_DB", *(s.env for s in stack_secrets())}
    assert REQUIRED_SECRETS["EGRESS_SMTP_URL"].startswith("notices must leave over SMTP")


def test_validation_never_prints_a_secret_value():
    with pytest.raises(ConfigError) as exc:
        validate(args(secrets={"EGRESS_SMTP_URL": SMTP, "bad name": DB}))
    assert SMTP not in str(exc.value) and DB not in str(exc.value)


def test_command_and_base_url():
    assert command("us", URL) == ["egress", "notify", "--region", "us", "--published", URL, "--json"]
    assert command("eu", URL, "/app/plan.yaml")[-3:] == ["--plan", "/app/plan.yaml", "--json"]
    assert base_url(URL) == "https://us.ips.example.com"


def test_container_definition_carries_secrets_only_as_arns():
    (c,) = json.loads(
        container_definitions(
            image=IMAGE,
            command=["egress", "notify"],
            environment={"B": "2", "A": "1"},
            secret_arns={"EGRESS_DB": "arn:aws:secretsmanager:us-east-1:1:secret:db"},
            log_group="lg",
            aws_region="us-east-1",
        )
    )
    assert c["environment"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]
    assert c["secrets"] == [{"name": "EGRESS_DB", "valueFrom": "arn:aws:secretsmanager:us-east-1:1:secret:db"}]
    assert c["readonlyRootFilesystem"] is True and c["essential"] is True
    assert c["logConfiguration"] == {
        "logDriver": "awslogs",
        "options": {"awslogs-group": "lg", "awslogs-region": "us-east-1", "awslogs-stream-prefix": "notify"},
    }
    with pytest.raises(ValueError, match="secret EGRESS_DB"):
        container_definitions(
            image=IMAGE,
            command=[],
            environment={},
            secret_arns={"EGRESS_DB": DB},
            log_group="lg",
            aws_region="us-east-1",
        )


@pytest.mark.parametrize(
    "image, repo",
    [
        (IMAGE, "arn:aws:ecr:us-east-1:123456789012:repository/smtp-egress"),
        (
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/smtp-egress@sha256:" + "a" * 64,
            "arn:aws:ecr:eu-west-1:123456789012:repository/team/smtp-egress",
        ),
        ("ghcr.io/example/smtp-egress:0.1.0", None),
    ],
)
def test_ecr_repository_of_an_image(image, repo):
    assert iam_policies.ecr_repository_arn(image) == repo


def test_execution_policy_without_ecr_grants_no_ecr():
    policy = json.loads(
        iam_policies.task_execution_policy(
            "arn:aws:logs:r:1:log-group:g", ["arn:aws:secretsmanager:r:1:secret:s"], None
        )
    )
    assert [s["Sid"] for s in policy["Statement"]] == ["WriteLogs", "ReadJobSecrets"]


def test_scheduler_policy_with_a_dead_letter_queue():
    policy = json.loads(
        iam_policies.scheduler_policy(
            TASK_ARN, "arn:aws:ecs:r:1:cluster/c", ["arn:aws:iam::1:role/a"], "arn:aws:sqs:r:1:dlq"
        )
    )
    assert policy["Statement"][-1] == {
        "Sid": "DeadLetter",
        "Effect": "Allow",
        "Action": "sqs:SendMessage",
        "Resource": "arn:aws:sqs:r:1:dlq",
    }


# --- the child contract under mocks ----------------------------------------------------------------------


def test_children_types_names_and_parents(pulumi_mocks):
    def check(rec, _):
        (comp,) = [r for r in rec.sorted() if r.type == TYPE]
        (alerts,) = [r for r in rec.sorted() if r.type == ALERTS]
        children = [r for r in rec.sorted() if r.parent == comp.urn and r.type != ALERTS]
        assert comp.name == alerts.name == "us-notices" and alerts.parent == comp.urn
        alert_children = [r for r in rec.sorted() if r.parent == alerts.urn]
        assert len(children) + len(alert_children) + 2 == len(rec.resources)  # nothing else, nothing unparented
        assert sorted(r.name for r in alert_children) == sorted(
            [
                "us-notices-alerts-key",
                "us-notices-alerts",
                "us-notices-alerts-policy",
                "us-notices-failed",
                "us-notices-failed-alert",
                "us-notices-failed-to-start",
                "us-notices-failed-to-start-alert",
                "us-notices-silent",
                "us-notices-dead-letters",
                job_alerts.subscription_name("us-notices", "ops-alerts@example.com"),
            ]
        )
        secrets = [
            (f"aws:secretsmanager/secret{v}:Secret{v}", f"us-notices-secret-{s}{'-version' if v else ''}")
            for s in ("egress-db", "egress-smtp-url", "egress-webhook-secret")
            for v in ("", "Version")
        ]
        assert sorted((r.type, r.name) for r in children) == sorted(
            [
                ("aws:ecs/cluster:Cluster", "us-notices-cluster"),
                *secrets,
                ("aws:cloudwatch/logGroup:LogGroup", "us-notices-logs"),
                ("aws:iam/role:Role", "us-notices-execution-role"),
                ("aws:iam/rolePolicy:RolePolicy", "us-notices-execution-role-policy"),
                ("aws:iam/role:Role", "us-notices-task-role"),
                ("aws:iam/rolePolicy:RolePolicy", "us-notices-task-role-policy"),
                ("aws:ecs/taskDefinition:TaskDefinition", "us-notices-task"),
                ("aws:sqs/queue:Queue", "us-notices-dlq"),
                ("aws:sqs/queuePolicy:QueuePolicy", "us-notices-dlq-policy"),
                ("aws:iam/role:Role", "us-notices-scheduler-role"),
                ("aws:iam/rolePolicy:RolePolicy", "us-notices-scheduler-role-policy"),
                ("aws:scheduler/schedule:Schedule", "us-notices-schedule"),
            ]
        )

    deploy(pulumi_mocks, check)


def test_outputs(pulumi_mocks):
    def check(rec, values):
        schedule = arn_of(rec, "aws:scheduler/schedule:Schedule", "us-notices-schedule")
        assert values == [
            schedule,
            TASK_ARN,
            log_group(rec),
            {
                key: arn_of(rec, "aws:secretsmanager/secret:Secret", f"us-notices-secret-{slug}")
                for key, slug in (
                    ("EGRESS_DB", "egress-db"),
                    ("EGRESS_SMTP_URL", "egress-smtp-url"),
                    ("EGRESS_WEBHOOK_SECRET", "egress-webhook-secret"),
                )
            },
            arn_of(rec, "aws:sns/topic:Topic", "us-notices-alerts"),
        ]
        assert arn_of(rec, "aws:ecs/taskDefinition:TaskDefinition", "us-notices-task") == TASK_ARN  # family:revision
        secret_arns = set(values[3].values())
        assert len(secret_arns) == 3
        assert all(
            a.startswith("arn:aws:secretsmanager:us-east-1:123456789012:secret:us-notices-secret-") for a in secret_arns
        )

    deploy(pulumi_mocks, check)


def test_secret_values_appear_only_in_their_secret_versions(pulumi_mocks):
    def check(rec, _):
        for r in rec.sorted():
            text = json.dumps(r.inputs, default=str)
            if r.type == "aws:secretsmanager/secretVersion:SecretVersion":
                value = r.inputs["secretString"]
                assert value[SECRET_SIG] and value["value"] in (DB, SMTP, HOOK)  # stored, and as a Pulumi secret
                continue
            for secret in (DB, SMTP, HOOK, "Pa55word"):
                assert secret not in text, f"{secret!r} leaked into {r['type']} {r['name']}"
        versions = {
            r.name: r.inputs["secretString"]["value"]
            for r in rec.by_type("aws:secretsmanager/secretVersion:SecretVersion")
        }
        assert versions == {
            "us-notices-secret-egress-db-version": DB,
            "us-notices-secret-egress-smtp-url-version": SMTP,
            "us-notices-secret-egress-webhook-secret-version": HOOK,
        }

    deploy(pulumi_mocks, check)


def test_task_definition_runs_notify_for_the_region_with_secrets_by_reference(pulumi_mocks):
    def check(rec, values):
        task = rec.inputs_of("aws:ecs/taskDefinition:TaskDefinition", "us-notices-task")
        assert task["requiresCompatibilities"] == ["FARGATE"] and task["networkMode"] == "awsvpc"
        assert (task["cpu"], task["memory"], task["family"]) == ("512", "1024", "us-notices")
        assert task["executionRoleArn"] == arn_of(rec, ROLE, "us-notices-execution-role")
        assert task["taskRoleArn"] == arn_of(rec, ROLE, "us-notices-task-role")
        (c,) = json.loads(task["containerDefinitions"])
        assert c["image"] == IMAGE
        assert c["command"] == ["egress", "notify", "--region", "us", "--published", URL, "--json"]
        assert c["environment"] == [
            {"name": "EGRESS_BASE_URL", "value": "https://us.ips.example.com"},
            {"name": "EGRESS_FROM", "value": "IP notices <ip-notices@example.com>"},
            {"name": "EGRESS_HEARTBEAT_NAMESPACE", "value": "SmtpEgress"},
        ]
        assert c["secrets"] == [{"name": k, "valueFrom": v} for k, v in sorted(values[3].items())]
        assert c["logConfiguration"]["options"]["awslogs-group"] == log_group(rec)
        assert c["logConfiguration"]["options"]["awslogs-region"] == "us-east-1"
        assert rec.inputs_of("aws:cloudwatch/logGroup:LogGroup", "us-notices-logs")["retentionInDays"] == 400.0

    deploy(pulumi_mocks, check, args(cpu=512, memory=1024))


def test_schedule_runs_the_task_daily_on_fargate_in_private_subnets(pulumi_mocks):
    def check(rec, _):
        s = rec.inputs_of("aws:scheduler/schedule:Schedule", "us-notices-schedule")
        assert s["scheduleExpression"] == "cron(30 5 * * ? *)" and s["scheduleExpressionTimezone"] == "UTC"
        assert s["flexibleTimeWindow"] == {"mode": "OFF"} and s["state"] == "ENABLED"
        target = s["target"]
        assert target["arn"] == "arn:aws:ecs:us-east-1:123456789012:cluster/shared"
        assert target["roleArn"] == arn_of(rec, ROLE, "us-notices-scheduler-role")
        assert target["ecsParameters"] == {
            "taskDefinitionArn": TASK_ARN,
            "launchType": "FARGATE",
            "taskCount": 1.0,
            "platformVersion": "LATEST",
            "networkConfiguration": {
                "subnets": ["subnet-a", "subnet-b"],
                "securityGroups": ["sg-jobs"],
                "assignPublicIp": False,
            },
        }
        assert target["retryPolicy"]["maximumRetryAttempts"] == 2.0
        assert target["deadLetterConfig"] == {"arn": "arn:aws:sqs:us-east-1:123456789012:notices-dlq"}
        assert not rec.by_type("aws:sqs/queue:Queue")  # the given queue is used, none is created
        assert not rec.by_type("aws:ecs/cluster:Cluster")  # the given cluster is used, none is created

    deploy(
        pulumi_mocks,
        check,
        args(
            schedule_expression="cron(30 5 * * ? *)",
            cluster_arn="arn:aws:ecs:us-east-1:123456789012:cluster/shared",
            dead_letter_queue_arn="arn:aws:sqs:us-east-1:123456789012:notices-dlq",
        ),
    )


def test_roles_are_least_privilege(pulumi_mocks):
    def check(rec, values):
        trusts = {
            n: json.loads(rec.inputs_of("aws:iam/role:Role", f"us-notices-{n}")["assumeRolePolicy"])["Statement"]
            for n in ("execution-role", "task-role", "scheduler-role")
        }
        for role, service in (
            ("execution-role", "ecs-tasks"),
            ("task-role", "ecs-tasks"),
            ("scheduler-role", "scheduler"),
        ):
            assert trusts[role] == [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": f"{service}.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                    "Condition": {"StringEquals": {"aws:SourceAccount": "123456789012"}},
                }
            ]
        execution = json.loads(
            rec.inputs_of("aws:iam/rolePolicy:RolePolicy", "us-notices-execution-role-policy")["policy"]
        )
        assert [(s["Action"], s["Resource"]) for s in execution["Statement"]] == [
            ("ecr:GetAuthorizationToken", "*"),
            (
                ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
                "arn:aws:ecr:us-east-1:123456789012:repository/smtp-egress",
            ),
            (["logs:CreateLogStream", "logs:PutLogEvents"], arn_of(rec, LOGS, "us-notices-logs") + ":log-stream:*"),
            ("secretsmanager:GetSecretValue", sorted(values[3].values())),
        ]
        scheduler = json.loads(
            rec.inputs_of("aws:iam/rolePolicy:RolePolicy", "us-notices-scheduler-role-policy")["policy"]
        )
        assert scheduler["Statement"] == [
            {
                "Sid": "RunNoticeTask",
                "Effect": "Allow",
                "Action": "ecs:RunTask",
                "Resource": TASK_ARN,
                "Condition": {
                    "ArnEquals": {"ecs:cluster": arn_of(rec, "aws:ecs/cluster:Cluster", "us-notices-cluster")}
                },
            },
            {
                "Sid": "PassTaskRoles",
                "Effect": "Allow",
                "Action": "iam:PassRole",
                "Resource": [arn_of(rec, ROLE, "us-notices-execution-role"), arn_of(rec, ROLE, "us-notices-task-role")],
                "Condition": {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
            },
            {
                "Sid": "DeadLetter",
                "Effect": "Allow",
                "Action": "sqs:SendMessage",
                "Resource": arn_of(rec, "aws:sqs/queue:Queue", "us-notices-dlq"),
            },
        ]
        task = json.loads(rec.inputs_of("aws:iam/rolePolicy:RolePolicy", "us-notices-task-role-policy")["policy"])
        assert task["Statement"] == [
            {
                "Sid": "PutHeartbeat",
                "Effect": "Allow",
                "Action": "cloudwatch:PutMetricData",
                "Resource": "*",  # PutMetricData has no resource type: the namespace condition scopes it
                "Condition": {"StringEquals": {"cloudwatch:namespace": "SmtpEgress"}},
            }
        ]
        policies = [r.name for r in rec.resources if r.type.startswith("aws:iam/") and r.type != "aws:iam/role:Role"]
        assert sorted(policies) == [
            "us-notices-execution-role-policy",
            "us-notices-scheduler-role-policy",
            "us-notices-task-role-policy",
        ]  # the task role: the heartbeat metric only

    deploy(pulumi_mocks, check)


def test_alerts_watch_this_task_in_this_cluster_and_point_at_its_log_group(pulumi_mocks):
    def check(rec, values):
        cluster = arn_of(rec, "aws:ecs/cluster:Cluster", "us-notices-cluster")
        for rule, pattern in (
            ("us-notices-failed", job_alerts.failed_pattern),
            ("us-notices-failed-to-start", job_alerts.failed_to_start_pattern),
        ):
            assert rec.inputs_of("aws:cloudwatch/eventRule:EventRule", rule)["eventPattern"] == pattern(
                cluster, "us-notices"
            )
        target = rec.inputs_of("aws:cloudwatch/eventTarget:EventTarget", "us-notices-failed-alert")
        assert target["arn"] == values[4] == arn_of(rec, "aws:sns/topic:Topic", "us-notices-alerts")
        template = json.loads(target["inputTransformer"]["inputTemplate"])
        assert template.startswith("smtp-egress notice job for region us stopped with exit code <exitCode>")
        assert f"log group {log_group(rec)}, stream notify/notify/" in template  # the task's awslogs stream
        (sub,) = rec.by_type("aws:sns/topicSubscription:TopicSubscription")
        assert (sub.inputs["protocol"], sub.inputs["endpoint"]) == ("email", "ops-alerts@example.com")

    deploy(pulumi_mocks, check)


# --- silence is an alarm: retries, the dead-letter queue, the heartbeat ----------------------------------------


def test_a_failed_start_is_retried_then_dead_lettered_to_an_encrypted_queue_only_the_scheduler_writes(pulumi_mocks):
    def check(rec, _):
        target = rec.inputs_of("aws:scheduler/schedule:Schedule", "us-notices-schedule")["target"]
        assert target["retryPolicy"] == {"maximumRetryAttempts": 2.0, "maximumEventAgeInSeconds": 3600.0}
        dlq_arn = arn_of(rec, "aws:sqs/queue:Queue", "us-notices-dlq")
        assert target["deadLetterConfig"] == {"arn": dlq_arn}
        dlq = rec.inputs_of("aws:sqs/queue:Queue", "us-notices-dlq")
        assert dlq["sqsManagedSseEnabled"] is True and dlq["messageRetentionSeconds"] == 1209600.0
        policy = rec.inputs_of("aws:sqs/queuePolicy:QueuePolicy", "us-notices-dlq-policy")
        assert policy["queueUrl"] == rec.outputs_of("aws:sqs/queue:Queue", "us-notices-dlq")["url"]
        allow, deny = json.loads(policy["policy"])["Statement"]
        assert allow == {
            "Sid": "SchedulerSendsDeadLetters",
            "Effect": "Allow",
            "Principal": {"AWS": arn_of(rec, ROLE, "us-notices-scheduler-role")},
            "Action": "sqs:SendMessage",
            "Resource": dlq_arn,
        }
        assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}

    deploy(pulumi_mocks, check)


def test_messages_in_the_dead_letter_queue_and_a_silent_day_alert_the_topic(pulumi_mocks):
    def check(rec, values):
        topic = values[4]
        dead = rec.inputs_of("aws:cloudwatch/metricAlarm:MetricAlarm", "us-notices-dead-letters")
        assert (dead["namespace"], dead["metricName"], dead["dimensions"]) == (
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            {"QueueName": rec.outputs_of("aws:sqs/queue:Queue", "us-notices-dlq")["name"]},
        )
        assert (dead["comparisonOperator"], dead["threshold"], dead["treatMissingData"]) == (
            "GreaterThanThreshold",
            0.0,
            "notBreaching",
        )
        silent = rec.inputs_of("aws:cloudwatch/metricAlarm:MetricAlarm", "us-notices-silent")
        assert (silent["namespace"], silent["metricName"], silent["dimensions"]) == (
            "SmtpEgress",
            "DailyRunSucceeded",
            {"Region": "us"},
        )
        assert silent["treatMissingData"] == "breaching"  # no data point in an hour: no run succeeded in it
        assert silent["period"] * silent["evaluationPeriods"] == 26 * 3600 and silent["datapointsToAlarm"] == 26
        assert (silent["statistic"], silent["comparisonOperator"], silent["threshold"]) == (
            "Sum",
            "LessThanThreshold",
            1,
        )
        assert "no run succeeded for 26 hours" in silent["alarmDescription"]
        for alarm in (dead, silent):
            assert alarm["alarmActions"] == [topic]
        alarm_arns = sorted(
            arn_of(rec, "aws:cloudwatch/metricAlarm:MetricAlarm", n)
            for n in ("us-notices-dead-letters", "us-notices-silent")
        )
        statements = json.loads(rec.inputs_of("aws:sns/topicPolicy:TopicPolicy", "us-notices-alerts-policy")["policy"])[
            "Statement"
        ]
        assert statements[-1] == {
            "Sid": "CloudWatchPublishesAlarms",
            "Effect": "Allow",
            "Principal": {"Service": "cloudwatch.amazonaws.com"},
            "Action": "sns:Publish",
            "Resource": topic,
            "Condition": {"ArnEquals": {"aws:SourceArn": alarm_arns}},
        }
        key = json.loads(rec.inputs_of("aws:kms/key:Key", "us-notices-alerts-key")["policy"])["Statement"]
        assert [s["Principal"] for s in key[1:]] == [
            {"Service": "events.amazonaws.com"},
            {"Service": "cloudwatch.amazonaws.com"},  # an alarm cannot publish to a topic whose key it cannot use
        ]

    deploy(pulumi_mocks, check)


def test_an_existing_dead_letter_queue_is_used_and_watched_by_name(pulumi_mocks):
    given = "arn:aws:sqs:us-east-1:123456789012:shared-dlq"

    def check(rec, _):
        assert not rec.by_type("aws:sqs/queue:Queue") and not rec.by_type("aws:sqs/queuePolicy:QueuePolicy")
        target = rec.inputs_of("aws:scheduler/schedule:Schedule", "us-notices-schedule")["target"]
        assert target["deadLetterConfig"] == {"arn": given}
        dead = rec.inputs_of("aws:cloudwatch/metricAlarm:MetricAlarm", "us-notices-dead-letters")
        assert dead["dimensions"] == {"QueueName": "shared-dlq"}

    deploy(pulumi_mocks, check, args(dead_letter_queue_arn=given, heartbeat_namespace="Mail/Egress"))


@pytest.mark.parametrize(
    "change, words",
    [
        ({"heartbeat_namespace": "AWS/ECS"}, "heartbeat_namespace 'AWS/ECS' is not a CloudWatch namespace"),
        ({"dead_letter_queue_arn": "arn:aws:sqs:us-east-1:123456789012:q.fifo"}, "must be the ARN of a standard SQS"),
        ({"environment": {"EGRESS_HEARTBEAT_NAMESPACE": "X"}}, "is set from heartbeat_namespace"),
    ],
)
def test_heartbeat_and_dead_letter_settings_are_validated(change, words):
    with pytest.raises(ConfigError, match=re.escape(words)):
        validate(args(**change))
