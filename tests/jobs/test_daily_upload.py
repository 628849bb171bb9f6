"""The daily task's order with its real publish step, :class:`S3Publisher`, against moto's standalone server (S3 and
CloudFront over HTTP on loopback): the real notice job, which fetches the live document from the bucket, and the
real stack program deciding the gateways (only the deployed stack is in memory: see conftest.py).

The invariant is checked with the objects actually in the bucket, after every step and across every ``pulumi up``:
every address the gateways hold (before and after the up) is in the uploaded document and its ``.txt``. The ledger
is a real one (the upload refuses a simulation); the job takes each day's moment as an argument."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any

import pytest

from smtp_egress import errors
from smtp_egress.dates import start_of
from smtp_egress.jobs.daily_upload import S3Publisher
from smtp_egress.jobs.publish_upload import CORE, UploadTarget
from smtp_egress.ledger import Ledger, Workspace

from .conftest import ADDED, FIRST, PLAN, REMOVED, Region, attached_of
from .test_daily import Day

BASE = "https://us.ips.test"


@pytest.fixture
def real_region(tmp_path) -> Region:
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN)
    db = f"sqlite:///{tmp_path}/ledger.db"
    ledger = Ledger(db, create=True)
    ledger.upsert_workspaces([Workspace("ws-1", "us", {"email": "ops@one.example"})], start_of(FIRST))
    ledger.close()
    return Region(plan, db, tmp_path / "outbox", tmp_path / "unused")


class Days(Day):
    """The daily runs of test_daily.py, publishing to a bucket of moto's server (read back by :meth:`listed`)."""

    def __init__(self, region: Region, moto_server: Any, endpoint: str) -> None:
        self.s3 = moto_server.client("s3")
        self.cloudfront = moto_server.client("cloudfront")
        self.bucket = moto_server.readable_bucket()
        self.distribution = moto_server.distribution(self.bucket, "/us")
        target = UploadTarget(self.bucket, "us", endpoint, self.distribution)
        publisher = S3Publisher(str(region.plan), region.db, target, BASE)
        super().__init__(region, publisher, f"{moto_server.url}/{self.bucket}/us/{CORE}")  # notify fetches it

    def retarget(self, endpoint: str) -> None:
        self.publisher.target = dataclasses.replace(self.publisher.target, endpoint_url=endpoint)

    def listed(self) -> frozenset[str]:
        """The addresses both the document and its .txt in the bucket list (an upload cut between the two leaves
        the .txt one write ahead: each must hold every address that can send)."""
        doc = json.loads(self.s3.get_object(Bucket=self.bucket, Key=f"us/{CORE}")["Body"].read())
        txt = self.s3.get_object(Bucket=self.bucket, Key=f"us/{CORE}.txt")["Body"].read().decode().splitlines()
        return frozenset(doc["ip_addresses"]) & frozenset(txt)

    def invalidated(self) -> list[list[str]]:
        listed = self.cloudfront.list_invalidations(DistributionId=self.distribution)["InvalidationList"]
        ids = [i["Id"] for i in listed.get("Items") or []]
        batches = [self.cloudfront.get_invalidation(DistributionId=self.distribution, Id=i) for i in ids]
        return [b["Invalidation"]["InvalidationBatch"]["Paths"]["Items"] for b in batches]


@pytest.fixture
def days(real_region, moto_server, aws_env) -> Days:
    return Days(real_region, moto_server, moto_server.url)


