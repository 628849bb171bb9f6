"""The branded domains' re-check in the regional stack: `egress domains verify --all --notify` on a schedule, with
the notice job's secrets, no task role, a scheduler role parliament accepts, and alerts on failed runs only (never
on exits 7 and 8, what the run found in customers' DNS)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

import pytest

from smtp_egress.components import domains_recheck
from smtp_egress.errors import ConfigError
from smtp_egress.jobs import synth

from .test_daily_task import parliament_findings
from .test_job_alerts import matches, stopped

DATA = Path(__file__).resolve().parents[1] / "stacks" / "data"
PUBLISHED = {"us": "published-us-announced.json", "eu": "published-eu.json"}


def plan(stack: str, **config: str) -> dict:
    inputs = synth.SynthInputs(
        stack,
        DATA / "egress-ips.yaml",
        dt.date(2026, 11, 26),
        published=str(DATA / PUBLISHED[stack]),
        config={f"smtp-egress:{k}": v for k, v in config.items()},
    )
    return synth.run(inputs).document


@pytest.fixture(scope="module")
def us() -> dict:
    return plan("us")


def by_name(document: dict) -> dict[str, dict]:
    return {r["name"]: r for r in document["resources"]}


def test_the_task_runs_the_recheck_with_the_notice_jobs_secrets_and_settings(us):
    r = by_name(us)
    (recheck,) = json.loads(r["us-domains-task"]["inputs"]["containerDefinitions"])
    (notices,) = json.loads(r["us-notices-task"]["inputs"]["containerDefinitions"])
    assert recheck["command"] == ["egress", "domains", "verify", "--all", "--notify", "--json"]
    assert recheck["image"] == notices["image"] and recheck["readonlyRootFilesystem"] is True
    assert recheck["secrets"] == notices["secrets"]  # EGRESS_DB and the channels', by ARN: the same secrets
    assert [s["name"] for s in recheck["secrets"]] == ["EGRESS_DB", "EGRESS_SMTP_URL", "EGRESS_WEBHOOK_SECRET"]
    env = {e["name"]: e["value"] for e in recheck["environment"]}
    notice_env = {e["name"]: e["value"] for e in notices["environment"]}
    assert env == {
        "EGRESS_BASE_URL": notice_env["EGRESS_BASE_URL"],
        "EGRESS_FROM": notice_env["EGRESS_FROM"],
        "EGRESS_TRACKING_DOMAIN": "egress.example.com",  # the stack's trackingDomain: the image has no stack file
    }
    logs = recheck["logConfiguration"]["options"]
    assert logs["awslogs-group"] == notices["logConfiguration"]["options"]["awslogs-group"]
    assert logs["awslogs-stream-prefix"] == "recheck"


def test_the_task_has_no_role_and_the_scheduler_passes_only_the_execution_role(us):
    r = by_name(us)
    task = r["us-domains-task"]["inputs"]
    assert "taskRoleArn" not in task  # the command calls no AWS API: its containers get no credentials
    assert task["executionRoleArn"] == r["us-notices-task"]["inputs"]["executionRoleArn"]
    policy = r["us-domains-scheduler-role-policy"]["inputs"]["policy"]
    assert parliament_findings(policy) == []
    statements = {s["Sid"]: s for s in json.loads(policy)["Statement"]}
    assert statements["PassTaskRoles"]["Resource"] == [task["executionRoleArn"]]
    assert statements["RunNoticeTask"]["Resource"].endswith(":task-definition/us-domains:1")
    assert statements["DeadLetter"]["Resource"].startswith("arn:aws:sqs:us-east-1:123456789012:us-domains-dlq-")
    names = {n for n in r if n.startswith("us-domains")}
    assert not any("task-role" in n for n in names)


def test_the_schedule_runs_the_task_daily_with_retries_and_a_dead_letter_queue(us):
    r = by_name(us)
    schedule = r["us-domains-schedule"]["inputs"]
    assert schedule["scheduleExpression"] == "cron(30 7 * * ? *)" and schedule["state"] == "ENABLED"
    target = schedule["target"]
    assert target["ecsParameters"]["taskDefinitionArn"].endswith(":task-definition/us-domains:1")
    assert target["arn"] == r["us-notices-schedule"]["inputs"]["target"]["arn"]  # the notice job's cluster
    assert target["retryPolicy"] == {"maximumEventAgeInSeconds": 3600, "maximumRetryAttempts": 2}
    assert target["deadLetterConfig"]["arn"].startswith("arn:aws:sqs:us-east-1:123456789012:us-domains-dlq-")
    assert target["ecsParameters"]["networkConfiguration"]["assignPublicIp"] is False


@pytest.mark.parametrize(
    "exit_code, alerted", [(0, False), (7, False), (8, False), (1, True), (2, True), (6, True), (137, True)]
)
def test_the_stacks_rule_alerts_on_failed_runs_not_on_dns_findings(us, exit_code, alerted):
    r = by_name(us)
    pattern = json.loads(r["us-domains-failed"]["inputs"]["eventPattern"])
    cluster = r["us-domains-schedule"]["inputs"]["target"]["arn"]
    event = stopped(exit_codes=[exit_code], cluster=cluster, group="family:us-domains")
    assert matches(pattern, event) is alerted
    target = r["us-domains-failed-alert"]
    assert target["inputs"]["arn"] == us["outputs"]["domains_alerts_topic"]
    assert "7 and 8" in target["inputs"]["inputTransformer"]["inputTemplate"]


def test_the_notice_jobs_rule_still_alerts_on_every_non_zero_exit(us):
    r = by_name(us)
    pattern = json.loads(r["us-notices-failed"]["inputs"]["eventPattern"])
    cluster = r["us-notices-schedule"]["inputs"]["target"]["arn"]
    for code in (7, 8, 6):
        assert matches(pattern, stopped(exit_codes=[code], cluster=cluster, group="family:us-notices"))


def test_a_dead_letter_or_a_failed_start_alerts_the_same_topic(us):
    r = by_name(us)
    topic = us["outputs"]["domains_alerts_topic"]
    assert r["us-domains-dead-letters"]["inputs"]["alarmActions"] == [topic]
    assert r["us-domains-failed-to-start-alert"]["inputs"]["arn"] == topic
    assert {x["inputs"]["endpoint"] for x in us["resources"] if x["name"].startswith("us-domains-alerts-email-")} == {
        "ops-alerts@example.com"
    }


def test_a_stack_without_the_schedule_declares_no_recheck():
    for document in (plan("eu"), plan("us", domainsVerifySchedule="")):
        assert not [x for x in document["resources"] if x["name"].endswith("-domains-task")]
        assert document["outputs"]["domains_alerts_topic"] is None


def test_a_configured_rate_is_used_and_a_bad_one_named():
    schedule = by_name(plan("us", domainsVerifySchedule="rate(12 hours)"))["us-domains-schedule"]
    assert schedule["inputs"]["scheduleExpression"] == "rate(12 hours)"
    with pytest.raises(ConfigError, match=r"smtp-egress:domainsVerifySchedule.*'daily at 7'"):
        plan("us", domainsVerifySchedule="daily at 7")
    with pytest.raises(ConfigError, match=r"DomainsRecheck: schedule_expression 'rate\(1 fortnight\)'"):
        plan("us", domainsVerifySchedule="rate(1 fortnight)")


def test_the_component_refuses_bad_sizes_and_addresses():
    args = domains_recheck.DomainsRecheckArgs(
        region="us",
        image="smtp-egress:0.1.0",
        cluster_arn="arn:aws:ecs:us-east-1:123456789012:cluster/jobs",
        execution_role_arn="arn:aws:iam::123456789012:role/x",
        log_group_name="logs",
        secret_arns={},
        subnet_ids=["subnet-1"],
        security_group_id="sg-1",
        environment={},
    )
    domains_recheck.validate(args)
    with pytest.raises(ConfigError, match=r"cpu 256 with memory 4096 .*; alert email 'ops' "):
        domains_recheck.validate(dataclasses.replace(args, memory=4096, alert_emails=["ops"]))
    with pytest.raises(ConfigError, match="cpu_architecture 'arm'"):
        domains_recheck.validate(dataclasses.replace(args, cpu_architecture="arm"))
