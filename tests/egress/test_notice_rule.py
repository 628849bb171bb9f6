"""The notice rule lives in one place: change it there and every part that decides by it follows.

Each test runs twice: with the rule as it is, and with :func:`smtp_egress.timeline.earliest_compliant_day`
patched to demand one more day of notice. A module that restated the "enough notice?" comparison (or
called its own copy of the primitive) would keep the old answer under the patch, and its test would fail.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from smtp_egress import timeline
from smtp_egress.addresses import announcements_from_document, guard_violations
from smtp_egress.dates import start_of
from smtp_egress.diff import diff
from smtp_egress.document import render
from smtp_egress.ledger import Ledger
from smtp_egress.plan import load_plan
from smtp_egress.report import Provenance, build_report
from smtp_egress.timeline import Announcement

D = dt.date.fromisoformat
PLAN = load_plan(Path(__file__).resolve().parents[1] / "data" / "example-plan.yaml")
ADD, REMOVE = PLAN.changes("us")
EXACTLY_7_DAYS = start_of(D("2026-12-03"))  # the latest announcement that is in time for ADD today


@pytest.fixture(params=[0, 1], ids=["rule as is", "rule demands one more day"])
def extra(request, monkeypatch) -> int:
    """Days the notice rule demands beyond ``notice_days`` in this run (0: unchanged)."""
    if request.param:
        real = timeline.earliest_compliant_day
        monkeypatch.setattr(timeline, "earliest_compliant_day", lambda at, days: real(at, days + request.param))
    return request.param


ANNOUNCED_IN_TIME = {ADD.change_id: Announcement.of(ADD, EXACTLY_7_DAYS, 7)}  # by the rule as it is


def test_announcement_effective_day_follows(extra):
    ann = ANNOUNCED_IN_TIME[ADD.change_id]
    assert ann.effective == D("2026-12-10") + dt.timedelta(days=extra)
    assert ann.in_time == (extra == 0) and ann.late == (extra > 0)


def test_diff_due_and_short_follow(extra):
    r = diff(PLAN, "us", {}, ["198.51.100.10", "198.51.100.12"], EXACTLY_7_DAYS)
    if extra:
        (short,) = r.short
        assert short.change == ADD and short.earliest_compliant == D("2026-12-11") and r.due == (REMOVE,)
    else:
        assert r.due == (ADD, REMOVE) and r.short == ()


def test_guard_follows(extra):
    violations = guard_violations(PLAN, "us", ANNOUNCED_IN_TIME, start_of(D("2026-12-10")))
    if extra:
        (v,) = violations
        assert "announced 2026-12-03" in v.message and "may be attached from 2026-12-11" in v.message
    else:
        assert violations == []
    (v, _) = guard_violations(PLAN, "us", {}, start_of(D("2026-12-20")))
    assert f"may be attached from 2026-12-{27 + extra}" in v.message


def test_announcements_recovered_from_a_document_stay_in_time(extra):
    """A change the document shows as done was announced in time, whatever the rule demands."""
    anns = announcements_from_document(PLAN, "us", ["198.51.100.10", "198.51.100.11"], [])
    assert all(a.in_time for a in anns.values())
    assert guard_violations(PLAN, "us", anns, start_of(D("2026-12-21"))) == []


def test_published_document_follows(extra):
    doc = json.loads(render(PLAN, "us", ANNOUNCED_IN_TIME, start_of(D("2026-12-10"))).json_bytes)
    assert ("198.51.100.11" in doc["ip_addresses"]) == (extra == 0)
    expected = (
        [{"ip": "198.51.100.11", "action": "add", "effective": "2026-12-11", "announced_at": "2026-12-03T00:00:00Z"}]
        if extra
        else []
    )
    assert doc["upcoming"] == expected


def test_report_flags_and_state_follow(extra, tmp_path):
    ledger = Ledger(f"sqlite:///{tmp_path}/ledger.db", create=True)
    try:
        ledger.announce(ADD, EXACTLY_7_DAYS, 7, PLAN.sha256, [])
        at = start_of(D("2026-12-10"))
        provenance = Provenance(
            generated_at=at,
            at=at,
            since=None,
            plan_path=PLAN.path,
            plan_sha256=PLAN.sha256,
            notice_days=7,
            git=None,
            ledger_url="sqlite://",
            version="0",
        )
        region = next(r for r in build_report(PLAN, ledger, provenance).regions if r.region == "us")
    finally:
        ledger.close()
    add = next(c for c in region.changes if c.change_id == ADD.change_id)
    found = (add.state, add.flags, add.effective, add.delayed)
    if extra:
        assert found == ("pending", ("late_notice",), D("2026-12-11"), True)
    else:
        assert found == ("in_effect", (), D("2026-12-10"), False)
    assert add.lead_days == 7  # the measure shown to people does not change; the verdict does
