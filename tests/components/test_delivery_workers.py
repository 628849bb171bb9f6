"""DeliveryWorkers: pure validation, rendering and policy functions, then the exact child contract under mocks."""

from __future__ import annotations

import base64
import dataclasses
import json

import pulumi
import pytest
import yaml

from smtp_egress.components import iam_policies
from smtp_egress.components.delivery_workers import (
    DeliveryWorkers,
    DeliveryWorkersArgs,
    archive_lifecycle_rules,
    render_user_data,
    validate,
)
from smtp_egress.components.private_bucket import check_bucket_resource_name
from smtp_egress.components.worker_scaling import instance_health_policy
from smtp_egress.errors import ConfigError
from smtp_egress.synth.mocks import SynthMocks

TYPE = "smtp-egress:workers:DeliveryWorkers"
QUEUE, BUCKET, ROLE = "aws:sqs/queue:Queue", "aws:s3/bucket:Bucket", "aws:iam/role:Role"
TEMPLATE, ASG = "aws:ec2/launchTemplate:LaunchTemplate", "aws:autoscaling/group:Group"
SECRET = "aws:secretsmanager/secret:Secret"
QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/us-workers-queue-a1b2c3d"
ARGS = DeliveryWorkersArgs(
    region="us",
    ami_id="ami-0123456789abcdef0",
    private_subnet_ids=["subnet-a", "subnet-b"],
    security_group_id="sg-workers",
    vpc_cidr="10.40.0.0/16",
    tags={"team": "mail"},
)
UD = {"region": "us", "queue": QUEUE_URL, "archive": "s3://arch-1/archive", "vpc_cidr": "10.40.0.0/16"}


class UpdatedTemplate(SynthMocks):
    """A launch template at version 3 (updated twice), so that following its latest version shows."""

    def new_resource(self, args):
        rid, out = super().new_resource(args)
        if args.typ == TEMPLATE:
            out["latestVersion"] = 3
        return rid, out


def deploy(pulumi_mocks, check, args=ARGS):
    rec = pulumi_mocks(mocks=UpdatedTemplate())
    captured = []

    @pulumi.runtime.test
    def run():
        comp = DeliveryWorkers("us-workers", args)
        outs = [
            comp.queue_url,
            comp.queue_arn,
            comp.dlq_url,
            comp.archive_bucket_name,
            comp.archive_bucket_arn,
            comp.role_arn,
            comp.launch_template_id,
            comp.asg_name,
        ]
        return pulumi.Output.all(*outs).apply(captured.append)

    run()
    # run() returns once every registration has finished: check the whole recorded plan, not just what
    # had registered when the component's outputs resolved.
    assert len(captured) == 1, "the component's outputs never resolved"
    check(rec, captured[0])


# --- pure functions --------------------------------------------------------------------------------------


def test_defaults_validate():
    validate(ARGS)


@pytest.mark.parametrize(
    "change, words",
    [
        ({"region": "US East"}, "region 'US East'"),
        ({"ami_id": "ubuntu-22.04"}, "ami_id 'ubuntu-22.04'"),
        ({"instance_type": "small"}, "instance_type 'small'"),
        ({"min_size": 3, "desired_capacity": 2}, "min_size=3, desired_capacity=2"),
        ({"max_size": 0, "min_size": 0, "desired_capacity": 0}, "max_size=0"),
        ({"archive_retention_days": 30}, "archive_retention_days 30"),
        ({"message_retention_seconds": 1_209_600}, "message_retention_seconds 1209600"),
        ({"visibility_timeout_seconds": 50_000}, "visibility_timeout_seconds 50000"),
        ({"max_receive_count": 0}, "max_receive_count 0"),
        (
            {"visibility_timeout_seconds": 179},
            "visibility_timeout_seconds 179 must be at least max_delivery_seconds 120",
        ),
        ({"max_delivery_seconds": 0}, "max_delivery_seconds 0 must be 1..3600"),
        ({"messages_per_instance": 0}, "messages_per_instance 0"),
        ({"root_device_name": "xvda"}, "root_device_name 'xvda'"),
    ],
)
def test_validate_names_the_bad_value(change, words):
    with pytest.raises(ConfigError, match="DeliveryWorkers: ") as exc:
        validate(dataclasses.replace(ARGS, **change))
    assert words in str(exc.value)


def test_validate_reports_every_problem_at_once():
    with pytest.raises(ConfigError) as exc:
        validate(dataclasses.replace(ARGS, max_receive_count=0, archive_retention_days=1))
    assert "max_receive_count 0" in str(exc.value) and "archive_retention_days 1" in str(exc.value)


