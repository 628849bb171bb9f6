"""The worker's secrets against moto's standalone server: the ledger URL and the tracking keyring read from real
Secrets Manager secrets; a missing secret, one without a value, an empty, binary or malformed value, a secret the
credentials may not read (moto's IAM enforcement, the worker's own secrets policy), an endpoint that does not
answer: each its own error naming the variable and the secret, never the value."""

from __future__ import annotations

import uuid

import boto3
import pytest

from smtp_egress.errors import ConfigError
from smtp_egress.tracking.keys import encode_secret
from smtp_egress.worker import secrets
from smtp_egress.worker.secrets import (
    SecretDenied,
    SecretEmpty,
    SecretError,
    SecretMalformed,
    SecretMissing,
    SecretUnreachable,
)

from ...conftest import free_port, start_moto

PLANTED = "Zq8W-worker-secret"
KEY = encode_secret(b"Zq8K" * 8)  # 32 bytes
KEYRING = f"# smtp-egress tracking keys\nk1 {encode_secret(b'x' * 32)}\nk2 {KEY}\n"
VAR = "EGRESS_TEST_SECRET"


@pytest.fixture
def sm(moto_server, aws_env):
    return boto3.client("secretsmanager", endpoint_url=moto_server.url)


def put(sm, value: str | bytes | None, name: str | None = None) -> str:
    name = name or f"workers/{uuid.uuid4().hex[:8]}"
    if value is None:
        return sm.create_secret(Name=name)["ARN"]  # declared, no value yet (as the component declares them)
    field = "SecretBinary" if isinstance(value, bytes) else "SecretString"
    return sm.create_secret(Name=name, **{field: value})["ARN"]


def read(ref: str, endpoint: str) -> str:
    return secrets.read_secret(ref, VAR, endpoint_url=endpoint)


def test_the_ledger_url_and_the_keyring_are_read_from_their_secrets(sm, moto_server):
    url = f"postgresql+psycopg://worker:{PLANTED}@db.internal:5432/egress"
    arn = put(sm, f"  {url}\n")
    assert secrets.ledger_url(read(arn, moto_server.url), VAR, arn) == url
    keys = put(sm, KEYRING)
    keyring = secrets.tracking_keyring(read(keys, moto_server.url), VAR, keys)
    assert [k.key_id for k in keyring.keys] == ["k1", "k2"] and keyring.current.secret == b"Zq8K" * 8
    name = f"workers/by-name-{uuid.uuid4().hex[:8]}"
    put(sm, url, name)
    assert read(name, moto_server.url) == url  # a name works too (the configured region's secret)


@pytest.mark.parametrize(
    "value, error, words",
    [
        (None, SecretMissing, "does not exist or has no value yet; put one with `aws secretsmanager put-secret-value"),
        ("   \n", SecretEmpty, "holds a value that is empty"),
        (b"\x00binary", SecretEmpty, "holds a value that is binary (SecretBinary)"),
    ],
)
def test_a_secret_without_a_usable_value(sm, moto_server, value, error, words):
    arn = put(sm, value)
    with pytest.raises(error) as exc:
        read(arn, moto_server.url)
    assert str(exc.value).startswith(f"{VAR}: the secret {arn}") and words in str(exc.value)
    assert isinstance(exc.value, ConfigError) and exc.value.exit_code == 2


def test_a_secret_that_does_not_exist(sm, moto_server):
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:workers/gone-AbCdEf"
    with pytest.raises(SecretMissing, match="does not exist or has no value yet"):
        read(arn, moto_server.url)


@pytest.mark.parametrize(
    "value",
    [
        f"{PLANTED}",  # not a URL at all
        f"postgresql://u:{PLANTED}@db/l extra",  # two words
        f'{{"username": "u", "password": "{PLANTED}"}}',  # an RDS-style JSON secret
    ],
)
def test_a_malformed_ledger_url_is_refused_without_showing_it(sm, moto_server, value):
    arn = put(sm, value)
    with pytest.raises(SecretMalformed) as exc:
        secrets.ledger_url(read(arn, moto_server.url), VAR, arn)
    assert arn in str(exc.value) and "Zq8" not in str(exc.value) and "does not hold a ledger URL" in str(exc.value)


