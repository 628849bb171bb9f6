"""A production worker's secrets, in real processes: `egress worker run --once` with only EGRESS_DB_SECRET and
EGRESS_TRACKING_KEYS_SECRET (the ARNs the DeliveryWorkers user data carries) reads the ledger URL and the tracking
keys from real Secrets Manager secrets on moto's server, delivers over verified TLS to a real aiosmtpd server and
rewrites links on the verified domain. The ledger is a real PostgreSQL database reached with a password that lives
only in the secret. Planted values are grepped in every output: stdout, stderr, the archive, the ledger's rows, the
queue file, every file the run left, the user data. A secret that is missing, empty or malformed, and a plain
setting next to its secret, stop the run before anything is delivered, with a message naming the variable and the
secret, never the value."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from urllib.parse import quote

import boto3
import pytest
import sqlalchemy as sa
import yaml

from smtp_egress.components.worker_host import render_user_data
from smtp_egress.tracking.keys import encode_secret

from ..egress.delivery.conftest import sink  # noqa: F401  (the fixture)
from ..egress.delivery.helpers import PASSWORD, USER
from .test_worker_end_to_end import EML, PLAN, egress, worker_env
from .test_worker_tracking_end_to_end import (
    CLICK,
    SHOP,
    TRACKED,
    body,
    platform,  # noqa: F401  (the fixture)
    run_once,
)
from .test_worker_tracking_end_to_end import EML as TRACKED_EML

DB_PASSWORD = "Zq8D-ledger/pw#x?y@z"
KEY_SECRET = b"Zq8T" * 8  # the tracking key: 32 bytes
KEYRING = f"# smtp-egress tracking keys\nk1 {encode_secret(KEY_SECRET)}\n"
NEEDLES = ["Zq8", encode_secret(KEY_SECRET), "ledger/pw", quote(DB_PASSWORD, safe=""), PASSWORD]


def aws(env: dict[str, str], endpoint: str) -> dict[str, str]:
    """``env`` with dummy credentials for moto and boto3's own endpoint setting (what the SMTP keyring's KMS
    client and the secrets' client follow; ``--endpoint-url`` is the SQS/S3 flag, and the secrets' too)."""
    return {
        **{k: v for k, v in env.items() if not k.startswith("AWS_")},
        "AWS_ACCESS_KEY_ID": "AKIATESTINGONLY00000",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ENDPOINT_URL": endpoint,
    }


def secret(moto_server, value: str | None) -> str:
    sm = boto3.client(
        "secretsmanager", endpoint_url=moto_server.url, region_name="us-east-1",
        aws_access_key_id="x", aws_secret_access_key="x",
    )  # fmt: skip
    name = f"us-workers-{uuid.uuid4().hex[:8]}"
    return sm.create_secret(Name=name, **({"SecretString": value} if value is not None else {}))["ARN"]


def leaks(texts: dict[str, str | bytes]) -> list[str]:
    found = []
    for name, content in texts.items():
        text = content.decode("utf-8", "replace") if isinstance(content, bytes) else content
        found += [f"{name}: {needle!r}" for needle in NEEDLES if needle in text]
    return found


def files_under(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def pg_ledger(pg_url):
    """A database of its own, owned by a role with a password: the URL the platform would put in the secret.
    (``pg_url``: PostgreSQL is there, or the test fails in CI.)"""
    base = os.environ["EGRESS_TEST_PG_URL"]
    role = database = f"w_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE ROLE {role} LOGIN PASSWORD '{DB_PASSWORD}'"))  # (no quote in it)
        conn.execute(sa.text(f'CREATE DATABASE "{database}" OWNER {role}'))
    host = base.split("@", 1)[1].rsplit("/", 1)[0]
    yield f"postgresql+psycopg://{role}:{quote(DB_PASSWORD, safe='')}@{host}/{database}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE "{database}" WITH (FORCE)'))
        conn.execute(sa.text(f"DROP ROLE {role}"))
    admin.dispose()


def ledger_rows(url: str) -> str:
    """Every row of every table of the ledger, as text."""
    engine = sa.create_engine(url)
    try:
        meta = sa.MetaData()
        meta.reflect(engine)
        with engine.connect() as conn:
            return "\n".join(repr(row) for table in meta.sorted_tables for row in conn.execute(table.select()))
    finally:
        engine.dispose()


def one_job_queued(here: Path, env: dict[str, str], port: int) -> None:
    """ws-1 with its STARTTLS+AUTH server on ``port`` (password sealed with a local key), one job queued; the
    password's file removed: only the ledger holds it, sealed."""
    (here / "pw.txt").write_text(PASSWORD + "\n")
    (here / "m.eml").write_bytes(EML)
    (here / "ws.csv").write_text("workspace_id,region,email\nws-1,us,ops@customer.example\n")
    for argv in (
        ("workspaces", "import", "ws.csv", "--plan", str(PLAN)),
        ("smtp", "keygen", "--out", str(here / "smtp.key")),
        ("smtp", "add", "--workspace", "ws-1", "--host", "127.0.0.1", "--port", str(port),
         "--security", "starttls", "--username", USER, "--password-file", "pw.txt", "--default"),
        ("worker", "enqueue", "--workspace", "ws-1", "--from", "news@customer.example", "--to", "a@example.net",
         "m.eml"),
    ):  # fmt: skip
        done = egress(here, env, *argv)
        assert done.returncode == 0, done.stderr
    (here / "pw.txt").unlink()


