"""What an allowlist holds (egress.allowlists.content): live + announced additions, never an unannounced
change, exact CIDR aggregation for IPv4 and IPv6, and provenance that matches the published document."""

from __future__ import annotations

import datetime as dt
import ipaddress
import itertools
import random
from pathlib import Path

import pytest

from smtp_egress.allowlists import FORMATS, build
from smtp_egress.allowlists.content import Allowlist, to_networks
from smtp_egress.dates import UTC, start_of
from smtp_egress.document import render
from smtp_egress.errors import ConfigError, PublishedUnusable
from smtp_egress.plan import parse_plan
from smtp_egress.timeline import Announcement

PLAN = (Path(__file__).resolve().parents[1] / "data" / "allowlist-plan.yaml").read_bytes()
ANNOUNCED = dt.datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
GENERATED = dt.datetime(2027, 1, 1, 12, 0, tzinfo=UTC)


def announce(plan, ip, at=ANNOUNCED, reason=None) -> dict[str, Announcement]:
    out = {}
    for c in plan.changes():
        if c.ip == ip:
            out[c.change_id] = Announcement(
                c.change_id, c.region, c.ip, c.action, c.effective, at, plan.notice_days, reason
            )
    return out


@pytest.fixture
def plan():
    return parse_plan(PLAN, "plan.yaml")


@pytest.fixture
def anns(plan):
    return {**announce(plan, "198.51.100.10"), **announce(plan, "198.51.100.11")}


def allowlist(plan, anns, day, **kw) -> Allowlist:
    return build(plan, "us", anns, start_of(dt.date.fromisoformat(day)), GENERATED, **kw)


def strs(items) -> list[str]:
    return [str(i) for i in items]


def test_default_is_live_plus_announced_additions_never_unannounced(plan, anns):
    al = allowlist(plan, anns, "2026-11-26")
    assert strs(al.addresses) == [
        "198.51.100.8",
        "198.51.100.9",
        "198.51.100.10",
        "198.51.100.11",
        "198.51.100.20",
        "2001:db8::10",
        "2001:db8::11",
        "2001:db8::20",
    ]
    assert [(a.ip, a.effective) for a in al.additions] == [("198.51.100.11", dt.date(2026, 12, 10))]
    assert [(r.ip, r.effective) for r in al.retirements] == [("198.51.100.10", dt.date(2026, 12, 20))]
    assert "198.51.100.13" not in strs(al.addresses)  # unannounced addition
    assert "198.51.100.13" not in "\n".join(al.provenance_lines("txt"))


def test_live_only_leaves_out_the_upcoming_additions(plan, anns):
    al = allowlist(plan, anns, "2026-11-26", live_only=True)
    assert "198.51.100.11" not in strs(al.addresses)
    assert strs(al.networks) == [
        "198.51.100.8/31",
        "198.51.100.10/32",
        "198.51.100.20/32",
        "2001:db8::10/127",
        "2001:db8::20/128",
    ]
    assert al.provenance("txt")["upcoming_additions"] == []
    assert any("NOT included" in line and "198.51.100.11" in line for line in al.provenance_lines("txt"))


def test_adjacent_addresses_aggregate_exactly_for_ipv4_and_ipv6(plan, anns):
    al = allowlist(plan, anns, "2026-11-26")
    assert strs(al.networks) == ["198.51.100.8/30", "198.51.100.20/32", "2001:db8::10/127", "2001:db8::20/128"]
    covered = {ip for net in al.networks for ip in net}
    assert covered == set(al.addresses)  # nothing the list does not have, nothing missing


def test_no_aggregate_lists_one_block_per_address(plan, anns):
    al = allowlist(plan, anns, "2026-11-26", aggregate=False)
    assert all(n.num_addresses == 1 for n in al.networks)
    assert [n.network_address for n in al.networks] == al.addresses
    assert strs(al.networks)[:2] == ["198.51.100.8/32", "198.51.100.9/32"]
    assert strs(al.networks)[-1] == "2001:db8::20/128"


def test_aggregation_is_exact_on_random_sets():
    rng = random.Random(7)
    for _ in range(200):
        v4 = {ipaddress.ip_address("198.51.100.0") + rng.randrange(256) for _ in range(rng.randrange(1, 60))}
        v6 = {ipaddress.ip_address("2001:db8::") + rng.randrange(512) for _ in range(rng.randrange(0, 60))}
        nets = to_networks(v4 | v6, True)
        assert {ip for n in nets for ip in n} == v4 | v6
        assert nets == sorted(nets, key=lambda n: (n.version, int(n.network_address)))
        for a, b in itertools.pairwise(nets):  # the smallest set: no two blocks merge into one
            assert a.version != b.version or not (a.supernet() == b.supernet() and a.prefixlen == b.prefixlen)


def test_the_list_follows_the_days(plan, anns):
    assert "198.51.100.11" in strs(allowlist(plan, anns, "2026-12-10").live)  # in effect: live now
    assert allowlist(plan, anns, "2026-12-10").additions == ()
    assert "198.51.100.10" in strs(allowlist(plan, anns, "2026-12-19").addresses)  # live until its retirement
    assert "198.51.100.10" not in strs(allowlist(plan, anns, "2026-12-20").addresses)