def test_user_data_is_cloud_init_with_the_worker_unit():
    text = render_user_data(**UD)
    assert text.startswith("#cloud-config\n")
    doc = yaml.safe_load(text)
    files = {f["path"]: f for f in doc["write_files"]}
    unit = files["/etc/systemd/system/smtp-egress-worker.service"]
    lines = unit["content"].splitlines()
    assert "ExecStart=/opt/smtp-egress/bin/egress worker run" in lines
    assert {
        "User=smtp-egress",
        "EnvironmentFile=/etc/smtp-egress/worker.env",
        "Requires=smtp-egress-firewall.service",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "CapabilityBoundingSet=",
        "Restart=always",
        "TimeoutStopSec=150",
        "Type=notify",  # READY=1 once open, WATCHDOG=1 while the loop lives (smtp_egress.worker.notify)
        "NotifyAccess=main",
        "WatchdogSec=30",
        "StartLimitIntervalSec=600",
        "StartLimitBurst=5",
        "OnFailure=smtp-egress-worker-unhealthy.service",
        "WantedBy=multi-user.target",
    } <= set(lines)
    assert "DynamicUser=yes" not in lines and "Type=simple" not in lines
    unhealthy = files["/etc/systemd/system/smtp-egress-worker-unhealthy.service"]["content"].splitlines()
    assert {
        "Type=oneshot",
        "User=smtp-egress",
        "EnvironmentFile=/etc/smtp-egress/worker.env",
        "ExecStart=/opt/smtp-egress/bin/egress worker report-unhealthy",
        "Restart=on-failure",  # exit 75 inside the group's grace period: reported again a minute later
        "RestartSec=60",
        "StartLimitIntervalSec=0",
    } <= set(unhealthy)
    config = files["/etc/smtp-egress/worker.env"]
    assert (config["owner"], config["permissions"]) == ("root:root", "0600")  # until runcmd gives it to the user
    assert config["content"].splitlines()[-5:] == [
        f"EGRESS_QUEUE={QUEUE_URL}",
        "EGRESS_ARCHIVE=s3://arch-1/archive",
        "EGRESS_REGION=us-east-1",  # the AWS region (SQS, S3, KMS), never the plan's "us"
        "AWS_DEFAULT_REGION=us-east-1",
        "EGRESS_WORKER_HEALTH=127.0.0.1:9464",
    ]
    assert files["/etc/sysusers.d/smtp-egress.conf"]["content"].splitlines()[-1] == (
        'u smtp-egress - "smtp-egress delivery worker" /nonexistent /usr/sbin/nologin'
    )
    assert "tcp dport 25 counter reject" in files["/etc/smtp-egress/nftables.nft"]["content"]
    assert doc["runcmd"][:5] == [
        ["systemd-sysusers", "/etc/sysusers.d/smtp-egress.conf"],
        ["chown", "root:smtp-egress", "/etc/smtp-egress/worker.env"],
        ["chmod", "0640", "/etc/smtp-egress/worker.env"],
        ["systemctl", "daemon-reload"],
        ["systemctl", "enable", "--now", "smtp-egress-firewall.service"],
    ]
    check, enable = doc["runcmd"][5:]
    assert enable == ["systemctl", "enable", "--now", "smtp-egress-worker.service"]
    # a string, so that its `exit 1` ends cloud-init's runcmd script before the worker is enabled
    assert isinstance(check, str) and check.startswith("test -x /opt/smtp-egress/bin/egress || {")
    assert "FATAL" in check and "/dev/console" in check and check.rstrip().endswith("exit 1; }")


def test_user_data_carries_the_smtp_key_and_a_password_free_ledger_only():
    doc = yaml.safe_load(
        render_user_data(**UD, smtp_kms_key="arn:aws:kms:us-east-1:1:key/k-1", ledger_url="postgresql://w@db/l")
    )
    config = next(f for f in doc["write_files"] if f["path"] == "/etc/smtp-egress/worker.env")["content"]
    assert (
        "EGRESS_SMTP_KMS_KEY=arn:aws:kms:us-east-1:1:key/k-1\n" in config
        and "EGRESS_DB=postgresql://w@db/l\n" in config
    )
    assert "TRACKING" not in config  # the tracking keys are a secret: never in the user data (README, worker host)
    with pytest.raises(ValueError, match="ledger_url carries a password") as exc:
        render_user_data(**UD, ledger_url="postgresql://w:hunter2@db/l")
    assert "hunter2" not in str(exc.value)


def test_user_data_installs_nothing_from_the_network():
    """The workers' security group reaches no package index: everything must already be on the AMI."""
    text = render_user_data(**UD)
    doc = yaml.safe_load(text)
    assert not {"package_update", "package_upgrade", "packages", "apt", "yum_repos", "snap"} & set(doc)
    commands = " ".join(c if isinstance(c, str) else " ".join(c) for c in doc["runcmd"])
    for word in ("pip", "venv", "dnf", "yum", "apt", "curl", "wget"):
        assert word not in commands.split(), word
    assert "pip install" not in commands
    assert set(doc) == {"write_files", "runcmd"}


