"""Make before break: a change takes effect only after it was announced for long enough."""

import datetime as dt
from pathlib import Path

import pytest

from smtp_egress.dates import UTC, lead_days, start_of
from smtp_egress.plan import Change, load_plan
from smtp_egress.timeline import (
    Announcement,
    NoticeStatus,
    earliest_compliant_day,
    gives_notice,
    last_moment_in_time,
    notice_status,
    published_addresses,
    unannounced,
    upcoming,
)

D = dt.date.fromisoformat
PLAN = load_plan(Path(__file__).resolve().parents[1] / "data" / "example-plan.yaml")
ADD, REMOVE = PLAN.changes("us")


def ann(change, announced: str, reason=None) -> dict:
    at = dt.datetime.fromisoformat(announced).replace(tzinfo=UTC)
    return {
        change.change_id: Announcement(
            change.change_id, "us", change.ip, change.action, change.effective, at, 7, reason
        )
    }


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


@pytest.mark.parametrize(
    "day, expected",
    [
        ("2026-11-30", [("add", "2026-12-10"), ("remove", "2026-12-20")]),
        ("2026-12-10", [("remove", "2026-12-20")]),
        ("2026-12-20", []),
    ],
)
def test_upcoming_lists_announced_future_changes_only(day, expected):
    anns = {**ann(ADD, "2026-11-26"), **ann(REMOVE, "2026-11-26")}
    assert [(u.action, u.effective.isoformat()) for u in upcoming(PLAN, "us", anns, D(day))] == expected
    assert upcoming(PLAN, "us", {}, D(day)) == []


