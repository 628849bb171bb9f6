"""``egress worker report-unhealthy`` against moto's standalone server (an auto-scaling group with one instance)
and a real loopback HTTP server standing in for the instance metadata service (IMDSv2: a PUT for a token, then a
GET with it), reached through AWS_EC2_METADATA_SERVICE_ENDPOINT as boto reaches it. Clear errors, no traceback,
when IMDS or the call fails."""

from __future__ import annotations

import http.server
import json
import threading
import uuid
from collections.abc import Iterator

import boto3
import pytest

from smtp_egress.scripts.cli import main

from ..conftest import free_port

TOKEN = "imds-token-" + uuid.uuid4().hex


class Imds:
    def __init__(self) -> None:
        self.instance_id = "i-0000000000000000"
        self.refuse_token = False
        self.requests: list[tuple[str, str, str | None]] = []  # (method, path, the token header)
        imds = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_PUT(self) -> None:
                imds.requests.append(("PUT", self.path, self.headers.get("X-aws-ec2-metadata-token-ttl-seconds")))
                if self.path != "/latest/api/token" or imds.refuse_token:
                    self.answer(403, b"Forbidden")
                else:
                    self.answer(200, TOKEN.encode())

            def do_GET(self) -> None:
                token = self.headers.get("X-aws-ec2-metadata-token")
                imds.requests.append(("GET", self.path, token))
                if token != TOKEN:
                    self.answer(401, b"Unauthorized")
                elif self.path != "/latest/meta-data/instance-id":
                    self.answer(404, b"Not Found")
                else:
                    self.answer(200, imds.instance_id.encode())

            def answer(self, code: int, body: bytes) -> None:
                self.send_response(code)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def imds(aws_env, monkeypatch) -> Iterator[Imds]:
    server = Imds()
    monkeypatch.delenv("AWS_EC2_METADATA_DISABLED")
    monkeypatch.delenv("EGRESS_REGION", raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", server.url)
    yield server
    server.close()


@pytest.fixture
def group(moto_server, aws_env) -> tuple[str, str]:
    """(the group's name, its instance's ID) in moto."""
    name = f"workers-{uuid.uuid4().hex[:8]}"
    ec2 = boto3.client("ec2", endpoint_url=moto_server.url)
    template = ec2.create_launch_template(
        LaunchTemplateName=name, LaunchTemplateData={"ImageId": "ami-12c6146b", "InstanceType": "t3.micro"}
    )["LaunchTemplate"]["LaunchTemplateId"]
    asg = boto3.client("autoscaling", endpoint_url=moto_server.url)
    asg.create_auto_scaling_group(
        AutoScalingGroupName=name, MinSize=1, MaxSize=1, DesiredCapacity=1, AvailabilityZones=["us-east-1a"],
        LaunchTemplate={"LaunchTemplateId": template, "Version": "$Latest"}, HealthCheckType="EC2",
        HealthCheckGracePeriod=180,
    )  # fmt: skip
    (instance,) = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]["Instances"]
    return name, instance["InstanceId"]


def health(moto_url: str, instance: str) -> str:
    asg = boto3.client("autoscaling", endpoint_url=moto_url)
    return asg.describe_auto_scaling_instances(InstanceIds=[instance])["AutoScalingInstances"][0][
        "HealthStatus"
    ].upper()  # AWS: upper case; moto: as set


def test_the_instance_marks_itself_unhealthy_in_its_group(imds, group, moto_server, capsys):
    name, instance = group
    imds.instance_id = instance
    assert health(moto_server.url, instance) == "HEALTHY"
    assert main(["worker", "report-unhealthy", "--endpoint-url", moto_server.url, "--json"]) == 0
    said = json.loads(capsys.readouterr().out)
    assert said == {"instance_id": instance, "group": name, "health_status": "UNHEALTHY", "accepted": True}
    assert health(moto_server.url, instance) == "UNHEALTHY"
    # IMDSv2: a token first (with its TTL), then the instance ID with that token
    assert imds.requests == [("PUT", "/latest/api/token", "60"), ("GET", "/latest/meta-data/instance-id", TOKEN)]


def test_the_text_report_names_the_instance_and_the_group(imds, group, moto_server, capsys):
    name, imds.instance_id = group
    assert main(["worker", "report-unhealthy", "--endpoint-url", moto_server.url]) == 0
    assert capsys.readouterr().out == f"instance {imds.instance_id} marked Unhealthy in {name}: the group replaces it\n"


def test_imds_refusing_a_token_is_a_clear_error(imds, moto_server, capsys):
    imds.refuse_token = True
    assert main(["worker", "report-unhealthy", "--endpoint-url", moto_server.url]) == 2
    err = capsys.readouterr().err
    assert f"the instance metadata service {imds.url} refused a session token (PUT /latest/api/token): HTTP 403" in err
    assert "as root or the worker's user" in err and "Traceback" not in err


def test_imds_out_of_reach_is_a_clear_error(aws_env, monkeypatch, moto_server, capsys):
    monkeypatch.delenv("AWS_EC2_METADATA_DISABLED")
    monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", f"http://127.0.0.1:{free_port()}")
    assert main(["worker", "report-unhealthy", "--endpoint-url", moto_server.url]) == 2
    err = capsys.readouterr().err
    assert "did not give a session token" in err and "Connection refused" in err and "Traceback" not in err


def test_imds_disabled_is_said(aws_env, capsys):
    assert main(["worker", "report-unhealthy"]) == 2
    assert "is disabled (AWS_EC2_METADATA_DISABLED=true)" in capsys.readouterr().err


def test_an_instance_in_no_group_or_a_failed_call_is_a_clear_error(imds, group, moto_server, capsys):
    imds.instance_id = "i-0123456789abcdef0"  # unknown to the group (and to EC2)
    assert main(["worker", "report-unhealthy", "--endpoint-url", moto_server.url]) == 2
    err = capsys.readouterr().err
    assert "marking instance i-0123456789abcdef0 unhealthy in its auto-scaling group failed" in err
    assert "autoscaling:SetInstanceHealth" in err and "Traceback" not in err


def test_an_answer_that_is_not_an_instance_id_is_refused(imds, moto_server, capsys):
    imds.instance_id = "<html>captive portal</html>"
    assert main(["worker", "report-unhealthy", "--endpoint-url", moto_server.url]) == 2
    assert "answered '<html>captive portal</html>', not an instance ID" in capsys.readouterr().err


@pytest.mark.parametrize("flags", [["--endpoint-url", "ftp://x"], ["--region", "a\nb"]])
def test_malformed_flags_are_refused_naming_them(imds, group, flags, capsys):
    imds.instance_id = group[1]
    assert main(["worker", "report-unhealthy", *flags]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and ("--endpoint-url" in err or "region" in err)
