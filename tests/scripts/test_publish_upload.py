"""``egress publish --region R --upload s3://BUCKET/PREFIX``: the flags, what it prints, its exit codes, and a run
killed with SIGKILL halfway through its upload (a real process, moto's standalone server behind a proxy that
holds the third write until the process is dead)."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import signal
import subprocess
import sys
import uuid

import boto3
import pytest

from smtp_egress.checks.published import parse_published
from smtp_egress.dates import UTC
from smtp_egress.ledger import Ledger
from smtp_egress.plan import load_plan
from smtp_egress.scripts.cli import main

CORE = "v1/info/ip_addresses"
SECRET = "test-secret-Zq8vN3pLkW"  # tests/conftest.py's aws_env: never printed


@pytest.fixture
def env(example_plan, tmp_path, aws_env, moto_server, monkeypatch):
    for name in ("EGRESS_DB", "EGRESS_BASE_URL", "EGRESS_SIGNING_KEY", "EGRESS_PLAN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    db = f"sqlite:///{tmp_path}/ledger.db"
    plan = load_plan(example_plan)
    ledger = Ledger(db, create=True)
    (addition,) = [c for c in plan.changes() if c.ip == "198.51.100.11"]
    ledger.announce(addition, dt.datetime(2026, 11, 25, 9, tzinfo=UTC), plan.notice_days, plan.sha256, [])
    ledger.close()
    bucket = f"published-{uuid.uuid4().hex[:12]}"
    s3 = boto3.client("s3", endpoint_url=moto_server.url)
    s3.create_bucket(Bucket=bucket)
    common = ["--plan", str(example_plan), "--db", db, "--base-url", "https://ips.example.com"]
    return {
        "args": common,
        "bucket": bucket,
        "s3": s3,
        "endpoint": moto_server.url,
        "tmp": tmp_path,
        "db": db,
        "plan": plan,
        "moto": moto_server,
    }


def egress(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def upload(capsys, env, *extra, region="us", endpoint=None):
    """The run as the daily task makes it: at the real time (--at is refused with --upload)."""
    target = f"s3://{env['bucket']}/{region}"
    args = ["publish", *env["args"], "--region", region, "--upload", target]
    return egress(capsys, *args, "--endpoint-url", endpoint or env["endpoint"], *extra)


def objects(env) -> dict[str, bytes]:
    s3, bucket = env["s3"], env["bucket"]
    listed = s3.list_objects_v2(Bucket=bucket).get("Contents", [])
    return {o["Key"]: s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read() for o in listed}


def test_upload_prints_what_it_wrote_then_nothing_on_the_second_run(capsys, env):
    code, out, err = upload(capsys, env)
    assert code == 0, err
    bucket = env["bucket"]
    assert out.splitlines()[:4] == [
        f"uploaded s3://{bucket}/us/{CORE}.txt",
        f"uploaded s3://{bucket}/us/{CORE}",
        f"uploaded s3://{bucket}/us/{CORE}/changes.json",
        f"uploaded s3://{bucket}/us/{CORE}/changes.atom",
    ]
    assert re.search(rf"s3://{bucket}/us: 4 objects uploaded, 0 objects unchanged; region us, \d addresses", out)
    assert "not signed" in out
    code, out, err = upload(capsys, env)
    assert code == 0, err
    assert (
        out.startswith(f"s3://{bucket}/us: up to date: nothing uploaded, 4 objects unchanged")
        and "uploaded s3" not in out
    )


def test_json_result(capsys, env):
    code, out, err = upload(capsys, env, "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["changed"] is True and result["region"] == "us" and len(result["uploaded"]) == 4
    assert result["invalidation_id"] is None and result["target"] == f"s3://{env['bucket']}/us"


def test_signed_upload_and_invalidation(capsys, env):
    code, out, err = egress(capsys, "allowlist", "--generate-key", str(env["tmp"] / "signing.pem"))
    assert code == 0, err
    dist = env["moto"].distribution(env["bucket"])
    code, out, err = upload(capsys, env, "--signing-key", str(env["tmp"] / "signing.pem"), "--invalidate", dist)
    assert code == 0, err
    assert f"invalidated 5 paths on distribution {dist}" in out and ", signed;" in out
    assert f"us/{CORE}.sig" in objects(env)
    code, out, err = upload(capsys, env, "--signing-key", str(env["tmp"] / "signing.pem"), "--invalidate", dist)
    assert code == 0 and f"nothing to invalidate on distribution {dist}" in out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--format", "txt"], "--format does not apply to --upload"),
        (["--out", "x.json"], "--out does not apply to --upload"),
        (["--invalidate", "E2Q/../x"], "--invalidate 'E2Q/../x' is not a CloudFront distribution ID"),
        (["--endpoint-url", "ftp://x"], "--endpoint-url 'ftp://x' is not an http(s) URL"),
        (["--at", "2026-12-01"], "--at does not apply to --upload: customers read the list as it stands now"),
        (["--today", "2026-12-01"], "--today does not apply to --upload"),
    ],
)
def test_flags_that_do_not_fit_are_refused(capsys, env, extra, message):
    code, _, err = egress(
        capsys, "publish", *env["args"], "--region", "us", "--upload", f"s3://{env['bucket']}/us", *extra
    )
    assert code == 2 and message in err and "Traceback" not in err
    assert objects(env) == {}


def test_upload_needs_a_region_a_base_url_and_an_s3_url(capsys, env, tmp_path):
    code, _, err = egress(capsys, "publish", *env["args"], "--static-dir", str(tmp_path), "--upload", "s3://b/us")
    assert code == 2 and "--upload needs --region R" in err
    no_base = [a for a in env["args"] if a not in ("--base-url", "https://ips.example.com")]
    code, _, err = egress(capsys, "publish", *no_base, "--region", "us", "--upload", "s3://b/us")
    assert code == 2 and "--upload needs --base-url (or EGRESS_BASE_URL)" in err
    code, _, err = egress(capsys, "publish", *env["args"], "--region", "us", "--upload", "https://b/us")
    assert code == 2 and "--upload: 'https://b/us' is not s3://BUCKET/PREFIX" in err


@pytest.mark.parametrize("flag", [["--endpoint-url", "http://127.0.0.1:1"], ["--invalidate", "E1"], ["--json"]])
def test_upload_flags_without_upload_are_refused(capsys, env, flag):
    code, _, err = egress(capsys, "publish", *env["args"], "--region", "us", *flag)
    assert code == 2 and f"{flag[0]} does not apply to a publish without --upload" in err


def test_exit_codes_of_a_missing_bucket_and_an_unreachable_endpoint(capsys, env, monkeypatch):
    from smtp_egress.jobs import object_store

    monkeypatch.setattr(object_store, "ATTEMPTS", 1)
    args = ["publish", *env["args"], "--region", "us"]
    code, _, err = egress(capsys, *args, "--upload", "s3://missing-bucket-q7/us", "--endpoint-url", env["endpoint"])
    assert code == 2 and "bucket 'missing-bucket-q7' does not exist at endpoint" in err
    code, _, err = upload(capsys, env, endpoint="http://127.0.0.1:9")
    assert code == 3 and "at endpoint http://127.0.0.1:9: the endpoint cannot be reached" in err
    assert "rerun to complete the upload" in err
    for text in (err,):
        assert "Traceback" not in text and SECRET not in text


def test_no_credentials_exit_2(capsys, env, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    code, _, err = upload(capsys, env)
    assert code == 2 and "no AWS credentials found" in err


def test_killed_halfway_the_bucket_serves_a_valid_tree_and_a_rerun_completes(capsys, env, s3_proxy):
    """SIGKILL while the third object of the new tree is being written (the removal of .12 was announced since the
    last upload: the document and both feeds change, the .txt does not): the two objects written before are new,
    the others old, the document valid; a rerun writes the rest; a third run writes nothing."""
    code, _, err = upload(capsys, env)
    assert code == 0, err
    old = objects(env)
    ledger = Ledger(env["db"])
    (removal,) = [c for c in env["plan"].changes() if c.ip == "198.51.100.12"]
    announced = dt.datetime.now(UTC) - dt.timedelta(minutes=5)  # stored to the second, rounded up
    ledger.announce(removal, announced, env["plan"].notice_days, env["plan"].sha256, [])
    ledger.close()
    proxy = s3_proxy()
    proxy.fault = lambda method, path, puts: "stall" if method == "PUT" and puts == 2 else None
    target = f"s3://{env['bucket']}/us"
    argv = ["publish", *env["args"], "--region", "us", "--upload", target, "--endpoint-url", proxy.url]
    process = subprocess.Popen(
        [sys.executable, "-m", "smtp_egress.scripts.cli", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=os.environ.copy(),
    )
    try:
        assert proxy.stalled.wait(60), process.communicate(timeout=5)
        process.send_signal(signal.SIGKILL)
        assert process.wait(10) == -signal.SIGKILL
    finally:
        if process.poll() is None:
            process.kill()
        proxy.release.set()
    now = objects(env)
    changed = {k for k in now if now[k] != old[k]}
    assert set(now) == set(old) and changed == {f"us/{CORE}", f"us/{CORE}/changes.json"}
    doc = parse_published(now[f"us/{CORE}"], "bucket", "us")
    assert [u["ip"] for u in doc.upcoming if u["action"] == "remove"] == ["198.51.100.12"]  # the new document, whole
    assert now[f"us/{CORE}.txt"].decode().splitlines() == [str(ip) for ip in doc.addresses]
    code, out, err = upload(capsys, env)
    assert code == 0, err
    assert [line.split("/us/", 1)[1] for line in out.splitlines() if line.startswith("uploaded")] == [
        f"{CORE}/changes.atom"
    ]
    code, out, err = upload(capsys, env)
    assert code == 0 and "up to date: nothing uploaded" in out
