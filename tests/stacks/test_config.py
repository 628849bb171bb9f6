"""Stack config that real platforms need: a real-sized list (``addressesPerGateway``), notices from a real
sender (``noticeFrom``), and signed published documents (``signingKey``), each through ``egress synth``."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from .conftest import DATA, NAT

# The vendor's US list grew from 10 to 12 addresses, both additions effective the same day.
US_BEFORE = [f"198.51.100.{n}" for n in range(10, 20)]
US_ADDED = ["198.51.100.20", "198.51.100.21"]
ANNOUNCED, EFFECTIVE = "2026-11-26", "2026-12-10"
FROZEN = {"plan": DATA / "egress-ips.yaml", "published": DATA / "published-us-announced.json"}  # the golden inputs


@pytest.fixture
def twelve(tmp_path) -> tuple[Path, Path]:
    """(plan, published document): 10 live US addresses and 2 additions announced on ANNOUNCED for EFFECTIVE."""
    from smtp_egress.dates import start_of
    from smtp_egress.document import render
    from smtp_egress.plan import load_plan
    from smtp_egress.timeline import Announcement

    lines = ["notice_days: 7", "regions:", "  us:"]
    lines += [f"    - ip: {ip}" for ip in US_BEFORE]
    lines += [f"    - ip: {ip}\n      active_from: {EFFECTIVE}" for ip in US_ADDED]
    lines += ["  eu:", "    - ip: 203.0.113.20"]
    plan_path = tmp_path / "plan-12.yaml"
    plan_path.write_text("\n".join(lines) + "\n")
    plan = load_plan(plan_path)
    at = start_of(dt.date.fromisoformat(ANNOUNCED))
    anns = {c.change_id: Announcement.of(c, at, plan.notice_days) for c in plan.changes("us")}
    published = tmp_path / "published-us-12.json"
    published.write_bytes(render(plan, "us", anns, at).json_bytes)
    return plan_path, published


def test_twelve_live_us_addresses_synthesize_once_the_quota_is_raised(synth, twelve):
    plan, published = twelve
    run = synth("us", today=EFFECTIVE, plan=plan, published=published, config={"addressesPerGateway": "6"})
    assert run.code == 0, run.err
    assert run.on_gateways() == set(US_BEFORE + US_ADDED)
    nats = [r for r in run.plan["resources"] if r["type"] == NAT]
    assert sorted(1 + len(n["inputs"].get("secondaryAllocationIds") or []) for n in nats) == [6, 6]
    states = run.plan["outputs"]["egress_addresses"]
    assert len(states) == 12 and all(s["state"] == "live" and s["attached"] for s in states.values())


def test_too_many_addresses_for_the_default_quota_name_the_key_and_the_aws_quota(synth, twelve):
    plan, published = twelve
    run = synth("us", today=EFFECTIVE, plan=plan, published=published)
    assert run.code == 2 and run.plan is None, run.err
    assert "12 attached addresses do not fit on 2 NAT gateways of 2 addresses" in run.err
    assert "'Elastic IP addresses per public NAT gateway'" in run.err
    assert "`pulumi config set smtp-egress:addressesPerGateway 6`" in run.err
    assert "stacks/Pulumi.us.yaml, now 2" in run.err and "Traceback" not in run.err


def test_the_day_before_the_additions_ten_addresses_fit_only_with_a_raised_quota(synth, twelve):
    plan, published = twelve
    run = synth("us", today="2026-12-09", plan=plan, published=published, config={"addressesPerGateway": "5"})
    assert run.code == 0, run.err
    assert run.on_gateways() == set(US_BEFORE)
    assert {ip for ip, s in run.plan["outputs"]["egress_addresses"].items() if not s["attached"]} == set(US_ADDED)


def test_more_than_aws_allows_asks_for_zones(synth, twelve):
    plan, published = twelve
    run = synth(
        "us",
        today=EFFECTIVE,
        plan=plan,
        published=published,
        config={"addressesPerGateway": "8", "availabilityZones": '["us-east-1a"]'},
    )
    assert run.code == 2 and run.plan is None
    assert "they need 12 per gateway, more than AWS allows (8)" in run.err
    assert "add zones to 'smtp-egress:availabilityZones' (stacks/Pulumi.us.yaml)" in run.err
    assert "pulumi config set" not in run.err


@pytest.mark.parametrize(
    "value, words",
    [
        ("0", "expected at least 1"),
        ("9", "expected at most 8"),
        ("two", "expected a whole number"),
    ],
)
def test_a_bad_addresses_per_gateway_names_the_key_and_the_quota(synth, twelve, value, words):
    plan, published = twelve
    run = synth("us", today=EFFECTIVE, plan=plan, published=published, config={"addressesPerGateway": value})
    assert run.code == 2 and run.plan is None
    assert "'smtp-egress:addressesPerGateway' (stacks/Pulumi.us.yaml)" in run.err and words in run.err
    assert "Elastic IP addresses per public NAT gateway" in run.err


def container(run) -> dict:
    import json

    task = next(r for r in run.plan["resources"] if r["name"].endswith("-notices-task"))  # the daily task's
    (definition,) = json.loads(task["inputs"]["containerDefinitions"])
    return definition


def test_the_daily_task_sends_from_notice_from_and_links_to_the_published_host(synth):
    sender = "Acme IP notices <ip-notices@acme.example>"
    run = synth(
        "us",
        today=ANNOUNCED,
        **FROZEN,
        config={"noticeFrom": sender, "publishedUrl": "https://ips.acme.example/v1/info/ip_addresses"},
    )
    assert run.code == 0, run.err
    assert container(run)["environment"] == [
        {"name": "EGRESS_BASE_URL", "value": "https://ips.acme.example"},
        {"name": "EGRESS_FROM", "value": sender},
        {"name": "EGRESS_HEARTBEAT_NAMESPACE", "value": "SmtpEgress"},
        {"name": "PULUMI_BACKEND_URL", "value": "s3://example-pulumi-state/smtp-egress"},  # egress daily's stack
    ]


@pytest.mark.parametrize(
    "value, words",
    [
        ("", "is missing; set it with `pulumi config set smtp-egress:noticeFrom VALUE`"),
        ("ip-notices@localhost", "is 'ip-notices@localhost': the From: of the daily job's notices is not an address"),
        ("IP notices", "is 'IP notices': the From: of the daily job's notices is not an address"),
    ],
)
def test_notice_from_is_required_and_must_be_an_address(synth, value, words):
    run = synth("us", today=ANNOUNCED, **FROZEN, config={"noticeFrom": value})
    assert run.code == 2 and run.plan is None
    assert "'smtp-egress:noticeFrom' (stacks/Pulumi.us.yaml)" in run.err and words in run.err


# --- signingKey: the published document signed in the program, its signature uploaded beside it -------------


def signature_object(run) -> dict | None:
    return next((r for r in run.plan["resources"] if r["inputs"].get("key") == "us/v1/info/ip_addresses.sig"), None)


def test_the_stack_uploads_a_signature_that_openssl_and_egress_verify(synth, stack_secrets, signing_key, tmp_path):
    import base64
    import shutil
    import subprocess

    from smtp_egress.scripts.cli import main

    pem, public = signing_key
    stack_secrets({"smtp-egress:signingKey": pem})
    run = synth("us", today=ANNOUNCED, **FROZEN)
    assert run.code == 0, run.err
    doc = next(r for r in run.plan["resources"] if r["inputs"].get("key") == "us/v1/info/ip_addresses")
    sig = signature_object(run)
    assert sig["inputs"]["contentType"] == "application/octet-stream" and "content" not in sig["inputs"]
    assert sig["parent"] == doc["parent"]  # uploaded by the publisher, beside the document
    # what CloudFront will serve at /v1/info/ip_addresses and /v1/info/ip_addresses.sig, as a customer saves it
    (tmp_path / "ip_addresses").write_text(doc["inputs"]["content"])
    (tmp_path / "ip_addresses.sig").write_bytes(base64.b64decode(sig["inputs"]["contentBase64"], validate=True))
    argv = ["pkeyutl", "-verify", "-pubin", "-inkey", str(public), "-rawin", "-in", "ip_addresses"]
    proc = subprocess.run(
        [shutil.which("openssl"), *argv, "-sigfile", "ip_addresses.sig"], cwd=tmp_path, capture_output=True, text=True
    )
    assert proc.returncode == 0 and "Signature Verified Successfully" in proc.stdout, proc.stderr
    assert main(["publish", "--verify", str(tmp_path / "ip_addresses"), "--public-key", str(public)]) == 0
    assert run.plan["outputs"]["signing_public_key"] == public.read_text()


def test_only_the_signature_and_the_public_key_leave_the_program_never_the_signing_key(
    synth, stack_secrets, signing_key
):
    pem, _ = signing_key
    stack_secrets({"smtp-egress:signingKey": pem})
    run = synth("us", today=ANNOUNCED, **FROZEN)
    assert run.code == 0, run.err
    body = "".join(pem.splitlines()[1:-1])
    text = run.path.read_text()
    assert "PRIVATE KEY" not in text and body not in text and body[:24] not in text
    assert "PRIVATE KEY" not in run.out + run.err


def test_without_a_signing_key_nothing_is_signed_and_a_warning_says_so(synth, stack_secrets, caplog):
    stack_secrets({"smtp-egress:signingKey": None})
    run = synth("us", today=ANNOUNCED, **FROZEN)
    assert run.code == 0, run.err
    assert signature_object(run) is None and run.plan["outputs"]["signing_public_key"] is None
    assert "smtp-egress:signingKey is not set: the published list is served without a signature" in caplog.text


def test_the_placeholder_of_a_synth_is_signed_as_a_placeholder(synth):
    run = synth("us", today=ANNOUNCED, **FROZEN)  # the committed stack file: signingKey is a secure: placeholder
    assert run.code == 0, run.err
    assert signature_object(run)["inputs"]["contentBase64"] == "[secret]"


@pytest.mark.parametrize("value", ["0123456789abcdef" * 4, "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END"])
def test_a_signing_key_that_is_not_an_ed25519_pem_stops_the_synth_without_quoting_it(synth, stack_secrets, value):
    stack_secrets({"smtp-egress:signingKey": value})
    run = synth("us", today=ANNOUNCED, **FROZEN)
    assert run.code == 2 and run.plan is None
    assert "the signing key 'smtp-egress:signingKey' (stacks/Pulumi.us.yaml) is not an unencrypted PEM" in run.err
    assert "pulumi config set --secret smtp-egress:signingKey < PATH" in run.err
    assert value not in run.err and "MCowBQYDK2VwAyEA" not in run.err and "Traceback" not in run.err


# --- the workers' secrets: declared without a value, or existing ones named in the config ------------------

WORKER_LEDGER = "arn:aws:secretsmanager:us-east-1:123456789012:secret:shared/ledger-url-AbCdEf"
WORKER_KEYS = "arn:aws:secretsmanager:us-east-1:123456789012:secret:tracker/keys-GhIjKl"
WORKER_CMK = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def test_existing_worker_secrets_from_the_config_are_used_not_declared(synth):
    config = {
        "workerLedgerSecretArn": WORKER_LEDGER,
        "workerTrackingKeysSecretArn": WORKER_KEYS,
        "workerSecretsKmsKey": WORKER_CMK,
    }
    run = synth("us", config=config, **FROZEN)
    assert run.code == 0, run.err
    assert not [r for r in run.plan["resources"] if r["type"] == "aws:secretsmanager/secret:Secret"
                and r["name"].startswith("us-workers")]  # fmt: skip
    assert (run.plan["outputs"]["worker_ledger_secret"], run.plan["outputs"]["worker_tracking_keys_secret"]) == (
        WORKER_LEDGER,
        WORKER_KEYS,
    )
    policy = next(r for r in run.plan["resources"] if r["name"] == "us-workers-secrets-policy")["inputs"]["policy"]
    assert WORKER_LEDGER in policy and WORKER_KEYS in policy and WORKER_CMK in policy


@pytest.mark.parametrize(
    "key, value",
    [
        ("workerLedgerSecretArn", "postgresql://u:Zq8-pw@db/l"),
        ("workerTrackingKeysSecretArn", "tracker/keys"),
        ("workerSecretsKmsKey", "alias/workers"),
    ],
)
def test_a_worker_secret_setting_that_is_not_an_arn_names_the_key(synth, key, value):
    run = synth("us", config={key: value}, **FROZEN)
    assert run.code == 2 and run.plan is None
    assert f"'smtp-egress:{key}'" in run.err and "Traceback" not in run.err and "Zq8" not in run.err
