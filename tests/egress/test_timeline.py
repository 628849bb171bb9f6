"""Make before break: a change takes effect only after it was announced for long enough."""

import datetime as dt

import pytest

from smtp_egress.dates import UTC, earliest_compliant_day, lead_days, start_of
from smtp_egress.plan import parse_plan
from smtp_egress.timeline import Announcement, published_addresses, unannounced, upcoming

D = dt.date.fromisoformat
PLAN = parse_plan(b"""\
regions:
  us:
    - ip: 198.51.100.10
    - ip: 198.51.100.11
      active_from: 2026-12-10
    - ip: 198.51.100.12
      retire_on: 2026-12-20
""", "plan.yaml")
ADD, REMOVE = PLAN.changes("us")


def ann(change, announced: str, reason=None) -> dict:
    at = dt.datetime.fromisoformat(announced).replace(tzinfo=UTC)
    return {change.change_id: Announcement(change.change_id, "us", change.ip, change.action, change.effective, at, 7, reason)}


def listed(anns, day):
    return [str(ip) for ip in published_addresses(PLAN, "us", anns, D(day))]


def test_lead_days_floor_and_earliest_day():
    assert lead_days(start_of(D("2026-12-03")), D("2026-12-10")) == 7
    assert lead_days(dt.datetime(2026, 12, 3, 0, 0, 1, tzinfo=UTC), D("2026-12-10")) == 6
    assert earliest_compliant_day(start_of(D("2026-11-26")), 7) == D("2026-12-03")
    assert earliest_compliant_day(dt.datetime(2026, 11, 26, 9, 30, tzinfo=UTC), 7) == D("2026-12-04")


def test_unannounced_addition_is_never_published_and_unannounced_removal_stays():
    assert listed({}, "2027-06-01") == ["198.51.100.10", "198.51.100.12"]
    assert [c.change_id for c in unannounced(PLAN, "us", {})] == [ADD.change_id, REMOVE.change_id]


def test_announced_in_time_takes_effect_on_the_planned_day():
    anns = {**ann(ADD, "2026-11-26"), **ann(REMOVE, "2026-11-26")}
    assert listed(anns, "2026-12-09") == ["198.51.100.10", "198.51.100.12"]
    assert listed(anns, "2026-12-10") == ["198.51.100.10", "198.51.100.11", "198.51.100.12"]
    assert listed(anns, "2026-12-20") == ["198.51.100.10", "198.51.100.11"]
    assert unannounced(PLAN, "us", anns) == []


def test_late_announcement_waits_for_the_notice_period():
    anns = ann(ADD, "2026-12-07T12:00:00")  # 2.5 days before the planned day
    a = anns[ADD.change_id]
    assert a.lead == 2 and a.effective == D("2026-12-15")
    assert listed(anns, "2026-12-14") == ["198.51.100.10", "198.51.100.12"]
    assert "198.51.100.11" in listed(anns, "2026-12-15")


def test_recorded_exception_takes_effect_as_planned():
    anns = ann(ADD, "2026-12-07T12:00:00", reason="provider retired the old range")
    assert anns[ADD.change_id].effective == D("2026-12-10")
    assert "198.51.100.11" in listed(anns, "2026-12-10")


@pytest.mark.parametrize("day, expected", [
    ("2026-11-30", [("add", "2026-12-10"), ("remove", "2026-12-20")]),
    ("2026-12-10", [("remove", "2026-12-20")]),
    ("2026-12-20", []),
])
def test_upcoming_lists_announced_future_changes_only(day, expected):
    anns = {**ann(ADD, "2026-11-26"), **ann(REMOVE, "2026-11-26")}
    assert [(u.action, u.effective.isoformat()) for u in upcoming(PLAN, "us", anns, D(day))] == expected
    assert upcoming(PLAN, "us", {}, D(day)) == []
