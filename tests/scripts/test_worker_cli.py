"""``egress worker enqueue`` and ``egress worker status`` through the command line: jobs queued as given, every bad
value refused naming its flag (exit 2), the status after a real run (stand-in deliverer, real TLS server)."""

from __future__ import annotations

import json

import pytest

from smtp_egress.jobs.worker import WorkerConfig, run_worker
from smtp_egress.ledger import Ledger
from smtp_egress.scripts.cli import main
from smtp_egress.worker.embedded import EmbeddedQueue
from smtp_egress.worker.job import MAX_MESSAGE_BYTES
from smtp_egress.worker.ports import StaticServers

from ..egress.worker.conftest import FAST, run_async, server_for, standin_module

EML = b"From: news@customer.example\r\nSubject: hi\r\n\r\nHello\r\n"


@pytest.fixture
def here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("EGRESS_QUEUE", "EGRESS_ARCHIVE", "EGRESS_DB", "EGRESS_WORKER_HEALTH", "EGRESS_REGION"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "m.eml").write_bytes(EML)
    return tmp_path


def enqueue(*extra: str) -> list[str]:
    return ["worker", "enqueue", "--workspace", "ws1", "--from", "a@c.example", *extra]


def test_enqueue_puts_the_job_on_the_default_embedded_queue(here, capsys):
    code = main(
        [*enqueue("--to", "r1@x.example", "--to", "r2@x.example", "--campaign-type", "promo"), "m.eml", "--json"]
    )
    assert code == 0
    said = json.loads(capsys.readouterr().out)
    queue = EmbeddedQueue(here / ".egress" / "queue.db")
    (lease,) = queue.receive(10, 30, 0)
    queue.close()
    job = lease.job
    assert job.job_id == said["job_id"]
    assert (job.workspace_id, job.campaign_type, job.sender) == ("ws1", "promo", "a@c.example")
    assert job.recipients == ("r1@x.example", "r2@x.example") and job.message == EML


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (enqueue("--to", "not an address", "m.eml"), "--to: the recipient 'not an address' is not an email address"),
        (enqueue("--to", "r@x.example", "--campaign-type", "a b", "m.eml"), "--campaign-type: the campaign type"),
        (["worker", "enqueue", "--workspace", "", "--from", "a@c.example", "--to", "r@x.example", "m.eml"],
         "--workspace: the workspace '' is not"),
        (enqueue("--to", "r@x.example", "missing.eml"), "cannot read the message 'missing.eml'"),
        (enqueue("--to", "r@x.example", "empty.eml"), "the message is empty"),
        (enqueue("--to", "r@x.example", "big.eml"), f"more than the limit of {MAX_MESSAGE_BYTES}"),
        (enqueue("--to", "r@x.example", "--queue", "ftp://q.example/x", "m.eml"), "--queue: the queue 'ftp://"),
        (enqueue("--to", "r@x.example", "--queue", "https://sqs.[bad", "m.eml"), "--queue 'https://sqs.[bad'"),
        (["worker", "run", "--wait-retries", "5"], "--wait-retries goes with --once"),
        (["worker", "run", "--health", "nowhere"], "--health 'nowhere' is not HOST:PORT"),
    ],
)  # fmt: skip
def test_bad_values_are_refused_naming_where_they_came_from(here, capsys, argv, needle):
    (here / "empty.eml").write_bytes(b"")
    (here / "big.eml").write_bytes(EML + b"x" * MAX_MESSAGE_BYTES)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err
    assert (
        not (here / ".egress" / "queue.db").exists() or not EmbeddedQueue(here / ".egress" / "queue.db").counts().ready
    )


def test_egress_queue_is_read_and_named_when_wrong(here, capsys, monkeypatch):
    monkeypatch.setenv("EGRESS_QUEUE", str(here / "m.eml"))  # a file that is not a queue
    assert main([*enqueue("--to", "r@x.example"), "m.eml"]) == 2
    assert "EGRESS_QUEUE: cannot open the embedded queue" in capsys.readouterr().err


def test_status_after_a_run(here, capsys, smtp_server, cafile):
    server = smtp_server("starttls")
    Ledger(f"sqlite:///{here}/l.db", create=True).close()
    assert main([*enqueue("--to", "r@x.example", "--to", "reject550@x.example"), "m.eml"]) == 0
    config = WorkerConfig(f"sqlite:///{here}/l.db", ".egress/queue.db", ".egress/archive", settings=FAST)
    deliverer = standin_module().StandInDeliverer(ca_file=cafile)
    servers = StaticServers({"ws1": [server_for(server.port)]})
    run_async(run_worker(config, deliverer=deliverer, servers=servers, once=True))
    capsys.readouterr()
    assert main(["worker", "status", "--db", f"sqlite:///{here}/l.db", "--json"]) == 0
    st = json.loads(capsys.readouterr().out)
    assert st["queue"] == {"ready": 0, "in_flight": 0, "delayed": 0, "dead": 1}
    assert st["recipients"] == {"delivered": 1, "deferred": 0, "failed": 1}
    assert "reject550@x.example: 550" in st["dead_letters"][0]["reason"]
    assert main(["worker", "status", "--db", f"sqlite:///{here}/l.db"]) == 0
    out = capsys.readouterr().out
    assert "recipients: 1 delivered, 0 deferred, 1 failed" in out and "dead letter" in out