def T(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


ADD_1210 = Change(D("2026-12-10"), "us", "add", "198.51.100.11")
REMOVE_1220 = Change(D("2026-12-20"), "us", "remove", "198.51.100.12")
DUE, SHORT, LATE, UPCOMING, IN_EFFECT = (
    NoticeStatus.DUE,
    NoticeStatus.SHORT,
    NoticeStatus.LATE,
    NoticeStatus.UPCOMING,
    NoticeStatus.IN_EFFECT,
)


# (change, plan's notice_days, announced: (at, notice_days, reason) or None, moment)
#   -> (status, lead_days, earliest_compliant, effective, late, short_notice_exception)
NOTICE_CASES = {
    "not announced, 13 days ahead: due": (
        ADD_1210,
        7,
        None,
        "2026-11-26T09:30",
        (DUE, 13, "2026-12-04", None, False, False),
    ),
    "not announced, exactly 7 days at midnight: due": (
        ADD_1210,
        7,
        None,
        "2026-12-03T00:00:00",
        (DUE, 7, "2026-12-10", None, False, False),
    ),
    "not announced, 7 days and a second: due": (
        ADD_1210,
        7,
        None,
        "2026-12-02T23:59:59",
        (DUE, 7, "2026-12-10", None, False, False),
    ),
    "not announced, 7 days minus a second: short": (
        ADD_1210,
        7,
        None,
        "2026-12-03T00:00:01",
        (SHORT, 6, "2026-12-11", None, False, False),
    ),
    "not announced, 09:30 seven days before: short": (
        ADD_1210,
        7,
        None,
        "2026-12-03T09:30",
        (SHORT, 6, "2026-12-11", None, False, False),
    ),
    "not announced, planned day passed: short, overdue": (
        ADD_1210,
        7,
        None,
        "2026-12-12T00:00",
        (SHORT, -2, "2026-12-19", None, False, False),
    ),
    "announced at midnight exactly 7 days before: upcoming": (
        ADD_1210,
        7,
        ("2026-12-03T00:00", 7, None),
        "2026-12-09T23:59:59",
        (UPCOMING, 7, "2026-12-10", "2026-12-10", False, False),
    ),
    "announced in time: in effect from the planned day's midnight": (
        ADD_1210,
        7,
        ("2026-12-03T00:00", 7, None),
        "2026-12-10T00:00",
        (IN_EFFECT, 7, "2026-12-10", "2026-12-10", False, False),
    ),
    "announced 09:30 seven days before: late, waits a day": (
        ADD_1210,
        7,
        ("2026-12-03T09:30", 7, None),
        "2026-12-10T12:00",
        (LATE, 6, "2026-12-11", "2026-12-11", True, False),
    ),
    "announced a second too late: late": (
        ADD_1210,
        7,
        ("2026-12-03T00:00:01", 7, None),
        "2026-12-04T00:00",
        (LATE, 6, "2026-12-11", "2026-12-11", True, False),
    ),
    "announced late: in effect once the notice is over, still late": (
        ADD_1210,
        7,
        ("2026-12-03T09:30", 7, None),
        "2026-12-11T00:00",
        (IN_EFFECT, 6, "2026-12-11", "2026-12-11", True, False),
    ),
    "short-notice exception: upcoming, takes effect as planned": (
        ADD_1210,
        7,
        ("2026-12-07T12:00", 7, "provider incident"),
        "2026-12-08T00:00",
        (UPCOMING, 2, "2026-12-15", "2026-12-10", False, True),
    ),
    "short-notice exception: in effect on the planned day": (
        ADD_1210,
        7,
        ("2026-12-07T12:00", 7, "provider incident"),
        "2026-12-10T00:00",
        (IN_EFFECT, 2, "2026-12-15", "2026-12-10", False, True),
    ),
    "a reason given with enough notice is no exception": (
        ADD_1210,
        7,
        ("2026-11-26T09:30", 7, "early"),
        "2026-11-27T00:00",
        (UPCOMING, 13, "2026-12-04", "2026-12-10", False, False),
    ),
    "removal not announced, exactly 7 days: due": (
        REMOVE_1220,
        7,
        None,
        "2026-12-13T00:00",
        (DUE, 7, "2026-12-20", None, False, False),
    ),
    "removal not announced, 7 days minus a second: short": (
        REMOVE_1220,
        7,
        None,
        "2026-12-13T00:00:01",
        (SHORT, 6, "2026-12-21", None, False, False),
    ),
    "removal announced 09:30 seven days before: late": (
        REMOVE_1220,
        7,
        ("2026-12-13T09:30", 7, None),
        "2026-12-20T00:00",
        (LATE, 6, "2026-12-21", "2026-12-21", True, False),
    ),
    "removal announced in time: in effect on its day": (
        REMOVE_1220,
        7,
        ("2026-12-13T00:00", 7, None),
        "2026-12-20T00:00",
        (IN_EFFECT, 7, "2026-12-20", "2026-12-20", False, False),
    ),
    "notice_days 10, exactly 10 days: due": (
        ADD_1210,
        10,
        None,
        "2026-11-30T00:00",
        (DUE, 10, "2026-12-10", None, False, False),
    ),
    "notice_days 10, 7 days are not enough: short": (
        ADD_1210,
        10,
        None,
        "2026-12-03T00:00",
        (SHORT, 7, "2026-12-13", None, False, False),
    ),
    "notice_days 10, announced 09:30 ten days before: late": (
        ADD_1210,
        10,
        ("2026-11-30T09:30", 10, None),
        "2026-12-10T00:00",
        (LATE, 9, "2026-12-11", "2026-12-11", True, False),
    ),
    "the promise recorded with the announcement counts, not today's plan": (
        ADD_1210,
        10,
        ("2026-12-03T00:00", 7, None),
        "2026-12-10T00:00",
        (IN_EFFECT, 7, "2026-12-10", "2026-12-10", False, False),
    ),
}


@pytest.mark.parametrize("change, notice_days, announced, moment, expected", NOTICE_CASES.values(), ids=NOTICE_CASES)
def test_notice_status_at_the_boundaries(change, notice_days, announced, moment, expected):
    anns = {}
    if announced:
        at, promised, reason = announced
        anns = {change.change_id: Announcement.of(change, T(at), promised, reason)}
    n = notice_status(change, anns, T(moment), notice_days)
    status, lead, earliest, effective, late, excepted = expected
    assert (
        n.status,
        n.lead_days,
        n.earliest_compliant.isoformat(),
        n.effective and n.effective.isoformat(),
        n.late,
        n.short_notice_exception,
    ) == (status, lead, earliest, effective, late, excepted)
    assert n.in_time == (status is DUE or lead >= n.notice_days)
    assert n.announced == bool(announced) and n.planned == change.effective and n.change_id == change.change_id
    assert n.notice_days == (announced[1] if announced else notice_days)
    if announced:
        assert anns[change.change_id].effective == n.effective  # Announcement.effective asks the same rule


@pytest.mark.parametrize(
    "at",
    [
        "2026-11-26T00:00",
        "2026-11-26T09:30",
        "2026-12-02T23:59:59",
        "2026-12-03T00:00",
        "2026-12-03T00:00:01",
        "2026-12-09T23:59:59.999999",
        "2026-12-12T00:00",
    ],
)
@pytest.mark.parametrize("notice_days", [7, 10])
def test_lead_days_and_earliest_compliant_day_agree(at, notice_days):
    """``lead_days >= N`` and ``earliest_compliant_day <= planned`` are the same question."""
    for planned in (D("2026-12-05") + dt.timedelta(days=i) for i in range(15)):
        assert gives_notice(T(at), planned, notice_days) == (lead_days(T(at), planned) >= notice_days)


def test_a_moment_in_another_time_zone_is_read_as_utc():
    at = dt.datetime(2026, 12, 3, 1, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))  # 2026-12-02 23:00 UTC
    assert earliest_compliant_day(at, 7) == D("2026-12-10") and gives_notice(at, D("2026-12-10"), 7)