def test_late_announcement_moves_the_effective_day(plan):
    anns = announce(plan, "198.51.100.11", at=dt.datetime(2026, 12, 5, 12, 0, tzinfo=UTC))
    al = allowlist(plan, anns, "2026-12-06")
    assert [(a.ip, a.effective) for a in al.additions] == [("198.51.100.11", dt.date(2026, 12, 13))]
    assert "198.51.100.11" not in strs(allowlist(plan, anns, "2026-12-12").live)
    assert "198.51.100.11" in strs(allowlist(plan, anns, "2026-12-13").live)


def test_an_announcement_made_after_the_moment_is_ignored(plan):
    anns = announce(plan, "198.51.100.11", at=dt.datetime(2026, 11, 30, tzinfo=UTC))
    assert "198.51.100.11" not in strs(allowlist(plan, anns, "2026-11-26").addresses)
    assert "198.51.100.11" in strs(allowlist(plan, anns, "2026-11-30").addresses)


def test_provenance_matches_the_published_document(plan, anns):
    moment = start_of(dt.date(2026, 11, 26))
    al = build(plan, "us", anns, moment, GENERATED)
    doc = render(plan, "us", anns, moment).document
    p = al.provenance("json")
    assert p["published_sync_token"] == doc["sync_token"] == str(int(ANNOUNCED.timestamp()))
    assert p["published_sha256"] == doc["sha256"]
    assert p["live"] == doc["ip_addresses"]
    assert p["plan_sha256"] == plan.sha256
    assert p["generated_at"] == "2027-01-01T12:00:00Z" and p["as_of"] == "2026-11-26"
    assert p["upcoming_additions"] == [
        {"ip": "198.51.100.11", "effective": "2026-12-10", "announced_at": "2026-11-25T09:00:00Z"}
    ]
    lines = "\n".join(al.provenance_lines("txt"))
    for needle in (
        "region us",
        "generated_at: 2027-01-01T12:00:00Z",
        plan.sha256,
        doc["sync_token"],
        "198.51.100.11 starts sending 2026-12-10",
        "198.51.100.10 stays live until 2026-12-20",
    ):
        assert needle in lines


def test_unknown_region_and_empty_list_are_refused(plan, anns):
    with pytest.raises(ConfigError, match="'mars'"):
        build(plan, "mars", anns, start_of(dt.date(2026, 11, 26)), GENERATED)
    only_future = parse_plan(b"regions:\n  ap:\n    - ip: 192.0.2.1\n      active_from: 2026-12-10\n", "p.yaml")
    with pytest.raises(PublishedUnusable, match="no live address or announced addition"):
        build(only_future, "ap", {}, start_of(dt.date(2026, 11, 26)), GENERATED)
    anns = announce(only_future, "192.0.2.1")
    assert strs(build(only_future, "ap", anns, start_of(dt.date(2026, 11, 26)), GENERATED).addresses) == ["192.0.2.1"]
    with pytest.raises(PublishedUnusable, match="drop --live-only"):
        build(only_future, "ap", anns, start_of(dt.date(2026, 11, 26)), GENERATED, live_only=True)


def _synthetic(live: list[str]) -> Allowlist:
    return Allowlist(
        "us",
        start_of(dt.date(2026, 11, 26)),
        GENERATED,
        "plan.yaml",
        "0" * 64,
        7,
        "1",
        "0" * 64,
        tuple(live),
        (),
        (),
        False,
        True,
    )


@pytest.mark.parametrize(
    ("fmt", "count", "needle"),
    [
        ("aws-sg", 20, None),
        ("aws-sg", 21, "default limit of 60"),
        ("aws-prefix-list", 21, "default limit of 60"),
        ("terraform", 21, "default limit of 60"),
        ("pulumi", 21, "default limit of 60"),
        ("gcp-firewall", 10, None),
        ("gcp-firewall", 11, "Cloud Armor"),
    ],
)
def test_rule_limits_warn(fmt, count, needle):
    live = [str(ipaddress.ip_address("198.51.100.0") + 2 * i) for i in range(count)]  # never adjacent
    warnings = FORMATS[fmt].render(_synthetic(live)).warnings
    assert (needle is None and warnings == ()) or any(needle in w for w in warnings)


def test_azure_prefix_limit_warns():
    live = [str(ipaddress.ip_address("2001:db8::") + 2 * i) for i in range(4001)]
    out = FORMATS["azure-nsg"].render(_synthetic(live))
    assert any("4001 address prefixes exceeds the default limit of 4000" in w for w in out.warnings)
    assert not FORMATS["azure-nsg"].render(_synthetic(live[:4000])).warnings


def test_exchange_online_takes_ipv4_from_24_to_32_only():
    live = [str(ipaddress.ip_address("198.51.100.0") + i) for i in range(256)] + ["2001:db8::1"]
    al = _synthetic(live)
    assert "198.51.100.0/24" in [str(n) for n in al.networks]
    out = FORMATS["exchange-online"].render(al)
    assert '@{Add="198.51.100.0/24"}' in out.data.decode()
    assert "2001:db8::1" not in out.data.decode().split("param(")[1]
    assert any("IPv4 only" in w for w in out.warnings)
    wide = _synthetic([str(ipaddress.ip_address("100.64.0.0") + i) for i in range(512)])  # a /23 (no plan check here)
    assert [str(n) for n in wide.networks] == ["100.64.0.0/23"]
    out = FORMATS["exchange-online"].render(wide)
    assert '@{Add="100.64.0.0/24","100.64.1.0/24"}' in out.data.decode()
    assert any("split into /24s" in w for w in out.warnings)