@pytest.mark.parametrize(
    "value, words",
    [
        (f"postgresql://u:{PLANTED}@db/l", "line 1: not a '<key id> <secret>' line"),
        (f"{PLANTED}/x {KEY}", "line 1: not a '<key id> <secret>' line"),
        (f"# keys\nk1 {KEY} {PLANTED}", "line 2: not a '<key id> <secret>' line"),
        (f"k1 {PLANTED}!", ":1: the secret of key 'k1' is not base64url"),
        (f"k1 {encode_secret(b'Zq8short')}", "the secret of key 'k1' is 8 bytes"),
        ("# only a comment\n", "holds no key"),
    ],
)
def test_a_malformed_keyring_is_refused_without_showing_it(sm, moto_server, value, words):
    arn = put(sm, value)
    with pytest.raises(SecretMalformed) as exc:
        secrets.tracking_keyring(read(arn, moto_server.url), VAR, arn)
    message = str(exc.value)
    assert arn in message and VAR in message and words in message, message
    assert "Zq8" not in message and encode_secret(b"Zq8short") not in message


@pytest.mark.parametrize(
    "ref", [f"postgresql://u:{PLANTED}@db/l", f"k1 {KEY}", "arn:aws:kms:us-east-1:123456789012:key/k", ""]
)
def test_a_reference_that_is_not_a_secret_is_refused_without_quoting_it(ref):
    with pytest.raises(SecretError) as exc:
        secrets.check_reference(ref, VAR)
    assert VAR in str(exc.value) and "not shown" in str(exc.value)
    assert "Zq8" not in str(exc.value) and (not ref or ref not in str(exc.value))


def test_an_endpoint_that_does_not_answer(aws_env):
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:workers/ledger-AbCdEf"
    with pytest.raises(SecretUnreachable, match=r"EGRESS_TEST_SECRET: the secret .* Secrets Manager cannot be reached"):
        read(arn, f"http://127.0.0.1:{free_port()}")


def test_the_region_is_the_arns_else_the_configured_one(sm, moto_server, monkeypatch):
    name = f"workers/{uuid.uuid4().hex[:8]}"
    arn = put(sm, "sqlite:///x.db", name)
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    assert secrets.read_secret(arn, VAR, endpoint_url=moto_server.url) == "sqlite:///x.db"  # us-east-1, the ARN's
    with pytest.raises(SecretError, match="no AWS region to read it in; set EGRESS_REGION"):
        secrets.read_secret(name, VAR, endpoint_url=moto_server.url)
    assert secrets.read_secret(name, VAR, region="us-east-1", endpoint_url=moto_server.url) == "sqlite:///x.db"


@pytest.fixture
def enforcing_moto(monkeypatch, aws_env):
    """A moto server that enforces IAM after its first 3 requests (which set up a user, its keys and a secret)."""
    monkeypatch.setenv("INITIAL_NO_AUTH_ACTION_COUNT", "3")
    server = start_moto()
    monkeypatch.delenv("INITIAL_NO_AUTH_ACTION_COUNT")
    yield server
    server.stop()


def test_credentials_without_the_permission_are_denied(enforcing_moto, monkeypatch):
    """moto evaluates IAM for Secrets Manager against Resource "*" only, so the policy's exact ARNs are checked by
    the component's tests and parliament; here: a principal without GetSecretValue, refused by moto's IAM."""
    iam, sm = enforcing_moto.client("iam"), enforcing_moto.client("secretsmanager")
    iam.create_user(UserName="worker")
    key = iam.create_access_key(UserName="worker")["AccessKey"]
    other = sm.create_secret(Name="other/ledger", SecretString=f"postgresql://u:{PLANTED}@db/l")["ARN"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
    with pytest.raises(SecretDenied) as exc:
        read(other, enforcing_moto.url)
    message = str(exc.value)
    assert message.startswith(f"{VAR}: the secret {other} cannot be read") and "Zq8" not in message
    assert "need secretsmanager:GetSecretValue on it" in message
