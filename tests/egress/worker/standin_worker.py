"""TEST-ONLY worker process: ``python standin_worker.py CONFIG.json``. Runs the real loop (run_worker) with the
stand-in deliverer and in-memory servers from CONFIG, and, when CONFIG names a ``fault`` point, stops dead at it
(writes the ``marker`` file, then sleeps) so the test can kill -9 the process exactly there:

  after-accept     the server accepted a message; its archive entry is not written yet
  during-archive   the entry's .json is written, its .eml not yet
  before-record    the batch's entries are archived, its outcomes not recorded
  before-ack       the outcomes are recorded, the queue not acknowledged
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import importlib.util
import json
import sys
import time
from pathlib import Path

from smtp_egress.jobs import worker as jobs_worker
from smtp_egress.smtp.model import Secret, SmtpServer
from smtp_egress.worker import archive, loop
from smtp_egress.worker.backoff import RetryPolicy
from smtp_egress.worker.ports import StaticServers


def standin_deliverer() -> type:
    """The stand-in deliverer class, from the file beside this one (this script runs by path, not as a package)."""
    spec = importlib.util.spec_from_file_location("standin_deliverer", Path(__file__).parent / "standin_deliverer.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.StandInDeliverer


def stop_dead(marker: str) -> None:
    Path(marker).write_text(str(time.time()))
    while True:
        time.sleep(1)


def arm(fault: str, marker: str, after: int) -> None:
    """Stop dead at ``fault`` the ``after``-th time it is reached."""
    seen = {"n": 0}

    def due() -> bool:
        seen["n"] += 1
        return seen["n"] == after

    if fault == "after-accept":
        original_put = archive.LocalArchive.put

        def put(self, key, entry):
            if due():
                stop_dead(marker)
            return original_put(self, key, entry)

        archive.LocalArchive.put = put
    elif fault == "during-archive":
        original_write = archive._atomic_write

        def write(path, data):
            if str(path).endswith(".eml") and due():
                stop_dead(marker)
            original_write(path, data)

        archive._atomic_write = write
    elif fault == "before-record":
        original_record = loop.record

        def record(*args):
            if due():
                stop_dead(marker)
            original_record(*args)

        loop.record = record
    elif fault == "before-ack":
        original_done = loop.Worker._conclude

        async def conclude(self, results, returned):
            original = self.queue.done

            def done(leases):
                if due():
                    stop_dead(marker)
                original(leases)

            self.queue.done = done
            try:
                await original_done(self, results, returned)
            finally:
                self.queue.done = original

        loop.Worker._conclude = conclude


def main(path: str) -> int:
    c = json.loads(Path(path).read_text())
    if c.get("fault"):
        arm(c["fault"], c["marker"], c.get("after", 1))
    server = SmtpServer(
        workspace_id="ws1", server_id="main", host="127.0.0.1", port=c["port"], security="starttls",
        username=c["user"], password=Secret(c["password"]), default=True,
    )  # fmt: skip
    settings = loop.WorkerSettings(
        batch=c.get("batch", 5), lease_seconds=c.get("lease", 2.0), wait_seconds=0.2,
        shutdown_grace=c.get("grace", 5.0), policy=RetryPolicy(0.05, 0.2, max_age=dt.timedelta(hours=1)),
    )  # fmt: skip
    config = jobs_worker.WorkerConfig(c["db"], c["queue"], c["archive"], health=c.get("health"), settings=settings)
    deliverer = standin_deliverer()(ca_file=c["cafile"])
    tally = asyncio.run(
        jobs_worker.run_worker(
            config,
            deliverer=deliverer,
            servers=StaticServers({"ws1": [server]}),
            once=c.get("once", True),
            retry_seconds=c.get("retry_seconds"),
        )
    )
    print(json.dumps({k: v for k, v in dataclasses.asdict(tally).items() if k != "left"}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
