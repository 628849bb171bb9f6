"""The heartbeat of a successful ``egress notify`` run: a row in a real ledger and a CloudWatch data point put to
moto's standalone server (real CloudWatch API over HTTP on loopback). A failed or dry run records none; a
CloudWatch that cannot be reached leaves the run's verdict (exit 0) as it was, and says so."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from smtp_egress.dates import utc_now
from smtp_egress.heartbeats import DIMENSION, METRIC_NAME
from smtp_egress.ledger import Ledger
from smtp_egress.scripts.cli import main

from ..conftest import free_port

PLAN = """\
regions:
  us:
    - ip: 198.51.100.10
  eu:
    - ip: 203.0.113.20
"""


@pytest.fixture
def project(tmp_path, monkeypatch, aws_env, capsys):
    """A real ledger (not a simulation: the run takes the real time) with one workspace, and the published
    document of today, as egress publish renders it."""
    monkeypatch.chdir(tmp_path)
    for var in ("EGRESS_SMTP_URL", "EGRESS_DB", "EGRESS_HEARTBEAT_NAMESPACE", "EGRESS_CLOUDWATCH_ENDPOINT_URL"):
        monkeypatch.delenv(var, raising=False)
    (tmp_path / "plan.yaml").write_text(PLAN)
    (tmp_path / "ws.csv").write_text("workspace_id,region,email\nws-1,us,ops@one.example\n")
    common = ["--plan", str(tmp_path / "plan.yaml"), "--db", f"sqlite:///{tmp_path}/ledger.db"]
    assert main(["ledger", "init", *common]) == 0
    assert main(["workspaces", "import", str(tmp_path / "ws.csv"), *common]) == 0
    assert main(["publish", "--region", "us", "--out", str(tmp_path / "us.json"), *common]) == 0
    capsys.readouterr()

    def notify(*extra: str, published: str = str(tmp_path / "us.json")) -> int:
        argv = ["notify", "--region", "us", "--published", published, "--outbox", str(tmp_path / "outbox")]
        return main([*argv, *extra, *common])

    notify.db = common[3]
    return notify


def last_beat(db: str):
    ledger = Ledger(db)
    try:
        return ledger.last_heartbeat("us")
    finally:
        ledger.close()


def data_points(moto_server, namespace: str) -> list[dict]:
    cw = moto_server.client("cloudwatch")
    now = utc_now()
    got = cw.get_metric_statistics(
        Namespace=namespace,
        MetricName=METRIC_NAME,
        Dimensions=[{"Name": DIMENSION, "Value": "us"}],
        StartTime=now - dt.timedelta(hours=1),
        EndTime=now + dt.timedelta(minutes=5),
        Period=3600,
        Statistics=["Sum"],
    )
    return got["Datapoints"]


def test_a_successful_run_records_its_heartbeat_and_puts_the_metric(project, moto_server, capsys):
    before = utc_now()
    namespace = "SmtpEgress/test-success"
    code = project("--heartbeat-namespace", namespace, "--cloudwatch-endpoint-url", moto_server.url, "--json")
    out, err = capsys.readouterr()
    assert code == 0, out + err
    beat = last_beat(project.db)
    assert (
        beat is not None and beat.job == "notify" and before - dt.timedelta(seconds=1) <= beat.finished_at <= utc_now()
    )
    summary = json.loads(out)
    assert summary["heartbeat"] == {
        "finished_at": summary["heartbeat"]["finished_at"],
        "metric": "put",
        "namespace": namespace,
        "metric_error": None,
    }
    assert [p["Sum"] for p in data_points(moto_server, namespace)] == [1.0]


def test_an_unreachable_cloudwatch_leaves_the_verdict_and_says_so(project, capsys):
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    code = project("--heartbeat-namespace", "SmtpEgress", "--cloudwatch-endpoint-url", closed)
    out, err = capsys.readouterr()
    assert code == 0, out + err
    assert "heartbeat: in the ledger at " in out
    assert (
        f"WARNING: the heartbeat metric was not put in CloudWatch namespace 'SmtpEgress': CloudWatch at {closed} "
        in err
    )
    assert "could not be reached" in err and "the silence alarm fires unless a later run puts the metric" in err
    assert last_beat(project.db) is not None  # the ledger has it: egress status knows the run succeeded


def test_a_failed_run_records_no_heartbeat_and_puts_no_metric(project, moto_server, tmp_path, capsys):
    (tmp_path / "broken.json").write_text("<html>502 Bad Gateway</html>")
    namespace = "SmtpEgress/test-failed"
    code = project(
        "--heartbeat-namespace",
        namespace,
        "--cloudwatch-endpoint-url",
        moto_server.url,
        published=str(tmp_path / "broken.json"),
    )
    assert code == 3
    assert last_beat(project.db) is None and data_points(moto_server, namespace) == []
    assert "heartbeat" not in capsys.readouterr().out


@pytest.mark.parametrize(
    "extra, env, needle",
    [
        (["--heartbeat-namespace", "AWS/EC2"], {}, "--heartbeat-namespace 'AWS/EC2' is not a CloudWatch namespace"),
        (
            [],
            {"EGRESS_HEARTBEAT_NAMESPACE": "bad\nname"},
            "EGRESS_HEARTBEAT_NAMESPACE 'bad\\nname' is not a CloudWatch",
        ),
        (["--cloudwatch-endpoint-url", "http://127.0.0.1:1"], {}, "--cloudwatch-endpoint-url is set but no heartbeat"),
        (["--heartbeat-namespace", "SmtpEgress", "--dry-run"], {}, "--heartbeat-namespace does not apply to a dry run"),
        (
            ["--heartbeat-namespace", "SmtpEgress", "--cloudwatch-endpoint-url", "ftp://x"],
            {},
            "--cloudwatch-endpoint-url 'ftp://x' is not an http(s) URL",
        ),
    ],
)
def test_heartbeat_settings_that_cannot_work_are_refused_before_the_run(
    project, monkeypatch, capsys, extra, env, needle
):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert project(*extra) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err, err
    assert last_beat(project.db) is None


def test_a_dry_run_records_no_heartbeat(project, capsys):
    assert project("--dry-run") == 0
    assert last_beat(project.db) is None
