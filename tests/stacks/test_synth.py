"""``egress synth``: golden plans, determinism, secrets, the summary, and no partial plan on failure.

Regenerate the golden plans after an intended change with::

    EGRESS_UPDATE_GOLDEN=1 .venv/bin/pytest tests/stacks/test_synth.py -q

and review the diff of tests/golden/synth-*.json like any other change: it is what the stacks declare.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from .conftest import DATA, GOLDEN, ROOT

TODAY = "2026-11-26"
FROZEN_PLAN = DATA / "egress-ips.yaml"
PUBLISHED = {"us": DATA / "published-us-announced.json", "eu": DATA / "published-eu.json"}


def golden_run(synth, stack: str, **kw):
    run = synth(stack, today=TODAY, published=PUBLISHED[stack], plan=FROZEN_PLAN, **kw)
    assert run.code == 0, run.out + run.err
    return run


@pytest.mark.parametrize("stack", ["us", "eu"])
def test_plan_matches_the_golden_file_byte_for_byte(synth, stack, golden):
    run = golden_run(synth, stack)
    golden(GOLDEN / f"synth-{stack}.json", run.path.read_bytes(), f"the {stack} plan")


def test_plan_is_deterministic_in_process_and_from_the_command_line(synth, tmp_path):
    first = golden_run(synth, "us").path.read_bytes()
    assert golden_run(synth, "us").path.read_bytes() == first
    out = tmp_path / "cli.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "smtp_egress.scripts.cli",
            "synth",
            "--stack",
            "us",
            "--today",
            TODAY,
            "--plan",
            str(FROZEN_PLAN),
            "--published",
            str(PUBLISHED["us"]),
            "--out",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={k: v for k, v in os.environ.items() if not k.startswith("EGRESS_")},
    )
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes() == first


def test_plan_lists_every_resource_sorted_with_parents_and_options(synth):
    plan = golden_run(synth, "us").plan
    assert set(plan) == {"stack", "project", "plan_sha256", "today", "resources", "outputs"}
    assert (plan["stack"], plan["project"], plan["today"]) == ("us", "smtp-egress", TODAY)
    urns = [r["urn"] for r in plan["resources"]]
    assert urns == sorted(urns) and len(set(urns)) == len(urns)
    stack_urn = "urn:pulumi:us::smtp-egress::pulumi:pulumi:Stack::smtp-egress-us"
    for r in plan["resources"]:
        assert {"urn", "type", "name", "parent", "provider", "protect", "retain_on_delete", "inputs"} <= set(r)
        assert r["parent"] in set(urns) | {stack_urn}, r["urn"]
    types = {r["type"] for r in plan["resources"]}
    assert {
        "smtp-egress:network:RegionalEgress",
        "smtp-egress:network:VpcEndpoints",
        "smtp-egress:network:SmtpEgressRules",
        "smtp-egress:dns:TrackingDns",
        "smtp-egress:workers:DeliveryWorkers",
        "smtp-egress:publish:IpListPublisher",
        "smtp-egress:jobs:NoticeSchedule",
        "smtp-egress:jobs:JobAlerts",
        "smtp-egress:jobs:DomainsRecheck",
    } <= types
    assert set(plan["outputs"]) == {
        "egress_addresses",
        "nat_gateways",  # each zone's primary: egress deploy refuses a change that replaces a gateway
        "queue_url",
        "smtp_key_arn",
        "worker_ledger_secret",  # where operators put the workers' ledger URL and tracking keys
        "worker_tracking_keys_secret",
        "archive_bucket",
        "publisher_url",
        "publisher_bucket",  # where the daily task uploads, and the distribution it invalidates
        "publisher_distribution_id",
        "alerts_topic",
        "domains_alerts_topic",  # the branded domains' re-check's (declared in us only)
        "tracking_hosts",
        "guard_overrides",
        "signing_public_key",
    }
    assert plan["outputs"]["alerts_topic"].startswith("arn:aws:sns:us-east-1:123456789012:us-notices-alerts-")
    assert plan["outputs"]["queue_url"].startswith("https://sqs.us-east-1.amazonaws.com/123456789012/")
    assert plan["outputs"]["publisher_url"].endswith(".cloudfront.net/v1/info/ip_addresses")


def test_published_document_in_the_plan_is_what_egress_publish_renders(synth):
    plan = golden_run(synth, "us").plan
    doc = next(r for r in plan["resources"] if r["inputs"].get("key") == "us/v1/info/ip_addresses")
    assert doc["inputs"]["content"].encode() == PUBLISHED["us"].read_bytes()


def test_secrets_are_masked_because_pulumi_marks_them_not_by_luck(synth, stack_secrets, signing_key):
    from smtp_egress.synth.engine import stack_config

    pem = signing_key[0]
    keys = stack_config("us").secret_keys
    stack_secrets({k: pem if k.endswith(":signingKey") else f"s3cr3t-{k}" for k in keys})
    run = golden_run(synth, "us")
    text = run.path.read_text()
    assert "s3cr3t" not in text and "placeholder" not in text
    body = "".join(pem.splitlines()[1:-1])
    assert "PRIVATE KEY" not in text and body not in text and body[:16] not in text  # signed with, never stored
    versions = [r for r in run.plan["resources"] if r["type"] == "aws:secretsmanager/secretVersion:SecretVersion"]
    assert len(versions) == 3 and all(v["inputs"]["secretString"] == "[secret]" for v in versions)
    task = next(r for r in run.plan["resources"] if r["type"] == "aws:ecs/taskDefinition:TaskDefinition")
    assert "valueFrom" in task["inputs"]["containerDefinitions"]  # secrets reach the task by ARN only


def test_summary_names_addresses_ports_and_overrides(synth, capsys):
    from smtp_egress.scripts.cli import main

    assert (
        main(
            [
                "synth",
                "--stack",
                "us",
                "--today",
                TODAY,
                "--plan",
                str(FROZEN_PLAN),
                "--published",
                str(PUBLISHED["us"]),
                "--json",
            ]
        )
        == 0
    )
    summary = json.loads(capsys.readouterr().out)
    assert {ip: (a["state"], a["attached"]) for ip, a in summary["egress_addresses"].items()} == {
        "198.51.100.10": ("live", True),
        "198.51.100.11": ("announced", False),
        "198.51.100.12": ("retiring", True),
    }
    (ports,) = summary["worker_ports"].values()
    assert ports["ingress"] == []
    # HTTPS to the interface endpoints (VPC CIDR) and the S3 gateway endpoint's prefix list (a synth mock value)
    assert sorted(ports["egress"]) == [
        "tcp/2525 to 0.0.0.0/0, ::/0",
        "tcp/443 to 10.20.0.0/16, pl-8d465442",
        "tcp/465 to 0.0.0.0/0, ::/0",
        "tcp/53 to 10.20.0.2/32",
        "tcp/587 to 0.0.0.0/0, ::/0",
        "udp/53 to 10.20.0.2/32",
    ]
    assert summary["guard_overrides"] == [] and summary["policy_violations"] == []
    assert summary["by_type"]["aws:ec2/eip:Eip"] == 4  # three planned addresses and one reserve


def test_a_refused_synth_leaves_an_existing_plan_file_alone(synth, plan_file, published, tmp_path):
    out = tmp_path / "plans" / "us.json"
    out.parent.mkdir()
    out.write_text("the previous plan\n")
    run = synth("us", today="2026-12-10", plan=plan_file, published=published("us", "2026-12-10"), out=out)
    assert run.code == 2 and "198.51.100.11" in run.err
    assert out.read_text() == "the previous plan\n"
    assert [p.name for p in out.parent.iterdir()] == ["us.json"]  # no temporary file left behind


def test_an_unusable_published_document_stops_the_synth(synth, plan_file, tmp_path):
    empty = tmp_path / "empty.json"
    empty.write_text("")
    run = synth("us", today=TODAY, plan=plan_file, published=empty)
    assert run.code == 3 and run.plan is None
    assert "empty" in run.err and "Traceback" not in run.err


@pytest.mark.parametrize(
    "value, words",
    [
        ("ops-alerts@example.com", "expected a YAML list of email addresses"),
        (
            '["ops-alerts@example.com", "Ops <ops@example.com>"]',
            "alert email 'Ops <ops@example.com>' is not an email address",
        ),
    ],
)
def test_a_malformed_alert_emails_list_stops_the_synth_naming_the_key(synth, value, words):
    run = synth(
        "us", today=TODAY, published=PUBLISHED["us"], plan=FROZEN_PLAN, config={"smtp-egress:alertEmails": value}
    )
    assert run.code == 2 and run.plan is None
    assert "'smtp-egress:alertEmails' (stacks/Pulumi.us.yaml)" in run.err and words in run.err
    assert "Traceback" not in run.err


def test_without_alert_emails_the_topic_exists_and_a_warning_says_nobody_is_emailed(synth, caplog):
    run = synth(
        "us", today=TODAY, published=PUBLISHED["us"], plan=FROZEN_PLAN, config={"smtp-egress:alertEmails": "[]"}
    )
    assert run.code == 0, run.err
    assert not [r for r in run.plan["resources"] if r["type"] == "aws:sns/topicSubscription:TopicSubscription"]
    assert run.plan["outputs"]["alerts_topic"].startswith("arn:aws:sns:")
    assert "smtp-egress:alertEmails is empty" in caplog.text  # pulumi.log.warn, as the engine's mocks log it


def test_unknown_stack_is_a_usage_error(synth):
    run = synth("ap", today=TODAY)
    assert run.code == 2 and "stacks: eu, us" in run.err


def test_a_plan_that_breaks_a_policy_is_reported_and_not_written(synth, monkeypatch):
    from smtp_egress.checks import policies

    def no_nat_gateways(r):
        return [policies.Violation("no-nat", r["urn"], "NAT gateway found")] if r["type"].endswith("NatGateway") else []

    monkeypatch.setitem(policies.RESOURCE_RULES, "no-nat", ("test rule", no_nat_gateways))
    run = synth("us", today=TODAY, published=PUBLISHED["us"], plan=FROZEN_PLAN)
    assert run.code == 2 and run.plan is None
    assert "POLICY VIOLATION no-nat" in run.out and "2 policy violations (listed above); no plan was written" in run.err


@pytest.mark.parametrize("stack", ["us", "eu"])
def test_the_workers_dead_letter_alarm_reaches_the_alerts_topic(stack):
    """The reviewed plan: the alarm watches the workers' DLQ, notifies the stack's alerts topic, and the topic's
    policy lets CloudWatch publish for it (a publish the policy does not admit would be dropped)."""
    plan = json.loads((GOLDEN / f"synth-{stack}.json").read_text())
    by_name = {r["name"]: r for r in plan["resources"]}
    alarm = by_name[f"{stack}-notices-worker-dead-letters"]
    dlq = by_name[f"{stack}-workers-dlq"]
    assert alarm["inputs"]["dimensions"] == {"QueueName": dlq["id"].rsplit("/", 1)[1]}  # the queue URL is its ID
    assert alarm["inputs"]["metricName"] == "ApproximateNumberOfMessagesVisible"
    assert (alarm["inputs"]["comparisonOperator"], alarm["inputs"]["threshold"]) == ("GreaterThanThreshold", 0)
    topic = plan["outputs"]["alerts_topic"]
    assert alarm["inputs"]["alarmActions"] == [topic]
    policy = json.loads(by_name[f"{stack}-notices-alerts-policy"]["inputs"]["policy"])
    (cloudwatch,) = [s for s in policy["Statement"] if s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}]
    alarm_arn = f"arn:aws:cloudwatch:{topic.split(':')[3]}:{topic.split(':')[4]}:alarm:{alarm['id']}"
    assert alarm_arn in cloudwatch["Condition"]["ArnEquals"]["aws:SourceArn"]
