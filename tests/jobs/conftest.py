"""A region whose gateways change by secondary addresses only (no NAT gateway is replaced), with a ledger, a
maildir outbox and the daily task's parts: the real stack program under the mock engine decides the day's
attachments; :class:`MemoryStack` stands in for the deployed stack (the Pulumi engine is the one part mocked)."""

from __future__ import annotations

import dataclasses
import datetime as dt
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