def test_user_data_checks_the_ami_carries_the_worker(tmp_path):
    """The runcmd check, run by a real shell: without /opt/smtp-egress/bin/egress it fails before enabling."""
    import subprocess

    doc = yaml.safe_load(render_user_data(**UD))
    check = (
        next(c for c in doc["runcmd"] if isinstance(c, str))
        .replace("/opt/smtp-egress", str(tmp_path / "opt"))
        .replace("/dev/console", "/dev/null")
    )
    script = f"{check}\necho ENABLED\n"  # what cloud-init's runcmd script does next
    missing = subprocess.run(["sh", "-c", script], capture_output=True, text=True)
    assert missing.returncode == 1 and "ENABLED" not in missing.stdout
    assert "FATAL" in missing.stderr and "is missing" in missing.stderr
    binary = tmp_path / "opt" / "bin" / "egress"
    binary.parent.mkdir(parents=True)
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    present = subprocess.run(["sh", "-c", script], capture_output=True, text=True)
    assert present.returncode == 0 and present.stdout == "ENABLED\n" and present.stderr == ""


@pytest.mark.parametrize(
    "field, value",
    [
        ("queue", "https://q\nExecStartPre=/bin/sh"),
        ("queue", None),
        ("archive", "s3://a b"),
        ("archive", "s3://b%n"),
        ("region", "us\n"),
        ("archive", 's3://x"]\n - [rm'),
        ("vpc_cidr", "0.0.0.0/0"),
        ("vpc_cidr", "10.0.0.0/8\n}"),
        ("smtp_kms_key", "k\nEGRESS_DB=x"),
        ("watchdog_seconds", "30\nExecStartPre=/bin/sh"),
        ("watchdog_seconds", 0),  # 0 would turn the watchdog off
        ("watchdog_seconds", True),
    ],
)
def test_user_data_refuses_values_that_could_escape_the_unit(field, value):
    kwargs = dict(UD)
    with pytest.raises(ValueError, match=field):
        render_user_data(**{**kwargs, field: value})


def test_worker_policy_allows_exactly_the_queue_and_archive_actions():
    policy = json.loads(
        iam_policies.worker_policy(
            "arn:aws:sqs:us-east-1:1:q", "arn:aws:s3:::arch", "arn:aws:kms:us-east-1:1:key/k", "archive/.queue"
        )
    )
    assert policy == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ConsumeDeliveryQueue",
                "Effect": "Allow",
                "Resource": "arn:aws:sqs:us-east-1:1:q",
                "Action": [
                    "sqs:ChangeMessageVisibility",
                    "sqs:DeleteMessage",
                    "sqs:GetQueueAttributes",
                    "sqs:ReceiveMessage",
                ],
            },
            {
                "Sid": "ArchiveSentMail",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject"],
                "Resource": "arn:aws:s3:::arch/*",
            },
            {"Sid": "FindArchivedMail", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::arch"},
            {
                "Sid": "FetchLargeJobMessages",
                "Effect": "Allow",
                "Action": ["s3:DeleteObject", "s3:GetObject"],
                "Resource": "arn:aws:s3:::arch/archive/.queue/*",
            },
            {
                "Sid": "DecryptSmtpPasswords",
                "Effect": "Allow",
                "Action": ["kms:Decrypt"],
                "Resource": "arn:aws:kms:us-east-1:1:key/k",
            },
        ],
    }


def test_parliament_finds_nothing_in_the_instance_health_policy():
    from .test_daily_task import parliament_findings

    group = "arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:0c9a-11:autoScalingGroupName/us-workers"
    assert parliament_findings(instance_health_policy(group)) == []
    with pytest.raises(ValueError, match="group_arn must be an ARN"):
        instance_health_policy("us-workers")


def test_parliament_finds_nothing_in_the_worker_policy():
    from .test_daily_task import parliament_findings

    policy = iam_policies.worker_policy(
        "arn:aws:sqs:us-east-1:123456789012:q",
        "arn:aws:s3:::arch",
        "arn:aws:kms:us-east-1:123456789012:key/k",
        "archive/.queue",
    )
    assert parliament_findings(policy) == []


@pytest.mark.parametrize(
    "queue, bucket, key",
    [
        (None, "arn:aws:s3:::a", "arn:aws:kms:r:1:key/k"),
        ("arn:aws:sqs:r:1:q", "bucket-name", "arn:aws:kms:r:1:key/k"),
        ("", "arn:aws:s3:::a", "arn:aws:kms:r:1:key/k"),
        ("arn:aws:sqs:r:1:q", "arn:aws:s3:::a", "alias/smtp"),
    ],
)
def test_worker_policy_refuses_what_is_not_an_arn(queue, bucket, key):
    with pytest.raises(ValueError, match="must be an ARN"):
        iam_policies.worker_policy(queue, bucket, key, "archive/.queue")