def test_the_ledger_url_with_its_password_comes_from_the_secret_only(tmp_path, sink, cafile, moto_server, pg_ledger):  # noqa: F811
    server = sink("starttls", pipelining=True)
    setup = {**worker_env(tmp_path, cafile), "EGRESS_DB": pg_ledger}
    one_job_queued(tmp_path, setup, server.port)

    ledger_arn, keys_arn = secret(moto_server, pg_ledger), secret(moto_server, KEYRING)
    env = {k: v for k, v in aws(setup, moto_server.url).items() if k != "EGRESS_DB"}
    env.update(EGRESS_DB_SECRET=ledger_arn, EGRESS_TRACKING_KEYS_SECRET=keys_arn)
    endpoint = env.pop("AWS_ENDPOINT_URL")  # the run: the worker's own flag; status below: boto3's variable
    run = egress(tmp_path, env, "worker", "run", "--once", "--json", "--endpoint-url", endpoint)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["delivered"] == 1 and "no tracking keys" not in run.stderr
    status = egress(tmp_path, {**env, "AWS_ENDPOINT_URL": endpoint}, "worker", "status", "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["recipients"]["delivered"] == 1  # status reads the ledger from the secret too
    (got,) = server.handler.messages
    assert got.content == EML.replace(b"\n", b"\r\n") and got.login == USER.encode()

    user_data = render_user_data(
        region="us", queue="https://sqs.us-east-1.amazonaws.com/123456789012/q", archive="s3://a-1/archive",
        vpc_cidr="10.0.0.0/16", ledger_secret=ledger_arn, tracking_keys_secret=keys_arn,
    )  # fmt: skip
    env_file = next(f for f in yaml.safe_load(user_data)["write_files"] if f["path"].endswith("worker.env"))
    assert f"EGRESS_DB_SECRET={ledger_arn}\n" in env_file["content"]
    texts = {"run stdout": run.stdout, "run stderr": run.stderr, "status": status.stdout + status.stderr}
    texts |= {"user data": user_data, "ledger rows": ledger_rows(pg_ledger), **files_under(tmp_path)}
    assert leaks(texts) == []


def test_tracking_keys_from_a_secret_rewrite_links_on_the_verified_domain(platform, moto_server):  # noqa: F811
    here, env, server, ok = platform
    env = aws(env, moto_server.url)
    ledger_arn, keys_arn = secret(moto_server, env.pop("EGRESS_DB")), secret(moto_server, KEYRING)
    env.update(EGRESS_DB_SECRET=ledger_arn, EGRESS_TRACKING_KEYS_SECRET=keys_arn)
    (here / "tracking.keys").unlink()  # the key file `platform` made: only the secret's keys exist now
    (here / "pw.txt").unlink()  # the SMTP password's file: given to `egress smtp add`, not the worker
    _, log = run_once(here, env, ok, {"ws-1": ["a@example.net"], "ws-2": ["c@example.net"]})
    assert "no tracking keys" not in log and "Traceback" not in log
    got = {tuple(m.rcpt_tos): m.content for m in server.handler.messages}
    assert len(CLICK.findall(body(got[("a@example.net",)]))) == 1 and SHOP not in body(got[("a@example.net",)])
    assert got[("c@example.net",)] == TRACKED_EML.replace(b"\n", b"\r\n")  # ws-2: not verified, plain
    token = CLICK.search(body(got[("a@example.net",)])).group(1)
    from smtp_egress.tracking.keys import Keyring, TrackingKey
    from smtp_egress.tracking.tokens import TokenSigner

    signer = TokenSigner(Keyring((TrackingKey("k1", KEY_SECRET),)))
    claims = signer.verify(token, domain=TRACKED, kind="click")  # signed with the secret's key
    assert (claims.key_id, claims.destination, claims.recipient) == ("k1", SHOP, "a@example.net")
    assert leaks({"run": log, **files_under(here)}) == []


@pytest.fixture
def queued(tmp_path, sink, cafile, moto_server):  # noqa: F811
    """One job for a stored server on an SQLite ledger; ``run(**env)`` runs the worker once with ``env`` over
    the base environment (EGRESS_DB unset), and checks nothing was delivered and nothing leaked."""
    server = sink("starttls", pipelining=True)
    base = aws(worker_env(tmp_path, cafile), moto_server.url)
    one_job_queued(tmp_path, base, server.port)
    sqlite = base.pop("EGRESS_DB")

    def run(**change: str) -> str:
        done = egress(tmp_path, {**base, **change}, "worker", "run", "--once")
        assert done.returncode == 2, done.stdout + done.stderr
        assert "Traceback" not in done.stderr and not server.handler.messages  # nothing delivered
        assert leaks({"stdout": done.stdout, "stderr": done.stderr}) == []
        return done.stderr

    return run, sqlite


def test_a_secret_that_cannot_be_used_stops_the_run_naming_it_never_its_value(queued, moto_server):
    run, sqlite = queued
    keys = secret(moto_server, KEYRING)
    missing = secret(moto_server, None)
    said = run(EGRESS_DB_SECRET=missing)
    assert f"EGRESS_DB_SECRET: the secret {missing} does not exist or has no value yet" in said
    assert "aws secretsmanager put-secret-value" in said
    empty = secret(moto_server, " \n")
    assert f"EGRESS_DB_SECRET: the secret {empty} holds a value that is empty" in run(EGRESS_DB_SECRET=empty)
    bad_url = secret(moto_server, f"{DB_PASSWORD} not a url")
    assert "does not hold a ledger URL" in run(EGRESS_DB_SECRET=bad_url)
    bad_keys = secret(moto_server, f"{DB_PASSWORD} {encode_secret(KEY_SECRET)}")
    said = run(EGRESS_DB=sqlite, EGRESS_TRACKING_KEYS_SECRET=bad_keys)
    assert f"EGRESS_TRACKING_KEYS_SECRET: the secret {bad_keys}, line 1: not a '<key id> <secret>' line" in said
    said = run(EGRESS_DB=sqlite, EGRESS_DB_SECRET=secret(moto_server, sqlite))
    assert "both EGRESS_DB and EGRESS_DB_SECRET name the ledger" in said
    said = run(EGRESS_DB=sqlite, EGRESS_TRACKING_KEYS="/x/tracking.keys", EGRESS_TRACKING_KEYS_SECRET=keys)
    assert "both EGRESS_TRACKING_KEYS and EGRESS_TRACKING_KEYS_SECRET name the tracking keys" in said
    said = run(EGRESS_DB_SECRET=sqlite)  # the value pasted where the secret's ARN belongs
    assert "EGRESS_DB_SECRET is not a Secrets Manager secret ARN" in said and sqlite not in said
