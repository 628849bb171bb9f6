"""The IP plan: parsing, the live rule, and every validation error with file:line and the bad value."""

import datetime as dt
import ipaddress
import textwrap

import pytest

from smtp_egress.errors import PlanError
from smtp_egress.plan import load_plan, parse_plan

D = dt.date.fromisoformat

GOOD = """\
notice_days: 7
regions:
  us:
    - ip: 198.51.100.10
    - ip: 198.51.100.11
      active_from: 2026-12-10
    - ip: 198.51.100.12
      retire_on: 2026-12-20
  eu:
    - ip: 203.0.113.20
    - ip: 2001:db8::20
"""


def parse(text: str):
    return parse_plan(textwrap.dedent(text).encode(), "plan.yaml")


def problems(text: str) -> list[str]:
    with pytest.raises(PlanError) as info:
        parse(text)
    return info.value.problems


def test_good_plan_parses_with_changes_and_hash():
    plan = parse(GOOD)
    assert plan.notice_days == 7
    assert [str(e.ip) for e in plan.regions["us"]] == ["198.51.100.10", "198.51.100.11", "198.51.100.12"]
    assert plan.regions["eu"][1].ip == ipaddress.ip_address("2001:db8::20")
    assert [c.change_id for c in plan.changes()] == [
        "us/add/198.51.100.11/2026-12-10",
        "us/remove/198.51.100.12/2026-12-20",
    ]
    assert len(plan.sha256) == 64 and plan.sha256 != parse(GOOD + "\n# changed\n").sha256


@pytest.mark.parametrize(
    "day, live",
    [
        ("2026-12-09", ["198.51.100.10", "198.51.100.12"]),
        ("2026-12-10", ["198.51.100.10", "198.51.100.11", "198.51.100.12"]),
        ("2026-12-19", ["198.51.100.10", "198.51.100.11", "198.51.100.12"]),
        ("2026-12-20", ["198.51.100.10", "198.51.100.11"]),
    ],
)
def test_live_rule_on_boundaries(day, live):
    assert [str(ip) for ip in parse(GOOD).planned_live("us", D(day))] == live


def test_repository_plan_is_valid():
    plan = load_plan("stacks/egress-ips.yaml")
    assert set(plan.regions) == {"us", "eu"}


@pytest.mark.parametrize(
    "text, expected",
    [
        ("regions:\n  us: [\n", "plan.yaml:3: malformed YAML"),
        ("regions:\n  us:\n    - ip: 198.51.100.1\ncolour: red\n", "plan.yaml:4: unknown key 'colour'"),
        (
            "regions:\n  us:\n    - ip: 198.51.100.1\n      colour: red\n",
            "plan.yaml:4: unknown key 'colour' in an entry",
        ),
        ("regions:\n  us:\n    - ip: 10.1.2.3\n", "plan.yaml:3: ip '10.1.2.3' is not a global unicast address"),
        ("regions:\n  us:\n    - ip: 127.0.0.1\n", "plan.yaml:3: ip '127.0.0.1' is not a global"),
        ("regions:\n  us:\n    - ip: 100.64.0.1\n", "ip '100.64.0.1' is not a global"),
        ("regions:\n  us:\n    - ip: 169.254.169.254\n", "ip '169.254.169.254' is not a global"),
        ("regions:\n  us:\n    - ip: fe80::1\n", "ip 'fe80::1' is not a global"),
        ("regions:\n  us:\n    - ip: 224.0.0.1\n", "ip '224.0.0.1' is not a global"),
        ("regions:\n  us:\n    - ip: 198.51.100.300\n", "ip '198.51.100.300' is not an IPv4 or IPv6 address"),
        ("regions:\n  us:\n    - ip: 198.51.100.0/24\n", "ip '198.51.100.0/24' is not an IPv4"),
        (
            "regions:\n  us:\n    - ip: 198.51.100.1\n    - ip: 198.51.100.1\n",
            "plan.yaml:4: ip '198.51.100.1' is already planned in region 'us' at plan.yaml:3",
        ),
        (
            "regions:\n  us:\n    - ip: 198.51.100.1\n  eu:\n    - ip: 198.51.100.1\n",
            "plan.yaml:5: ip '198.51.100.1' is already planned in region 'us'",
        ),
        ("regions:\n  us:\n    - ip: 2001:db8::1\n  eu:\n    - ip: 2001:DB8:0::1\n", "already planned in region 'us'"),
        (
            (
                "regions:\n  us:\n    - ip: 198.51.100.1\n    - ip: 198.51.100.2\n"
                "      active_from: 2026-12-10\n      retire_on: 2026-12-10\n"
            ),
            "plan.yaml:4: retire_on '2026-12-10' is not after active_from '2026-12-10'",
        ),
        (
            "notice_days: 3\nregions:\n  us:\n    - ip: 198.51.100.1\n",
            "plan.yaml:1: notice_days 3 is below the 7-day promise",
        ),
        ("notice_days: soon\nregions:\n  us:\n    - ip: 198.51.100.1\n", "notice_days 'soon' must be a whole number"),
        (
            "regions:\n  us:\n    - ip: 198.51.100.1\n      active_from: 2026-13-01\n",
            "plan.yaml:4: active_from '2026-13-01' is not a date",
        ),
        (
            (
                "regions:\n  us:\n    - ip: 198.51.100.1\n      retire_on: 2027-01-01\n"
                "    - ip: 198.51.100.2\n      active_from: 2027-01-05\n"
            ),
            "plan.yaml:2: region 'us' would have no live address from 2027-01-01",
        ),
        (
            "regions:\n  us:\n    - ip: 198.51.100.1\n      retire_on: 2027-01-01\n",
            "region 'us' would have no live address from 2027-01-01",
        ),
        ("regions:\n  us:\n    - active_from: 2027-01-01\n", "plan.yaml:3: an entry of region 'us' has no 'ip'"),
        ("- just a list\n", "plan.yaml:1: the plan must be a mapping"),
        ("regions:\n  US:\n    - ip: 198.51.100.1\n", "region name 'US' must be lower-case"),
    ],
)
def test_validation_errors_name_line_and_value(text, expected):
    found = problems(text)
    assert any(expected in p for p in found), found


def test_new_region_may_start_in_the_future_but_never_go_empty():
    plan = parse("regions:\n  ap:\n    - ip: 198.51.100.1\n      active_from: 2027-01-01\n")
    assert plan.planned_live("ap", D("2027-01-01"))
    assert not plan.planned_live("ap", D("2026-12-31"))


def test_every_problem_is_reported_sorted_by_line():
    found = problems("notice_days: 1\nregions:\n  us:\n    - ip: 10.0.0.1\n    - ip: 198.51.100.999\n")
    assert [p.split(":")[1] for p in found] == ["1", "4", "5"]


def test_missing_file_is_a_plan_error(tmp_path):
    with pytest.raises(PlanError, match="cannot read the plan"):
        load_plan(tmp_path / "nope.yaml")