def test_archive_lifecycle():
    assert archive_lifecycle_rules(400) == [
        {
            "id": "archive-sent-mail",
            "status": "Enabled",
            "filter": {"prefix": ""},
            "transitions": [{"days": 30, "storage_class": "STANDARD_IA"}],
            "expiration": {"days": 400},
            "noncurrent_version_expiration": {"noncurrent_days": 30},
            "abort_incomplete_multipart_upload": {"days_after_initiation": 7},
        },
        {
            "id": "queued-large-messages",
            "status": "Enabled",
            "filter": {"prefix": "archive/.queue/"},
            "expiration": {"days": 15},
            "noncurrent_version_expiration": {"noncurrent_days": 1},
            "abort_incomplete_multipart_upload": {"days_after_initiation": 1},
        },
    ]


@pytest.mark.parametrize("name", ["US-workers", "a" * 56, "us--workers", "-us", "us_workers"])
def test_bucket_resource_names_that_s3_would_refuse(name):
    with pytest.raises(ValueError, match="cannot name an S3 bucket"):
        check_bucket_resource_name(name)


def test_component_validates_before_declaring_anything(pulumi_mocks):
    rec = pulumi_mocks()
    with pytest.raises(ConfigError, match="max_receive_count 0"):
        DeliveryWorkers("us-workers", dataclasses.replace(ARGS, max_receive_count=0))
    assert rec.resources == []


# --- the child contract under mocks ----------------------------------------------------------------------