def test_the_bucket_lists_an_addition_before_it_is_attached_and_a_removal_until_it_is_detached(days):
    first = days.run(FIRST)  # both changes announced, notify reading the live document from the bucket
    assert first.exit_code == errors.OK, first.steps
    assert [s.name for s in first.steps] == ["notify", "publish", "gateways"] and days.stack.ups == []
    assert f"listed at s3://{days.bucket}/us" in first.steps[1].message
    quiet = days.run(dt.date(2026, 12, 9))  # nothing changes: nothing is written, nothing invalidated
    assert [s.name for s in quiet.steps] == ["notify", "publish", "gateways"] and quiet.exit_code == errors.OK
    assert days.publisher.results[-1].uploaded == () and days.publisher.results[-1].invalidated == ()

    added = days.run(dt.date(2026, 12, 10))
    assert added.exit_code == errors.OK, added.steps
    assert [s.name for s in added.steps] == ["notify", "publish", "gateways", "publish-again"]
    steps = [(step, ADDED in listed, ADDED in attached) for step, listed, attached in days.events]
    assert steps == [
        ("notify", False, False),
        ("publish", True, False),  # in the bucket first...
        ("up", True, True),  # ...then attached
        ("publish", True, True),
    ]
    assert [f"/{CORE}.txt", f"/{CORE}"] == days.invalidated()[-1][:2]  # the edges drop the old list

    assert days.run(dt.date(2026, 12, 19)).exit_code == errors.OK
    removed = days.run(dt.date(2026, 12, 20))
    assert removed.exit_code == errors.OK, removed.steps
    steps = [(step, REMOVED in listed, REMOVED in attached) for step, listed, attached in days.events]
    assert steps == [
        ("notify", True, True),
        ("publish", True, True),  # its removal is in effect, but it still sends: it stays in the bucket...
        ("up", True, True),  # ...while it is detached...
        ("publish", False, False),  # ...and only then leaves it
    ]
    assert days.listed() == {"198.51.100.10", "198.51.100.11", ADDED}
    assert days.publisher.results[-1].uploaded[:2] == (f"us/{CORE}.txt", f"us/{CORE}")


@pytest.mark.parametrize("fails_at", [0, 1], ids=["first-write", "halfway"])
def test_an_upload_that_fails_stops_the_day_before_the_gateways_change(days, s3_proxy, fails_at):
    """On the addition's day the endpoint fails the first write, or the second (the .txt is new, the document
    still the old one): the run stops at publish with exit 3, nothing is attached, and the bucket's document is a
    whole one that lists everything that can send. The next run completes the day."""
    days.run(FIRST)
    days.run(dt.date(2026, 12, 9))
    proxy = s3_proxy()
    proxy.fault = lambda method, path, puts: 503 if method == "PUT" and puts >= fails_at else None
    days.retarget(proxy.url)
    day = dt.date(2026, 12, 10)
    result = days.run(day)
    assert [s.name for s in result.steps] == ["notify", "publish"] and result.stopped == "publish"
    assert result.exit_code == errors.PUBLISHED_UNUSABLE and "the later steps did not run" in result.steps[-1].message
    assert days.stack.ups == [] and ADDED not in attached_of(days.stack.state)
    assert ADDED not in days.listed()  # the document is still the old one

    days.retarget(proxy.url)
    proxy.fault = lambda method, path, puts: None
    again = days.run(day)
    assert again.exit_code == errors.OK and days.stack.ups == [day] and ADDED in days.listed()


def test_a_publish_again_that_fails_leaves_the_detached_address_listed(days, s3_proxy):
    """On the removal's day the upload after the detach is denied: the address no longer sends but is still
    listed (safe: the list holds more than the gateways); exit 2, the role's permissions are what to fix."""
    for day in (FIRST, dt.date(2026, 12, 9), dt.date(2026, 12, 10), dt.date(2026, 12, 19)):
        assert days.run(day).exit_code == errors.OK
    proxy = s3_proxy()
    days.retarget(proxy.url)
    days.stack.watch = lambda before, after: setattr(proxy, "fault", lambda m, p, puts: 403 if m == "PUT" else None)
    result = days.run(dt.date(2026, 12, 20))
    assert [s.name for s in result.steps] == ["notify", "publish", "gateways", "publish-again"]
    assert result.stopped == "publish-again" and result.exit_code == errors.USAGE
    assert "access denied" in result.steps[-1].message
    assert REMOVED not in attached_of(days.stack.state) and REMOVED in days.listed()
