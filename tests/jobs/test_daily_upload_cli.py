"""``egress daily --upload`` through the command line, as the Fargate task runs it: the real clock (a date option
is refused with --upload), a real ledger, moto's server for S3, CloudFront and CloudWatch, the stand-in ``pulumi``
(conftest.py: the Pulumi CLI cannot be installed here). The plan's addition takes effect today, whatever day the
test runs; it was announced eight days ago.

Also the heartbeat: recorded (``job="daily"``) only when the whole run succeeded, never after a run that
notified and then failed to publish or to move the gateways."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any

import pytest

from smtp_egress.dates import start_of, utc_now
from smtp_egress.jobs.daily import PublishRequest
from smtp_egress.jobs.daily_upload import S3Publisher
from smtp_egress.jobs.deploy import synthesized_outputs
from smtp_egress.jobs.publish_upload import CORE, UploadTarget
from smtp_egress.ledger import Ledger
from smtp_egress.plan import load_plan
from smtp_egress.scripts.cli import main

from .conftest import ADDED, Region, attached_of

BASE = "https://us.ips.test"


@dataclasses.dataclass
class Task:
    region: Region
    bucket: str
    distribution: str
    moto: Any
    state: Any  # the stand-in's folder
    project: Any
    calls: Any

    def argv(self, endpoint: str | None = None, *extra: str) -> list[str]:
        published = f"{self.moto.url}/{self.bucket}/us/{CORE}"
        target = ["--upload", f"s3://{self.bucket}/us", "--endpoint-url", endpoint or self.moto.url]
        where = ["--published", published, *target, "--invalidate", self.distribution, "--base-url", BASE]
        ledger = ["--project-dir", str(self.project), "--plan", str(self.region.plan), "--db", self.region.db]
        return [
            "daily",
            "--region",
            "us",
            "--stack",
            "us",
            *where,
            *ledger,
            "--outbox",
            str(self.region.outbox),
            *extra,
        ]

    def listed(self) -> list[str]:
        body = self.moto.client("s3").get_object(Bucket=self.bucket, Key=f"us/{CORE}")["Body"].read()
        return list(json.loads(body)["ip_addresses"])

    def beats(self) -> list[Any]:
        ledger = Ledger(self.region.db)
        try:
            return [b for b in [ledger.last_heartbeat("us")] if b is not None]
        finally:
            ledger.close()

    def ups(self) -> int:
        return sum(1 for c in self.calls() if "up" in c["args"])


@pytest.fixture
def task(tmp_path, standin, moto_server, aws_env, monkeypatch) -> Task:
    for var in ("EGRESS_DB", "EGRESS_BASE_URL", "EGRESS_SMTP_URL", "EGRESS_FROM", "EGRESS_SIGNING_KEY"):
        monkeypatch.delenv(var, raising=False)
    for var in ("EGRESS_HEARTBEAT_NAMESPACE", "EGRESS_CLOUDWATCH_ENDPOINT_URL"):
        monkeypatch.delenv(var, raising=False)
    state, project, calls = standin
    today = utc_now().date()
    plan_path = tmp_path / "plan.yaml"
    plan_path.write_text(
        "notice_days: 7\nregions:\n  us:\n    - ip: 198.51.100.10\n    - ip: 198.51.100.11\n    - ip: 198.51.100.12\n"
        f"    - ip: {ADDED}\n      active_from: {today.isoformat()}\n"
    )
    db = f"sqlite:///{tmp_path}/ledger.db"
    plan = load_plan(plan_path)
    ledger = Ledger(db, create=True)
    (addition,) = plan.changes()
    ledger.announce(addition, start_of(today - dt.timedelta(days=8)), plan.notice_days, plan.sha256, [])
    ledger.close()
    region = Region(plan_path, db, tmp_path / "outbox", tmp_path / "unused")
    bucket = moto_server.readable_bucket()
    distribution = moto_server.distribution(bucket, "/us")
    yesterday = today - dt.timedelta(days=1)
    deployed = synthesized_outputs(region.deploy_inputs(yesterday))
    (state / "outputs.json").write_text(json.dumps(deployed))
    (state / "after-up.json").write_text(json.dumps(synthesized_outputs(region.deploy_inputs(today))))
    live = S3Publisher(str(plan_path), db, UploadTarget(bucket, "us", moto_server.url, distribution), BASE)
    live(PublishRequest("us", start_of(yesterday), attached_of(deployed)))  # yesterday's list is live
    return Task(region, bucket, distribution, moto_server, state, project, calls)


def run(task: Task, capsys, *argv: str) -> tuple[int, dict]:
    code = main([*argv, "--json"])
    out, err = capsys.readouterr()
    return code, json.loads(out) if out.strip() else {"err": err}


def test_the_task_uploads_then_attaches_and_records_its_heartbeat(task, capsys):
    assert ADDED not in task.listed()
    namespace = ["--heartbeat-namespace", "SmtpEgressTest", "--cloudwatch-endpoint-url", task.moto.url]
    code, result = run(task, capsys, *task.argv(None, *namespace))
    assert code == 0, result
    assert [s["step"] for s in result["steps"]] == ["notify", "publish", "gateways", "publish-again", "heartbeat"]
    assert f"listed at s3://{task.bucket}/us" in result["steps"][1]["message"]
    assert ADDED in task.listed() and task.ups() == 1
    assert result["heartbeat"]["job"] == "daily" and result["heartbeat"]["metric"] == "put", result["heartbeat"]
    (beat,) = task.beats()
    assert beat.job == "daily"
    metrics = task.moto.client("cloudwatch").list_metrics(Namespace="SmtpEgressTest")["Metrics"]
    assert [m["MetricName"] for m in metrics] == ["DailyRunSucceeded"]
    invalidations = task.moto.client("cloudfront").list_invalidations(DistributionId=task.distribution)
    assert invalidations["InvalidationList"]["Quantity"] >= 2  # yesterday's upload, and today's

    code, again = run(task, capsys, *task.argv())  # the same day again: nothing to change, a second heartbeat
    assert code == 0 and [s["step"] for s in again["steps"]] == ["notify", "publish", "gateways", "heartbeat"]
    assert task.ups() == 1


def test_a_denied_upload_stops_before_the_gateways_and_records_no_heartbeat(task, capsys, s3_proxy):
    proxy = s3_proxy()
    proxy.fault = lambda method, path, puts: 403 if method == "PUT" else None
    code, result = run(task, capsys, *task.argv(proxy.url))
    assert code == 2, result  # README: access denied is a configuration error
    assert [s["step"] for s in result["steps"]] == ["notify", "publish"] and result["stopped"] == "publish"
    assert "access denied" in result["steps"][-1]["message"] and result["heartbeat"] is None
    assert task.ups() == 0 and ADDED not in task.listed() and task.beats() == []


def test_a_failing_endpoint_exits_3_and_a_failed_up_exits_5_neither_counts_as_a_successful_run(task, capsys, s3_proxy):
    proxy = s3_proxy()
    proxy.fault = lambda method, path, puts: 503 if method == "PUT" else None
    code, result = run(task, capsys, *task.argv(proxy.url))
    assert code == 3 and result["stopped"] == "publish" and task.ups() == 0 and task.beats() == []

    (task.state / "fail-up").write_text("")
    code, result = run(task, capsys, *task.argv())
    assert code == 5 and result["stopped"] == "gateways", result
    assert ADDED in task.listed() and task.beats() == []  # listed, not attached: safe, and the alarm keeps counting


def test_upload_flags_are_checked_before_anything_runs(task, capsys, monkeypatch):
    cases = {
        ("--at", "2026-12-01"): "--at does not apply to --upload",
        ("--publish-dir", "x"): "not allowed with argument --upload",
        ("--invalidate", "E2Q/../x"): "is not a CloudFront distribution ID",
    }
    for extra, message in cases.items():
        argv = task.argv()
        if extra[0] in argv:
            argv[argv.index(extra[0]) + 1] = extra[1]
        else:
            argv += list(extra)
        with pytest.raises(SystemExit) if extra[0] == "--publish-dir" else _nothing():
            assert main(argv) == 2
        assert message in capsys.readouterr().err
    assert task.ups() == 0 and task.beats() == [] and task.calls() == []


def test_a_simulation_ledger_is_refused_before_notify_records_in_it(task, capsys, tmp_path):
    sim = f"sqlite:///{tmp_path}/sim.db"
    Ledger(sim, create=True, simulation=True).close()
    argv = task.argv()
    argv[argv.index("--db") + 1] = sim
    assert main(argv) == 2
    assert "the ledger is a simulation; its documents are never uploaded" in capsys.readouterr().err
    ledger = Ledger(sim)
    try:
        assert ledger.announcements() == {} and ledger.last_heartbeat("us") is None
    finally:
        ledger.close()
    assert task.calls() == []


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def test_malformed_upload_flags_exit_2_naming_them(task, capsys):
    """As test_daily_cli.py does for the other flags: never a traceback, a refusal names the flag, nothing runs."""
    from .test_daily_cli import MALFORMED, exit_of

    wrong = []
    for flag in ("--upload", "--endpoint-url", "--invalidate"):
        for value in MALFORMED:
            argv = task.argv()
            argv[argv.index(flag) + 1] = value
            code = exit_of(argv)
            err = capsys.readouterr().err
            if code != 2 or flag not in err:
                wrong.append(f"{flag} {value[:20]!r}: exit {code!r}: {err.strip()[-200:]!r}")
    assert not wrong, "\n".join(wrong)
    assert task.ups() == 0 and task.beats() == []