def test_children_types_names_and_parents(pulumi_mocks):
    def check(rec, _):
        comp = [r for r in rec.sorted() if r.type == TYPE]
        assert len(comp) == 1 and comp[0].name == "us-workers"
        children = [r for r in rec.sorted() if r.type != TYPE]
        assert all(r.parent == comp[0].urn for r in children)
        assert sorted((r.type, r.name) for r in children) == sorted(
            [
                ("aws:sqs/queue:Queue", "us-workers-dlq"),
                ("aws:sqs/queue:Queue", "us-workers-queue"),
                ("aws:s3/bucket:Bucket", "us-workers-archive"),
                ("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "us-workers-archive-public-access-block"),
                ("aws:s3/bucketOwnershipControls:BucketOwnershipControls", "us-workers-archive-ownership"),
                (
                    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
                    "us-workers-archive-encryption",
                ),
                ("aws:s3/bucketVersioning:BucketVersioning", "us-workers-archive-versioning"),
                ("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "us-workers-archive-lifecycle"),
                ("aws:s3/bucketPolicy:BucketPolicy", "us-workers-archive-policy"),
                ("aws:iam/role:Role", "us-workers-role"),
                ("aws:iam/rolePolicy:RolePolicy", "us-workers-role-policy"),
                ("aws:iam/rolePolicy:RolePolicy", "us-workers-role-health"),
                ("aws:iam/instanceProfile:InstanceProfile", "us-workers-instance-profile"),
                ("aws:ec2/launchTemplate:LaunchTemplate", "us-workers-launch-template"),
                ("aws:autoscaling/group:Group", "us-workers-asg"),
                ("aws:autoscaling/policy:Policy", "us-workers-scaling"),
                ("aws:kms/key:Key", "us-workers-smtp-key"),
                (SECRET, "us-workers-ledger-url"),
                (SECRET, "us-workers-tracking-keys"),
                ("aws:iam/rolePolicy:RolePolicy", "us-workers-secrets-policy"),
            ]
        )

    deploy(pulumi_mocks, check)


def test_outputs(pulumi_mocks):
    def check(rec, values):
        queue, dlq = rec.outputs_of(QUEUE, "us-workers-queue"), rec.outputs_of(QUEUE, "us-workers-dlq")
        bucket = rec.outputs_of(BUCKET, "us-workers-archive")
        template_id = rec.one(TEMPLATE, "us-workers-launch-template").id
        assert values == [
            queue["url"],
            queue["arn"],
            dlq["url"],
            bucket["bucket"],
            bucket["arn"],
            rec.outputs_of(ROLE, "us-workers-role")["arn"],
            template_id,
            rec.outputs_of(ASG, "us-workers-asg")["name"],
        ]
        assert len(set(values)) == len(values), "each output comes from its own child"
        assert queue["url"].startswith("https://sqs.us-east-1.amazonaws.com/123456789012/us-workers-queue-")
        assert template_id.startswith("lt-") and bucket["arn"] == f"arn:aws:s3:::{bucket['bucket']}"
        assert rec.inputs_of(ASG, "us-workers-asg")["launchTemplate"]["id"] == template_id

    deploy(pulumi_mocks, check)


def test_launch_template_imdsv2_no_public_ip_encrypted_disk_and_user_data(pulumi_mocks):
    def check(rec, _):
        lt = rec.inputs_of("aws:ec2/launchTemplate:LaunchTemplate", "us-workers-launch-template")
        assert lt["imageId"] == "ami-0123456789abcdef0" and lt["instanceType"] == "t3.small"
        assert lt["metadataOptions"] == {
            "httpEndpoint": "enabled",
            "httpTokens": "required",
            "httpPutResponseHopLimit": 1.0,
            "instanceMetadataTags": "disabled",
        }
        assert lt["networkInterfaces"] == [
            {
                "deviceIndex": 0.0,
                "associatePublicIpAddress": "false",
                "deleteOnTermination": "true",
                "securityGroups": ["sg-workers"],
            }
        ]
        assert "vpcSecurityGroupIds" not in lt
        assert lt["blockDeviceMappings"] == [
            {
                "deviceName": "/dev/xvda",
                "ebs": {"encrypted": "true", "volumeType": "gp3", "volumeSize": 16.0, "deleteOnTermination": "true"},
            }
        ]
        profile = rec.outputs_of("aws:iam/instanceProfile:InstanceProfile", "us-workers-instance-profile")
        assert lt["iamInstanceProfile"] == {"arn": profile["arn"]}
        cloud_init = yaml.safe_load(base64.b64decode(lt["userData"]).decode())
        files = {f["path"]: f["content"] for f in cloud_init["write_files"]}
        queue_url = rec.outputs_of(QUEUE, "us-workers-queue")["url"]
        bucket = rec.outputs_of(BUCKET, "us-workers-archive")["bucket"]
        key_arn = rec.outputs_of("aws:kms/key:Key", "us-workers-smtp-key")["arn"]
        config = files["/etc/smtp-egress/worker.env"].splitlines()
        assert {f"EGRESS_QUEUE={queue_url}", f"EGRESS_ARCHIVE=s3://{bucket}/archive"} <= set(config)
        assert "EGRESS_REGION=us" not in config  # EGRESS_REGION is an AWS region
        assert f"EGRESS_SMTP_KMS_KEY={key_arn}" in config
        ledger, keys = (rec.outputs_of(SECRET, f"us-workers-{k}")["arn"] for k in ("ledger-url", "tracking-keys"))
        assert {f"EGRESS_DB_SECRET={ledger}", f"EGRESS_TRACKING_KEYS_SECRET={keys}"} <= set(config)
        assert not [line for line in config if line.startswith(("EGRESS_DB=", "EGRESS_TRACKING_KEYS="))]
        assert "ip daddr 10.40.0.0/16 tcp dport 443 accept" in files["/etc/smtp-egress/nftables.nft"]
        unit = files["/etc/systemd/system/smtp-egress-worker.service"].splitlines()
        assert "ExecStart=/opt/smtp-egress/bin/egress worker run" in unit
        assert ["systemctl", "enable", "--now", "smtp-egress-worker.service"] in cloud_init["runcmd"]
        assert set(cloud_init) == {"write_files", "runcmd"}, "no package_update / packages: nothing from the network"
        assert not any("pip" in str(c) for c in cloud_init["runcmd"])

    deploy(pulumi_mocks, check)


def test_iam_role_trusts_ec2_and_allows_only_queue_and_archive(pulumi_mocks):
    def check(rec, _):
        role = rec.inputs_of("aws:iam/role:Role", "us-workers-role")
        assert json.loads(role["assumeRolePolicy"])["Statement"] == [
            {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ]
        role_name = rec.outputs_of(ROLE, "us-workers-role")["name"]
        policy = rec.inputs_of("aws:iam/rolePolicy:RolePolicy", "us-workers-role-policy")
        assert policy["role"] == role_name
        statements = json.loads(policy["policy"])["Statement"]
        key_arn = rec.outputs_of("aws:kms/key:Key", "us-workers-smtp-key")["arn"]
        assert [(s["Effect"], s["Action"], s["Resource"]) for s in statements] == [
            (
                "Allow",
                ["sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"],
                rec.outputs_of(QUEUE, "us-workers-queue")["arn"],
            ),
            # GetObject + ListBucket: "was this job archived before?" answers 404, not 403, for a missing entry
            ("Allow", ["s3:GetObject", "s3:PutObject"], rec.outputs_of(BUCKET, "us-workers-archive")["arn"] + "/*"),
            ("Allow", "s3:ListBucket", rec.outputs_of(BUCKET, "us-workers-archive")["arn"]),
            (  # the messages of jobs too large for SQS, under their own prefix only
                "Allow",
                ["s3:DeleteObject", "s3:GetObject"],
                rec.outputs_of(BUCKET, "us-workers-archive")["arn"] + "/archive/.queue/*",
            ),
            ("Allow", ["kms:Decrypt"], key_arn),
        ]
        profile = rec.inputs_of("aws:iam/instanceProfile:InstanceProfile", "us-workers-instance-profile")
        assert profile["role"] == role_name
        kinds = {r.type for r in rec.resources}
        assert not kinds & {
            "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
            "aws:iam/policy:Policy",
            "aws:iam/policyAttachment:PolicyAttachment",
        }

    deploy(pulumi_mocks, check)


def test_archive_bucket_private_encrypted_versioned_with_lifecycle_and_tls_only(pulumi_mocks):
    def check(rec, _):
        bucket_id = next(r for r in rec.resources if r.name == "us-workers-archive-encryption").inputs["bucket"]
        assert bucket_id == rec.one(BUCKET, "us-workers-archive").id
        pab = rec.inputs_of(
            "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "us-workers-archive-public-access-block"
        )
        assert pab == {
            "bucket": bucket_id,
            "blockPublicAcls": True,
            "blockPublicPolicy": True,
            "ignorePublicAcls": True,
            "restrictPublicBuckets": True,
        }
        assert rec.inputs_of(
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
            "us-workers-archive-encryption",
        )["rules"] == [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}]
        assert rec.inputs_of("aws:s3/bucketVersioning:BucketVersioning", "us-workers-archive-versioning")[
            "versioningConfiguration"
        ] == {"status": "Enabled"}
        assert rec.inputs_of("aws:s3/bucketOwnershipControls:BucketOwnershipControls", "us-workers-archive-ownership")[
            "rule"
        ] == {"objectOwnership": "BucketOwnerEnforced"}
        (rule, large) = rec.inputs_of(
            "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "us-workers-archive-lifecycle"
        )["rules"]
        assert large["filter"] == {"prefix": "archive/.queue/"} and large["status"] == "Enabled"
        assert large["expiration"] == {"days": 15.0}  # SQS keeps a message 14 days at most
        assert large["noncurrentVersionExpiration"] == {"noncurrentDays": 1.0}
        assert rule["status"] == "Enabled" and rule["filter"] == {"prefix": ""}
        assert rule["transitions"] == [{"days": 30.0, "storageClass": "STANDARD_IA"}]
        assert rule["expiration"] == {"days": 400.0}
        assert rule["noncurrentVersionExpiration"] == {"noncurrentDays": 30.0}
        (deny,) = json.loads(rec.inputs_of("aws:s3/bucketPolicy:BucketPolicy", "us-workers-archive-policy")["policy"])[
            "Statement"
        ]
        assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        bucket_arn = rec.outputs_of(BUCKET, "us-workers-archive")["arn"]
        assert deny["Resource"] == [bucket_arn, f"{bucket_arn}/*"]
        assert rec.inputs_of("aws:s3/bucket:Bucket", "us-workers-archive")["forceDestroy"] is False

    deploy(pulumi_mocks, check)


def test_queues_encrypted_with_redrive_to_the_dlq(pulumi_mocks):
    def check(rec, _):
        dlq = rec.inputs_of("aws:sqs/queue:Queue", "us-workers-dlq")
        queue = rec.inputs_of("aws:sqs/queue:Queue", "us-workers-queue")
        assert dlq["sqsManagedSseEnabled"] is True and queue["sqsManagedSseEnabled"] is True
        assert dlq["messageRetentionSeconds"] == 1_209_600.0
        assert queue["messageRetentionSeconds"] == 345_600.0 and queue["visibilityTimeoutSeconds"] == 300.0
        assert json.loads(queue["redrivePolicy"]) == {
            "deadLetterTargetArn": rec.outputs_of(QUEUE, "us-workers-dlq")["arn"],
            "maxReceiveCount": 7,
        }

    deploy(pulumi_mocks, check, dataclasses.replace(ARGS, max_receive_count=7))


def test_asg_in_private_subnets_on_the_template_with_propagated_tags(pulumi_mocks):
    def check(rec, _):
        asg = rec.inputs_of("aws:autoscaling/group:Group", "us-workers-asg")
        assert asg["vpcZoneIdentifiers"] == ["subnet-a", "subnet-b"]
        assert (asg["minSize"], asg["desiredCapacity"], asg["maxSize"]) == (1.0, 2.0, 5.0)
        assert asg["launchTemplate"] == {"id": asg["launchTemplate"]["id"], "version": "3"}  # the latest version
        assert asg["launchTemplate"]["id"] == rec.one(TEMPLATE, "us-workers-launch-template").id
        assert asg["healthCheckType"] == "EC2" and asg["instanceRefresh"]["strategy"] == "Rolling"
        assert asg["healthCheckGracePeriod"] == 180  # the scaling warm-up: a booting worker is not replaced
        # the workers may mark an instance unhealthy in this group only (their unit's OnFailure=)
        health = rec.inputs_of("aws:iam/rolePolicy:RolePolicy", "us-workers-role-health")
        assert health["role"] == rec.outputs_of(ROLE, "us-workers-role")["name"]
        statements = json.loads(health["policy"])["Statement"]
        assert [(s["Action"], s["Resource"]) for s in statements] == [
            (["autoscaling:SetInstanceHealth"], rec.outputs_of("aws:autoscaling/group:Group", "us-workers-asg")["arn"]),
            (["autoscaling:DescribeAutoScalingInstances"], "*"),
        ]
        assert sorted((t["key"], t["value"], t["propagateAtLaunch"]) for t in asg["tags"]) == [
            ("Name", "us-workers-worker", True),
            ("smtp-egress:region", "us", True),
            ("team", "mail", True),
        ]

    deploy(pulumi_mocks, check, dataclasses.replace(ARGS, min_size=1, desired_capacity=2, max_size=5))


def test_scaling_tracks_visible_messages_per_in_service_worker(pulumi_mocks):
    def check(rec, _):
        asg = rec.inputs_of(ASG, "us-workers-asg")
        assert asg["enabledMetrics"] == ["GroupInServiceInstances"] and asg["metricsGranularity"] == "1Minute"
        policy = rec.inputs_of("aws:autoscaling/policy:Policy", "us-workers-scaling")
        assert policy["policyType"] == "TargetTrackingScaling"
        assert policy["autoscalingGroupName"] == rec.outputs_of(ASG, "us-workers-asg")["name"]
        tracking = policy["targetTrackingConfiguration"]
        assert tracking["targetValue"] == 250.0 and tracking["disableScaleIn"] is False
        visible, instances, ratio = tracking["customizedMetricSpecification"]["metrics"]
        queue_name = rec.outputs_of(QUEUE, "us-workers-queue")["name"]
        assert visible["metricStat"]["metric"] == {
            "namespace": "AWS/SQS",
            "metricName": "ApproximateNumberOfMessagesVisible",
            "dimensions": [{"name": "QueueName", "value": queue_name}],
        }
        assert instances["metricStat"]["metric"]["metricName"] == "GroupInServiceInstances"
        assert instances["metricStat"]["metric"]["dimensions"] == [
            {"name": "AutoScalingGroupName", "value": policy["autoscalingGroupName"]}
        ]
        assert ratio == {
            "id": "backlog_per_instance",
            "label": "visible messages per in-service worker",
            "expression": "visible / instances",
            "returnData": True,
        }
        assert not visible["returnData"] and not instances["returnData"]

    deploy(pulumi_mocks, check, dataclasses.replace(ARGS, messages_per_instance=250))


def test_the_queue_hides_a_job_longer_than_the_longest_delivery(pulumi_mocks):
    def check(rec, _):
        assert rec.inputs_of(QUEUE, "us-workers-queue")["visibilityTimeoutSeconds"] == 700.0
        lt = rec.inputs_of(TEMPLATE, "us-workers-launch-template")
        unit = base64.b64decode(lt["userData"]).decode()
        assert "TimeoutStopSec=630\n" in unit  # systemd waits for the longest delivery on a graceful stop

    deploy(pulumi_mocks, check, dataclasses.replace(ARGS, visibility_timeout_seconds=700, max_delivery_seconds=600))


# --- the workers' secrets: the ledger URL and the tracking keys, in Secrets Manager ------------------------

LEDGER_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:shared/ledger-url-AbCdEf"
KEYS_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:tracker/keys-GhIjKl"
CMK = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def test_the_secrets_are_declared_without_a_value_and_only_they_are_readable(pulumi_mocks):
    def check(rec, _):
        assert not [r for r in rec.resources if r.type == "aws:secretsmanager/secretVersion:SecretVersion"]
        arns = []
        for key, variable in (("ledger-url", "EGRESS_DB_SECRET"), ("tracking-keys", "EGRESS_TRACKING_KEYS_SECRET")):
            secret = rec.inputs_of(SECRET, f"us-workers-{key}")
            assert variable in secret["description"] and "put-secret-value" in secret["description"]
            assert "kmsKeyId" not in secret and secret["tags"] == {"team": "mail", "smtp-egress:region": "us"}
            arns.append(rec.outputs_of(SECRET, f"us-workers-{key}")["arn"])
        policy = rec.inputs_of("aws:iam/rolePolicy:RolePolicy", "us-workers-secrets-policy")
        assert policy["role"] == rec.outputs_of(ROLE, "us-workers-role")["name"]
        assert json.loads(policy["policy"])["Statement"] == [
            {
                "Sid": "ReadWorkerSecrets",
                "Effect": "Allow",
                "Action": "secretsmanager:GetSecretValue",
                "Resource": sorted(arns),
            }
        ]
        outputs = next(v for k, v in rec.component_outputs.items() if k.endswith("::us-workers"))
        assert (outputs["ledger_secret_arn"], outputs["tracking_keys_secret_arn"]) == tuple(arns)

    deploy(pulumi_mocks, check)


def test_existing_secrets_and_their_key_are_used_not_declared(pulumi_mocks):
    def check(rec, _):
        assert not [r for r in rec.resources if r.type.startswith("aws:secretsmanager")]
        (read, decrypt) = json.loads(
            rec.inputs_of("aws:iam/rolePolicy:RolePolicy", "us-workers-secrets-policy")["policy"]
        )["Statement"]
        assert read["Resource"] == sorted([LEDGER_ARN, KEYS_ARN])
        assert (decrypt["Action"], decrypt["Resource"]) == ("kms:Decrypt", CMK)
        assert decrypt["Condition"] == {
            "StringEquals": {"kms:EncryptionContext:SecretARN": sorted([LEDGER_ARN, KEYS_ARN])}
        }
        config = yaml.safe_load(base64.b64decode(rec.inputs_of(TEMPLATE, "us-workers-launch-template")["userData"]))
        env = next(f for f in config["write_files"] if f["path"] == "/etc/smtp-egress/worker.env")["content"]
        assert f"EGRESS_DB_SECRET={LEDGER_ARN}\nEGRESS_TRACKING_KEYS_SECRET={KEYS_ARN}\n" in env

    given = dict(ledger_url_secret_arn=LEDGER_ARN, tracking_keys_secret_arn=KEYS_ARN, secrets_kms_key_arn=CMK)
    deploy(pulumi_mocks, check, dataclasses.replace(ARGS, **given))


def test_declared_secrets_are_encrypted_with_the_given_key(pulumi_mocks):
    def check(rec, _):
        assert {rec.inputs_of(SECRET, f"us-workers-{k}")["kmsKeyId"] for k in ("ledger-url", "tracking-keys")} == {CMK}

    deploy(pulumi_mocks, check, dataclasses.replace(ARGS, secrets_kms_key_arn=CMK))


@pytest.mark.parametrize(
    "change, words",
    [
        ({"ledger_url_secret_arn": "postgresql://u:pw@db/l"}, "ledger_url_secret_arn 'postgresql://u:pw@db/l' is not"),
        ({"tracking_keys_secret_arn": "arn:aws:kms:us-east-1:123456789012:key/k"}, "tracking_keys_secret_arn"),
        ({"secrets_kms_key_arn": "alias/workers"}, "secrets_kms_key_arn 'alias/workers' is not a KMS key ARN"),
    ],
)
def test_validate_names_a_bad_secret_arn(change, words):
    with pytest.raises(ConfigError, match="DeliveryWorkers: ") as exc:
        validate(dataclasses.replace(ARGS, **change))
    assert words in str(exc.value)


def test_user_data_carries_the_secrets_arns_only_and_never_with_a_plain_ledger():
    text = render_user_data(**UD, ledger_secret=LEDGER_ARN, tracking_keys_secret=KEYS_ARN)
    env = next(f for f in yaml.safe_load(text)["write_files"] if f["path"] == "/etc/smtp-egress/worker.env")
    assert env["content"].splitlines()[-3:] == [
        f"EGRESS_DB_SECRET={LEDGER_ARN}",
        f"EGRESS_TRACKING_KEYS_SECRET={KEYS_ARN}",
        "EGRESS_WORKER_HEALTH=127.0.0.1:9464",
    ]
    with pytest.raises(ValueError, match="ledger_url or ledger_secret, not both"):
        render_user_data(**UD, ledger_url="postgresql://w@db/l", ledger_secret=LEDGER_ARN)
    for field in ("ledger_secret", "tracking_keys_secret"):
        with pytest.raises(ValueError, match=field):
            render_user_data(**UD, **{field: LEDGER_ARN + "\nEGRESS_DB=sqlite:///x"})
        with pytest.raises(ValueError, match=field):
            render_user_data(**UD, **{field: "postgresql://w:pw@db/l"})


def test_the_host_checks_accept_the_secrets_arns_and_still_catch_a_value():
    """checks/hosts' 'no plaintext secret' patterns, on the production worker.env: an ARN is a reference."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "checks" / "hosts" / "test_worker_host.py"
    spec = importlib.util.spec_from_file_location("worker_host_checks", path)
    checks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(checks)
    text = render_user_data(**UD, ledger_secret=LEDGER_ARN, tracking_keys_secret=KEYS_ARN)
    env = next(f for f in yaml.safe_load(text)["write_files"] if f["path"] == checks.CONFIG)["content"]

    def found(content: str) -> list[str]:
        lines = content.splitlines()
        return [w for w, p in checks.SECRET_PATTERNS.items() if p.search(content) or any(p.match(x) for x in lines)]

    assert found(env) == []
    assert {line.split("=")[0] for line in env.splitlines() if "=" in line and not line.startswith("#")} <= (
        checks.CONFIG_KEYS
    )
    assert found(env + "EGRESS_TRACKING_KEYS_SECRET=k1 c2VjcmV0\n") == ["a password setting"]
    assert found(env + "EGRESS_DB_SECRET=postgresql://u:pw@db/l\n") == ["a password in a URL", "a password setting"]


def test_worker_secrets_policy_and_parliament():
    from .test_daily_task import parliament_findings

    policy = iam_policies.worker_secrets_policy([KEYS_ARN, LEDGER_ARN])
    assert json.loads(policy)["Statement"][0]["Resource"] == [LEDGER_ARN, KEYS_ARN]
    assert parliament_findings(policy) == []
    assert parliament_findings(iam_policies.worker_secrets_policy([LEDGER_ARN], CMK)) == []
    with pytest.raises(ValueError, match="must be an ARN"):
        iam_policies.worker_secrets_policy([LEDGER_ARN, "shared/ledger-url"])
    with pytest.raises(ValueError, match="at least one"):
        iam_policies.worker_secrets_policy([])
