"""The static tree of published documents."""

import datetime as dt
import json

import pytest

from smtp_egress.dates import start_of
from smtp_egress.document import static_files
from smtp_egress.errors import PublishedUnusable
from smtp_egress.plan import parse_plan
from smtp_egress.timeline import Announcement

PLAN = parse_plan(
    b"""\
regions:
  us:
    - ip: 198.51.100.10
    - ip: 198.51.100.11
      active_from: 2026-12-10
  eu:
    - ip: 203.0.113.20
    - ip: 203.0.113.21
      active_from: 2026-12-12
""",
    "plan.yaml",
)
NOW = start_of(dt.date(2026, 11, 26))
ANNS = {c.change_id: Announcement(c.change_id, c.region, c.ip, c.action, c.effective, NOW, 7) for c in PLAN.changes()}


def test_whole_tree_has_every_region_and_every_change():
    files = static_files(PLAN, ANNS, NOW, "https://ips.example.com")
    assert sorted(files) == [
        "eu/v1/info/ip_addresses",
        "eu/v1/info/ip_addresses.txt",
        "us/v1/info/ip_addresses",
        "us/v1/info/ip_addresses.txt",
        "v1/info/ip_addresses/changes.atom",
        "v1/info/ip_addresses/changes.json",
    ]
    changes = json.loads(files["v1/info/ip_addresses/changes.json"][0])
    assert {c["region"] for c in changes["changes"]} == {"us", "eu"}


def test_a_regional_host_lists_only_its_own_changes():
    files = static_files(PLAN, ANNS, NOW, "https://us.ips.example.com", regions=["us"])
    assert "eu/v1/info/ip_addresses" not in files
    changes = json.loads(files["v1/info/ip_addresses/changes.json"][0])
    assert [c["region"] for c in changes["changes"]] == ["us"]
    assert b"region=eu" not in files["v1/info/ip_addresses/changes.atom"][0]


def test_an_empty_list_is_never_published():
    plan = parse_plan(b"regions:\n  ap:\n    - ip: 198.51.100.30\n      active_from: 2026-12-10\n", "p.yaml")
    with pytest.raises(PublishedUnusable, match="empty list"):
        static_files(plan, {}, NOW, "https://ips.example.com")
