"""The diff between the published list and plan + ledger."""

import datetime as dt
from pathlib import Path

from smtp_egress.dates import start_of
from smtp_egress.diff import diff
from smtp_egress.plan import load_plan, parse_plan
from smtp_egress.timeline import Announcement

D = dt.date.fromisoformat
PLAN = load_plan(Path(__file__).resolve().parents[1] / "data" / "example-plan.yaml")
ADD, REMOVE = PLAN.changes("us")
TODAY = start_of(D("2026-11-26"))


def announced(*changes, at=TODAY):
    return {c.change_id: Announcement.of(c, at, 7) for c in changes}


def test_in_sync_nothing_announced_yet_both_due():
    r = diff(PLAN, "us", {}, ["198.51.100.10", "198.51.100.12"], TODAY)
    assert not r.drift and r.missing == () and r.unexpected == ()
    assert [c.change_id for c in r.due] == [ADD.change_id, REMOVE.change_id] and r.short == ()


def test_change_closer_than_notice_is_short_with_earliest_date():
    r = diff(PLAN, "us", {}, ["198.51.100.10", "198.51.100.12"], start_of(D("2026-12-05")))
    assert [s.change.change_id for s in r.short] == [ADD.change_id]
    (s,) = r.short
    assert s.lead_days == 5 and s.earliest_compliant == D("2026-12-12")
    assert "2026-12-12" in s.describe(7) and "--allow-short-notice" in s.describe(7)
    assert [c.change_id for c in r.due] == [REMOVE.change_id]


def test_a_short_notice_says_how_far_away_the_change_is_as_it_is():
    now = start_of(D("2026-12-08")) + dt.timedelta(hours=8)  # 1 day 16 hours (1.67 days) before 2026-12-10
    (s,) = diff(PLAN, "us", {}, ["198.51.100.10", "198.51.100.12"], now).short
    assert s.lead_days == 1 and s.lead == dt.timedelta(days=1, hours=16)
    assert "planned for 2026-12-10 is 1 day 16 hours away; customers need 7 days of notice" in s.describe(7)
    late = diff(PLAN, "us", {}, ["198.51.100.10", "198.51.100.12"], start_of(D("2026-12-11")) + dt.timedelta(hours=3))
    assert "planned for 2026-12-10 is 1 day 3 hours overdue" in late.short[0].describe(7)


def test_exactly_notice_days_away_is_due_not_short():
    r = diff(PLAN, "us", {}, ["198.51.100.10", "198.51.100.12"], start_of(D("2026-12-03")))
    assert ADD in r.due and not r.short


def test_missing_address_is_reported_not_read_as_removal():
    r = diff(PLAN, "us", {}, ["198.51.100.10"], TODAY)
    assert r.missing == ("198.51.100.12",) and r.drift


def test_unexpected_address_is_drift():
    r = diff(PLAN, "us", {}, ["198.51.100.10", "198.51.100.12", "198.51.100.99"], TODAY)
    assert r.unexpected == ("198.51.100.99",) and r.missing == ()


def test_announced_addition_expected_from_its_day_and_stale_upcoming_noticed():
    anns = announced(ADD, REMOVE)
    r = diff(PLAN, "us", anns, ["198.51.100.10", "198.51.100.12"], start_of(D("2026-12-10")))
    assert r.missing == ("198.51.100.11",)
    r = diff(PLAN, "us", anns, ["198.51.100.10", "198.51.100.12"], TODAY, published_upcoming=[])
    assert r.due == () and len(r.stale_upcoming) == 2
    listed = [
        {"ip": "198.51.100.11", "action": "add", "effective": "2026-12-10"},
        {"ip": "198.51.100.12", "action": "remove", "effective": "2026-12-20"},
    ]
    assert diff(PLAN, "us", anns, ["198.51.100.10", "198.51.100.12"], TODAY, listed).stale_upcoming == ()


def test_removal_that_would_empty_the_list_is_blocked_until_its_replacement_is_announced():
    plan = parse_plan(
        b"""\
regions:
  us:
    - ip: 198.51.100.10
      retire_on: 2026-12-20
    - ip: 198.51.100.11
      active_from: 2026-12-10
""",
        "plan.yaml",
    )
    add, remove = plan.changes("us")
    # Both due: the addition is announced in the same run, so the removal may go too.
    r = diff(plan, "us", {}, ["198.51.100.10"], TODAY)
    assert r.due == (add, remove) and r.blocked == ()
    # The addition is too close (short notice) while the removal is due: the removal is held back.
    r = diff(plan, "us", {}, ["198.51.100.10"], start_of(D("2026-12-05")))
    assert [s.change for s in r.short] == [add]
    assert r.due == () and r.blocked == ((remove, D("2026-12-20")),)


def test_before_the_daily_publish_yesterdays_list_is_not_drift_but_an_older_one_is():
    """egress daily diffs before it publishes: on a change's day the list may still be yesterday's."""
    anns = announced(ADD, REMOVE)
    yesterday_add = ["198.51.100.10", "198.51.100.12"]
    assert diff(PLAN, "us", anns, yesterday_add, start_of(D("2026-12-10"))).missing == ("198.51.100.11",)
    r = diff(PLAN, "us", anns, yesterday_add, start_of(D("2026-12-10")), publish_follows=True)
    assert not r.drift
    yesterday_remove = ["198.51.100.10", "198.51.100.11", "198.51.100.12"]
    assert diff(PLAN, "us", anns, yesterday_remove, start_of(D("2026-12-20"))).unexpected == ("198.51.100.12",)
    assert not diff(PLAN, "us", anns, yesterday_remove, start_of(D("2026-12-20")), publish_follows=True).drift
    older = diff(PLAN, "us", anns, ["198.51.100.10", "198.51.100.12"], start_of(D("2026-12-11")), publish_follows=True)
    assert older.missing == ("198.51.100.11",)  # two days late: the publication is broken
