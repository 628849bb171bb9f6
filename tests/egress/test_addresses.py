"""Address states for the gateways, and the deploy guard."""

import datetime as dt
from pathlib import Path

import pytest

from smtp_egress.addresses import GuardViolation, address_states, enforce_guard, guard_violations, should_attach
from smtp_egress.dates import start_of
from smtp_egress.plan import load_plan
from smtp_egress.timeline import Announcement

D = dt.date.fromisoformat
PLAN = load_plan(Path(__file__).resolve().parents[1] / "data" / "example-plan.yaml")
ADD, REMOVE = PLAN.changes("us")


def ann(change, day: str):
    return {
        change.change_id: Announcement(
            change.change_id, "us", change.ip, change.action, change.effective, start_of(D(day)), 7
        )
    }


def states(anns, day):
    return {s.ip: s.state for s in address_states(PLAN, "us", anns, D(day))}


def test_states_follow_announcements():
    assert states({}, "2026-11-26") == {"198.51.100.10": "live", "198.51.100.11": "planned", "198.51.100.12": "live"}
    anns = {**ann(ADD, "2026-11-26"), **ann(REMOVE, "2026-11-26")}
    assert states(anns, "2026-11-26") == {
        "198.51.100.10": "live",
        "198.51.100.11": "announced",
        "198.51.100.12": "retiring",
    }
    assert states(anns, "2026-12-10") == {"198.51.100.10": "live", "198.51.100.11": "live", "198.51.100.12": "retiring"}
    assert states(anns, "2026-12-20") == {"198.51.100.10": "live", "198.51.100.11": "live", "198.51.100.12": "retired"}


def test_guard_passes_when_everything_was_announced_in_time():
    anns = {**ann(ADD, "2026-11-26"), **ann(REMOVE, "2026-11-26")}
    for day in ("2026-11-26", "2026-12-10", "2026-12-20"):
        assert guard_violations(PLAN, "us", anns, start_of(D(day))) == []


def test_guard_refuses_unannounced_attach_and_detach_naming_dates():
    with pytest.raises(GuardViolation) as info:
        enforce_guard(PLAN, "us", {}, start_of(D("2026-12-20")))
    text = str(info.value)
    assert "198.51.100.11 is planned to send from 2026-12-10 but was never announced" in text
    assert "may be attached from 2026-12-27" in text
    assert "198.51.100.12 is planned to stop sending on 2026-12-20 but its removal was never announced" in text


def test_guard_refuses_late_announcement_until_notice_is_over():
    anns = ann(ADD, "2026-12-08")  # 2 days before the planned day: effective 2026-12-15
    (v,) = guard_violations(PLAN, "us", anns, start_of(D("2026-12-12")))
    assert "announced 2026-12-08" in v.message and "2026-12-15" in v.message
    assert guard_violations(PLAN, "us", anns, start_of(D("2026-12-15"))) == []


def test_override_is_returned_and_attaches_as_planned():
    found = enforce_guard(PLAN, "us", {}, start_of(D("2026-12-12")), override_reason="provider incident 4711")
    assert [v.ip for v in found] == ["198.51.100.11"]
    (s,) = [s for s in address_states(PLAN, "us", {}, D("2026-12-12")) if s.ip == "198.51.100.11"]
    assert should_attach(s, D("2026-12-12"), overridden=True) and not should_attach(
        s, D("2026-12-12"), overridden=False
    )


def test_announcements_recovered_from_a_published_document():
    from smtp_egress.addresses import announcements_from_document

    # Before anything is announced: the document lists .10 and .12 and nothing upcoming.
    assert announcements_from_document(PLAN, "us", ["198.51.100.10", "198.51.100.12"], []) == {}
    upcoming = [
        {"ip": "198.51.100.11", "action": "add", "effective": "2026-12-10", "announced_at": "2026-11-26T00:00:00Z"},
        {"ip": "198.51.100.12", "action": "remove", "effective": "2026-12-20", "announced_at": "2026-11-27T08:00:00Z"},
    ]
    anns = announcements_from_document(PLAN, "us", ["198.51.100.10", "198.51.100.12"], upcoming)
    assert anns[ADD.change_id].announced_at == start_of(D("2026-11-26"))
    assert states(anns, "2026-12-10")["198.51.100.11"] == "live"
    assert guard_violations(PLAN, "us", anns, start_of(D("2026-12-10"))) == []
    # After both took effect the document reflects them; the guard stays quiet.
    anns = announcements_from_document(PLAN, "us", ["198.51.100.10", "198.51.100.11"], [])
    assert set(anns) == {ADD.change_id, REMOVE.change_id}
    assert guard_violations(PLAN, "us", anns, start_of(D("2026-12-21"))) == []
    # A document that never listed .11 means its addition was never announced: the guard refuses.
    anns = announcements_from_document(PLAN, "us", ["198.51.100.10", "198.51.100.12"], [])
    assert [v.ip for v in guard_violations(PLAN, "us", anns, start_of(D("2026-12-12")))] == ["198.51.100.11"]


def test_an_address_still_attached_stays_listed_until_it_is_detached():
    """Detach, then publish: a removal in effect today is left out of the list's announcements while the address is
    attached; a later removal of an attached address, and an addition, are as announced."""
    import datetime as dt

    from smtp_egress.addresses import listed_while_attached
    from smtp_egress.plan import Change
    from smtp_egress.timeline import Announcement

    at = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    today = Announcement.of(Change(dt.date(2026, 12, 20), "us", "remove", "198.51.100.12"), at, 7)
    later = Announcement.of(Change(dt.date(2027, 1, 5), "us", "remove", "198.51.100.10"), at, 7)
    added = Announcement.of(Change(dt.date(2026, 12, 20), "us", "add", "198.51.100.11"), at, 7)
    other = Announcement.of(Change(dt.date(2026, 12, 20), "eu", "remove", "198.51.100.12"), at, 7)
    anns = {a.change_id: a for a in (today, later, added, other)}
    day = dt.date(2026, 12, 20)
    kept = listed_while_attached(anns, "us", {"198.51.100.10", "198.51.100.12"}, day)
    assert set(kept) == {later.change_id, added.change_id, other.change_id}
    assert listed_while_attached(anns, "us", {"198.51.100.10"}, day) == anns  # detached: its removal counts