@pytest.mark.parametrize("notice_days", [7, 10, 30])
def test_last_moment_in_time_is_the_latest_midnight_giving_notice(notice_days):
    at = last_moment_in_time(D("2026-12-10"), notice_days)
    assert at == start_of(D("2026-12-10")) - dt.timedelta(days=notice_days)
    assert gives_notice(at, D("2026-12-10"), notice_days)
    assert not gives_notice(at + dt.timedelta(seconds=1), D("2026-12-10"), notice_days)


# Told means delivered ---------------------------------------------------------------------------------


def test_a_batch_is_told_when_its_last_holding_workspace_heard_of_it_rounded_up_to_the_second():
    from smtp_egress.timeline import WorkspaceNotice, told_at

    recorded = dt.datetime(2026, 11, 26, 9, 0, tzinfo=UTC)

    def t(**delta: int) -> dt.datetime:
        return recorded + dt.timedelta(**delta)

    assert told_at(recorded, []) == recorded  # nobody to tell
    assert told_at(recorded, [WorkspaceNotice(True, t(minutes=1)), WorkspaceNotice(True, None)]) is None
    assert told_at(recorded, [WorkspaceNotice(True, t(minutes=1)), WorkspaceNotice(False, None)]) == t(minutes=1)
    assert told_at(recorded, [WorkspaceNotice(True, t(seconds=3, microseconds=5))]) == t(seconds=4)
    # a decision settles a workspace too; whichever came first counts
    assert told_at(recorded, [WorkspaceNotice(True, None, t(days=2)), WorkspaceNotice(True, t(hours=1))]) == t(days=2)
    assert told_at(recorded, [WorkspaceNotice(True, t(hours=1), t(days=2))]) == t(hours=1)


def test_a_held_change_is_neither_due_nor_announced():
    from smtp_egress.timeline import NoticeStatus, notice_status

    change = Change(dt.date(2026, 12, 10), "us", "add", "198.51.100.11")
    at = dt.datetime(2026, 11, 26, tzinfo=UTC)
    notice = notice_status(change, {}, at, 7, held={change.change_id})
    assert (notice.status, notice.announced, notice.effective) == (NoticeStatus.HELD, False, None)
    assert notice_status(change, {}, at, 7).status is NoticeStatus.DUE
