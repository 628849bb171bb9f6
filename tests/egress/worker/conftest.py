"""The worker's test kit: a ledger, a queue file, an archive folder, servers of a workspace pointing at real
aiosmtpd + trustme servers, and a run of the real loop with the test-only stand-in deliverer."""

from __future__ import annotations

import asyncio
import datetime as dt
import email.message
import importlib.util
import json
import sys
import uuid
from pathlib import Path

import boto3
import pytest

from smtp_egress.ledger import Ledger
from smtp_egress.smtp.model import Secret, SmtpServer
from smtp_egress.worker.backoff import RetryPolicy
from smtp_egress.worker.loop import WorkerSettings

from ...conftest import PASSWORD, USER

HERE = Path(__file__).parent


def standin_module():
    """tests/egress/worker/standin_deliverer.py, also importable by a worker process started by path."""
    name = "standin_deliverer"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, HERE / "standin_deliverer.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def message(subject: str = "Hello", body: str = "Hi there.\n", headers: dict | None = None) -> bytes:
    msg = email.message.EmailMessage()
    msg["From"] = "news@customer.example"
    msg["To"] = "someone@example.net"
    msg["Subject"] = subject
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body)
    return msg.as_bytes()


def server_for(port: int, security: str = "starttls", **kw) -> SmtpServer:
    return SmtpServer(
        workspace_id=kw.pop("workspace_id", "ws1"), server_id=kw.pop("server_id", "main"), host="127.0.0.1",
        port=port, security=security, username=USER, password=Secret(PASSWORD), default=kw.pop("default", True), **kw,
    )  # fmt: skip


FAST = WorkerSettings(
    batch=50,
    lease_seconds=30,
    wait_seconds=0.2,
    shutdown_grace=5,
    policy=RetryPolicy(0.05, 0.2, max_age=dt.timedelta(seconds=1)),
)


@pytest.fixture
def place(tmp_path):
    """A fresh ledger (created), and where the queue and the archive go."""

    class Place:
        db = f"sqlite:///{tmp_path}/ledger.db"
        queue = str(tmp_path / "queue.db")
        archive = tmp_path / "archive"

    Ledger(Place.db, create=True).close()
    return Place


def run_async(coro):
    """``asyncio.run`` without leaving the main thread marked as having no event loop (asyncio.run ends with
    set_event_loop(None), after which the Pulumi tests' get_event_loop() fails)."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()


def run_once(config, servers, cafile, **kw):
    from smtp_egress.jobs.worker import run_worker

    deliverer = standin_module().StandInDeliverer(ca_file=cafile)
    return run_async(run_worker(config, deliverer=deliverer, servers=servers, once=True, **kw))


def archived(root: Path) -> list[Path]:
    return sorted(root.rglob("*.eml"))


def aware_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@pytest.fixture
def sqs(moto_server, aws_env):
    client = boto3.client("sqs", endpoint_url=moto_server.url)
    name = f"jobs-{uuid.uuid4().hex[:8]}"
    dlq = client.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    dlq_arn = client.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    policy = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "50"})
    url = client.create_queue(QueueName=name, Attributes={"RedrivePolicy": policy})["QueueUrl"]
    return client, url, dlq


@pytest.fixture
def bucket(moto_server, aws_env):
    name = f"archive-{uuid.uuid4().hex[:8]}"
    boto3.client("s3", endpoint_url=moto_server.url).create_bucket(Bucket=name)
    return name
