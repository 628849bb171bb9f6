"""The daily task's order, day by day, with the real notice job, the real publish step into a folder and the real
stack program deciding the gateways (under the mock engine; only the deployed stack is in memory).

At every step, and across every ``pulumi up`` (before and after attachments both count, since the gateways change
while it runs), every address the gateways hold must be in the published list: additions are published, then
attached; removals detached, then unpublished."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from smtp_egress import errors
from smtp_egress.dates import start_of
from smtp_egress.document import document_path
from smtp_egress.jobs.daily import PublishRequest, run_daily
from smtp_egress.jobs.daily_publish import DirectoryPublisher
from smtp_egress.jobs.deploy import StackGateways
from smtp_egress.jobs.notify import run_notify

from .conftest import ADDED, FIRST, REMOVED, MemoryStack, Region, attached_of, notify_inputs

BASE = "https://us.ips.test"


class Day:
    """One region's daily runs over several days, checking the invariant at every step: ``publisher`` puts the tree
    live where ``published`` (what notify fetches) and :meth:`listed` read it (by default: a folder)."""

    def __init__(self, region: Region, publisher: Any = None, published: str | None = None) -> None:
        self.region = region
        self.stack = MemoryStack(region, FIRST - dt.timedelta(days=1))
        self.stack.watch = self.across_up
        self.events: list[tuple[str, frozenset[str], frozenset[str]]] = []  # (step, listed, attached)
        self.publisher = publisher or DirectoryPublisher(str(region.plan), region.db, region.root, BASE)
        self.published = published or str(region.root / document_path("us"))
        self.publisher(PublishRequest("us", start_of(FIRST), attached_of(self.stack.state)))  # what was live before

    def publish(self, request: PublishRequest) -> Any:
        try:
            return self.publisher(request)
        finally:  # after a failed publish too: whatever went live must keep the promise
            self.check("publish")

    def listed(self) -> frozenset[str]:
        doc = json.loads((self.region.root / document_path("us")).read_bytes())
        return frozenset(doc["ip_addresses"])

    def check(self, step: str) -> None:
        listed, attached = self.listed(), attached_of(self.stack.state)
        self.events.append((step, listed, attached))
        assert attached <= listed, f"after {step}: {sorted(attached - listed)} can send but is not listed"

    def across_up(self, before: frozenset[str], after: frozenset[str]) -> None:
        listed = self.listed()
        self.events.append(("up", listed, before | after))
        assert before | after <= listed, f"during pulumi up: {sorted((before | after) - listed)} is not listed"

    def run(self, day: dt.date):
        self.stack.day = day
        self.events.clear()
        notify = notify_inputs(self.region, day, self.published, BASE)
        gateways = StackGateways(self.region.deploy_inputs(day), self.stack)

        def notified():
            result = run_notify(notify)
            self.check("notify")
            return result

        return run_daily("us", start_of(day), notified, self.publish, gateways)


@pytest.fixture
def days(region) -> Day:
    return Day(region)


def test_an_addition_is_published_then_attached_and_a_removal_detached_then_unpublished(days):
    first = days.run(FIRST)  # both changes announced; nothing moves on the gateways
    assert [s.name for s in first.steps] == ["notify", "publish", "gateways"] and first.exit_code == errors.OK
    assert "2 changes announced" in first.steps[0].message and "no change" in first.steps[2].message
    assert days.stack.ups == []

    before = days.run(dt.date(2026, 12, 9))
    assert [s.name for s in before.steps] == ["notify", "publish", "gateways"] and days.stack.ups == []

    added = days.run(dt.date(2026, 12, 10))
    assert [s.name for s in added.steps] == ["notify", "publish", "gateways", "publish-again"], added.steps
    assert added.exit_code == errors.OK and days.stack.ups == [dt.date(2026, 12, 10)]
    steps = [(step, ADDED in listed, ADDED in attached) for step, listed, attached in days.events]
    assert steps == [
        ("notify", False, False),
        ("publish", True, False),  # listed first...
        ("up", True, True),  # ...then attached
        ("publish", True, True),
    ]
    assert "attach 198.51.100.13" in added.steps[2].message

    removed = days.run(dt.date(2026, 12, 20))
    assert [s.name for s in removed.steps] == ["notify", "publish", "gateways", "publish-again"]
    steps = [(step, REMOVED in listed, REMOVED in attached) for step, listed, attached in days.events]
    assert steps == [
        ("notify", True, True),
        ("publish", True, True),  # today's list, but it still sends: it stays listed...
        ("up", True, True),  # ...while it is detached...
        ("publish", False, False),  # ...and only then leaves the list
    ]
    assert "detach 198.51.100.12" in removed.steps[2].message

    after = days.run(dt.date(2026, 12, 21))
    assert [s.name for s in after.steps] == ["notify", "publish", "gateways"] and after.exit_code == errors.OK
    assert days.stack.ups == [dt.date(2026, 12, 10), dt.date(2026, 12, 20)]
    assert days.listed() == {"198.51.100.10", "198.51.100.11", ADDED}


def test_a_failed_up_on_a_removal_day_keeps_the_address_listed(days):
    days.run(FIRST)
    days.run(dt.date(2026, 12, 10))

    from smtp_egress.jobs.deploy import DeployFailed

    def broken_up(targets):
        raise DeployFailed("pulumi up of stack 'us' failed: AccessDenied (ec2:DisassociateNatGatewayAddress)")

    days.stack.up = broken_up
    result = days.run(dt.date(2026, 12, 20))
    assert [s.name for s in result.steps] == ["notify", "publish", "gateways"] and result.stopped == "gateways"
    assert result.exit_code == errors.DRIFT and "AccessDenied" in result.steps[-1].message
    assert REMOVED in days.listed() and REMOVED in attached_of(days.stack.state)


def test_a_notify_that_raises_stops_the_day_before_anything_moves(days):
    def bad() -> Any:
        raise errors.ConfigError("notice channel 'email': --smtp-url is not a URL")

    published = days.listed()
    result = run_daily(
        "us",
        start_of(dt.date(2026, 12, 10)),
        bad,
        days.publish,
        StackGateways(days.region.deploy_inputs(dt.date(2026, 12, 10)), days.stack),
    )
    assert [s.name for s in result.steps] == ["notify"] and result.exit_code == errors.USAGE
    assert days.listed() == published and days.stack.ups == []


def test_a_stack_that_cannot_be_read_publishes_nothing(days):
    from smtp_egress.jobs.deploy import UnknownDeployment

    days.run(FIRST)
    published = (days.region.root / document_path("us")).read_bytes()

    def unreadable():
        raise UnknownDeployment("stack us has no 'egress_addresses' output to compare with")

    days.stack.outputs = unreadable
    result = days.run(dt.date(2026, 12, 10))
    assert [s.name for s in result.steps] == ["notify", "gateways"] and result.stopped == "gateways"
    assert result.exit_code == errors.USAGE and "egress_addresses" in result.steps[-1].message
    assert (days.region.root / document_path("us")).read_bytes() == published  # the addition is not listed yet
