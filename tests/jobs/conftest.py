"""A region whose gateways change by secondary addresses only (no NAT gateway is replaced), with a ledger, a
maildir outbox and the daily task's parts: the real stack program under the mock engine decides the day's
attachments; :class:`MemoryStack` stands in for the deployed stack (the Pulumi engine is the one part mocked)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import stat
import sys
from pathlib import Path
from typing import Any

import pytest

from smtp_egress.dates import start_of
from smtp_egress.jobs.deploy import ADDRESSES, DeployInputs, UpSummary, synthesized_outputs
from smtp_egress.ledger import Ledger, Workspace

# us-east-1a: .10 (live), .13 (added 2026-12-10, a secondary); us-east-1b: .11 (live), .12 (a secondary,
# retired 2026-12-20): see smtp_egress.components.netplan.home_zone. Neither change moves a primary.
PLAN = """\
notice_days: 7
regions:
  us:
    - ip: 198.51.100.10
    - ip: 198.51.100.11
    - ip: 198.51.100.12
      retire_on: 2026-12-20
    - ip: 198.51.100.13
      active_from: 2026-12-10
"""
ADDED, REMOVED = "198.51.100.13", "198.51.100.12"
FIRST = dt.date(2026, 11, 26)


@dataclasses.dataclass
class Region:
    plan: Path
    db: str
    outbox: Path
    root: Path  # the publish folder

    def deploy_inputs(self, day: dt.date, **change: Any) -> DeployInputs:
        return DeployInputs(stack="us", plan_path=self.plan, ledger_url=self.db, today=day, **change)


@pytest.fixture
def region(tmp_path) -> Region:
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN)
    db = f"sqlite:///{tmp_path}/ledger.db"
    ledger = Ledger(db, create=True, simulation=True)
    ledger.upsert_workspaces([Workspace("ws-1", "us", {"email": "ops@one.example"})], start_of(FIRST))
    ledger.close()
    return Region(plan, db, tmp_path / "outbox", tmp_path / "www")


class MemoryStack:
    """The deployed stack, in memory: ``up`` makes its outputs what the program exports that day (synthesized).
    ``watch`` is called with (attached before, attached after) just before an up changes the gateways."""

    def __init__(self, region: Region, deployed_on: dt.date) -> None:
        self.region = region
        self.day = deployed_on
        self.state = synthesized_outputs(region.deploy_inputs(deployed_on))
        self.ups: list[dt.date] = []
        self.watch = lambda before, after: None

    def outputs(self) -> dict[str, Any]:
        return self.state

    def up(self, targets) -> UpSummary:
        assert targets and all("aws:ec2/natGateway:NatGateway::us-nat-" in t for t in targets), targets
        new = synthesized_outputs(self.region.deploy_inputs(self.day))
        self.watch(attached_of(self.state), attached_of(new))
        self.state = new
        self.ups.append(self.day)
        return UpSummary("succeeded", {"update": 1})


def notify_inputs(region: Region, day: dt.date, published: str, base_url: str) -> Any:
    """The daily task's notify step on ``day``, delivering by Maildir into the region's outbox."""
    from smtp_egress.jobs.notices import NoticeSettings
    from smtp_egress.jobs.notify import NotifyInputs
    from smtp_egress.notices.channels import CHANNELS

    email = CHANNELS["email"].settings({"outbox": str(region.outbox)})
    return NotifyInputs(
        region="us",
        published=published,
        plan_path=str(region.plan),
        db_url=region.db,
        moment=start_of(day),
        notices=NoticeSettings(base_url=base_url, channels={"email": email}),
        publish_follows=True,
    )


def attached_of(outputs: dict[str, Any]) -> frozenset[str]:
    return frozenset(ip for ip, a in outputs[ADDRESSES].items() if a["attached"])


# --- The Automation API against a stand-in CLI ----------------------------------------------------------------
# The Pulumi CLI cannot be installed on these machines (no download outside the package registries), so this
# stand-in answers for it: a small executable named `pulumi`, first on PATH, that records every call (arguments,
# EGRESS_DB) and prints what the real CLI prints for the commands pulumi.automation runs: `pulumi version`,
# `stack select`, `stack output --json` (masked and --show-secrets), `up --yes --skip-preview ...` and
# `stack history --json`. `up` makes the stack's outputs the ones the test gave as the program's.
STANDIN = r"""#!{python}
import json, os, sys
state = os.environ["STANDIN_STATE"]
args = sys.argv[1:]
with open(os.path.join(state, "calls.jsonl"), "a") as f:
    f.write(json.dumps({{"args": args, "EGRESS_DB": os.environ.get("EGRESS_DB"), "cwd": os.getcwd()}}) + "\n")
words = [a for a in args if a != "--non-interactive"]
def read(name):
    with open(os.path.join(state, name)) as f:
        return f.read()
if words == ["version"]:
    print("v{version}")
elif words[:2] == ["stack", "select"]:
    if words[words.index("--stack") + 1] != "us":
        sys.stderr.write("error: no stack named 'eu' found\n"); sys.exit(255)
elif words[:2] == ["stack", "output"]:
    print(read("outputs.json"))
elif words[:2] == ["stack", "history"]:
    print(json.dumps([{{"kind": "update", "startTime": "2026-12-10T06:00:01.000000Z", "message": "", "environment":
        {{}}, "config": {{}}, "result": "succeeded", "endTime": "2026-12-10T06:02:13.000000Z", "version": 42,
        "resourceChanges": {{"same": 88, "update": 1}}}}]))
elif words[0] == "up":
    pack = words[words.index("--policy-pack") + 1]  # kept: the pack is a temporary copy, gone after the run
    with open(os.path.join(pack, "PulumiPolicy.yaml")) as src, open(os.path.join(state, "policy-pack.yaml"), "w") as f:
        f.write(src.read())
    if os.path.exists(os.path.join(state, "fail-up")):
        sys.stderr.write("error: update failed: AccessDenied: ec2:AssociateNatGatewayAddress\n"); sys.exit(255)
    print("Updating (us)\n    ~  aws:ec2/natGateway:NatGateway us-nat-us-east-1a updated\nResources:\n    ~ 1 updated")
    with open(os.path.join(state, "outputs.json"), "w") as f:
        f.write(read("after-up.json"))
else:
    sys.stderr.write("stand-in: unexpected command %r\n" % args); sys.exit(2)
"""


@pytest.fixture
def standin(tmp_path, monkeypatch):
    from importlib.metadata import version

    bin_dir, state = tmp_path / "bin", tmp_path / "standin"
    bin_dir.mkdir()
    state.mkdir()
    exe = bin_dir / "pulumi"
    exe.write_text(STANDIN.format(python=sys.executable, version=version("pulumi")))
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("STANDIN_STATE", str(state))
    monkeypatch.delenv("EGRESS_DB", raising=False)
    project = tmp_path / "project"
    project.mkdir()
    (project / "Pulumi.yaml").write_text("name: smtp-egress\nruntime: python\nmain: stacks/\n")

    def calls() -> list[dict]:
        log = state / "calls.jsonl"
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    return state, project, calls
