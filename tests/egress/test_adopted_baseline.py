"""The adopted baseline in the domain: which past-dated changes a published list reflects (``baseline.fit``),
the one notice rule for adopted announcements (never late, in effect as planned), the ledger's record of a
baseline (real SQLite and PostgreSQL), the changes feed and the compliance report."""

from __future__ import annotations

import dataclasses
import datetime as dt
import textwrap

import pytest
import sqlalchemy as sa

from smtp_egress.baseline import fit
from smtp_egress.dates import UTC, start_of
from smtp_egress.document import changes_document, render
from smtp_egress.errors import DuplicateAnnouncement
from smtp_egress.ledger import Ledger, Workspace
from smtp_egress.plan import parse_plan
from smtp_egress.timeline import Announcement, NoticeStatus, notice_status, published_addresses

D = dt.date.fromisoformat
DAY = D("2026-11-30")
ADOPTED_AT = dt.datetime(2026, 11, 30, 10, 15, 42, 654321, tzinfo=UTC)
PLAN = parse_plan(
    textwrap.dedent(
        """\
        regions:
          us:
            - ip: 198.51.100.9
              active_from: 2024-02-01
              retire_on: 2025-06-01
            - ip: 198.51.100.10
            - ip: 198.51.100.15
              active_from: 2025-03-01
            - ip: 198.51.100.16
              retire_on: 2026-06-01
            - ip: 198.51.100.17
              active_from: 2026-11-30
            - ip: 198.51.100.20
              active_from: 2026-12-14
            - ip: 2001:db8::1
              active_from: 2025-01-01
        """
    ).encode(),
    "plan.yaml",
)
LISTED = ["198.51.100.10", "198.51.100.15", "198.51.100.16", "198.51.100.17", "2001:DB8::1"]


def ids(changes) -> list[str]:
    return [c.change_id for c in changes]


# Which changes a list reflects --------------------------------------------------------------------------


def test_past_changes_the_list_reflects_are_adopted_and_the_rest_sorted_out():
    found = fit(PLAN, "us", LISTED, DAY)
    assert found.published == ("198.51.100.10", "198.51.100.15", "198.51.100.16", "198.51.100.17", "2001:db8::1")
    assert ids(found.adopt) == [
        "us/add/198.51.100.9/2024-02-01",  # added then retired in the past, gone from the list: both adopted
        "us/add/2001:db8::1/2025-01-01",  # IPv6, listed in another spelling
        "us/add/198.51.100.15/2025-03-01",
        "us/remove/198.51.100.9/2025-06-01",
        "us/add/198.51.100.17/2026-11-30",  # effective today counts as past: it sends today
    ]
    assert ids(found.overdue) == ["us/remove/198.51.100.16/2026-06-01"]  # retired per the plan, still listed
    assert ids(found.future) == ["us/add/198.51.100.20/2026-12-14"]
    assert (found.unknown, found.early, found.unpublished) == ((), (), ())


def test_what_the_plan_does_not_send_from_and_what_it_sends_unlisted_are_named():
    listed = [a for a in LISTED if a != "198.51.100.15"] + ["203.0.113.5", "198.51.100.20"]
    found = fit(PLAN, "us", listed, DAY)
    assert found.unknown == ("203.0.113.5",)
    assert found.early == (("198.51.100.20", D("2026-12-14")),)
    assert found.unpublished == ("198.51.100.15",)


# The one rule: an adopted announcement is in effect as planned --------------------------------------------


def test_an_adopted_announcement_after_its_day_is_in_effect_as_planned_never_late():
    change = next(c for c in PLAN.changes("us") if c.ip == "198.51.100.15")
    plain = Announcement.of(change, ADOPTED_AT, 7)
    adopted = dataclasses.replace(plain, adopted=True)
    assert plain.late and plain.effective == D("2026-12-08")  # told after its day: it would wait
    assert not adopted.late and adopted.effective == change.effective and not adopted.in_time
    notice = notice_status(change, {change.change_id: adopted}, start_of(DAY), 7)
    assert (notice.status, notice.adopted, notice.late, notice.short_notice_exception) == (
        NoticeStatus.IN_EFFECT,
        True,
        False,
        False,
    )
    assert notice_status(change, {change.change_id: plain}, start_of(DAY), 7).late


# The ledger's record ---------------------------------------------------------------------------------


def test_the_ledger_records_a_baseline_as_one_told_batch_without_workspaces_or_deliveries(db_url):
    ledger = Ledger(db_url, create=True)
    try:
        ledger.upsert_workspaces([Workspace("ws-1", "us", {"email": "ops@one.example"})], ADOPTED_AT)
        found = fit(PLAN, "us", LISTED, DAY)
        batch = ledger.record_adopted(
            "us", found.adopt, ADOPTED_AT, 7, PLAN.sha256, "https://***@ips.example.com/v1", "ab" * 32
        )
        second = ADOPTED_AT.replace(microsecond=0)  # the whole second: a list published right after holds it
        assert (batch.recorded_at, batch.told_at, batch.workspaces) == (second, second, 0)
        records = ledger.recorded("us")
        assert sorted(records) == sorted(ids(found.adopt))
        assert all(r.adopted and r.told_at == second and r.batch_id == batch.batch_id for r in records.values())
        anns = ledger.announcements("us")
        assert all(a.adopted and a.effective == a.planned for a in anns.values())
        assert [str(ip) for ip in published_addresses(PLAN, "us", anns, DAY)] == [
            "198.51.100.10",
            "198.51.100.15",
            "198.51.100.16",
            "198.51.100.17",
            "2001:db8::1",
        ]
        assert ledger.unsent() == [] and ledger.tallies("us") == {}
        with ledger.conn.begin():
            row = ledger.conn.execute(sa.text("SELECT adopted_from, adopted_sha256 FROM batches")).one()
        assert tuple(row) == ("https://***@ips.example.com/v1", "ab" * 32)
        with pytest.raises(DuplicateAnnouncement):
            ledger.record_adopted("us", found.adopt[:1], ADOPTED_AT, 7, PLAN.sha256, "x", "cd" * 32)
        notify_batch = ledger.record("us", [(found.future[0], None)], ADOPTED_AT, 7, PLAN.sha256, [])
        assert not any(r.adopted for r in notify_batch.changes)
        assert not ledger.recorded("us")[found.future[0].change_id].adopted
    finally:
        ledger.close()


# What customers and reviewers see ---------------------------------------------------------------------------


def test_the_changes_feed_leaves_the_baseline_out_and_the_document_lists_it():
    found = fit(PLAN, "us", LISTED, DAY)
    at = ADOPTED_AT.replace(microsecond=0)
    anns = {c.change_id: dataclasses.replace(Announcement.of(c, at, 7), adopted=True) for c in found.adopt}
    later = start_of(DAY) + dt.timedelta(hours=12)
    future = found.future[0]
    anns[future.change_id] = Announcement.of(future, later, 7)
    feed = changes_document(PLAN, anns, later)
    assert [c["id"] for c in feed["changes"]] == [future.change_id]
    assert render(PLAN, "us", anns, later).document["ip_addresses"] == list(found.published)


def test_the_report_shows_the_baseline_as_adopted_with_its_source_and_no_lead(db_url, tmp_path):
    from smtp_egress.report.model import ADOPTED, build_report
    from smtp_egress.report.provenance import Provenance
    from smtp_egress.report.render import render as render_report

    ledger = Ledger(db_url, create=True)
    try:
        found = fit(PLAN, "us", LISTED, DAY)
        batch = ledger.record_adopted("us", found.adopt, ADOPTED_AT, 7, PLAN.sha256, "ips.json", "ef" * 32)
        provenance = Provenance(
            plan_path="plan.yaml",
            plan_sha256=PLAN.sha256,
            git=None,
            ledger_url="sqlite://",
            generated_at=start_of(DAY) + dt.timedelta(hours=12),
            at=start_of(DAY) + dt.timedelta(hours=12),
            since=None,
            notice_days=7,
            version="test",
        )
        report = build_report(PLAN, ledger, provenance)
    finally:
        ledger.close()
    (us,) = report.regions
    adopted = [c for c in us.changes if c.adopted is not None]
    assert sorted(c.change_id for c in adopted) == sorted(ids(found.adopt))
    assert all(c.state == ADOPTED and c.lead_days is None and not c.flags and not c.delayed for c in adopted)
    assert {c.adopted for c in adopted} == {adopted[0].adopted}
    assert (adopted[0].adopted.source, adopted[0].adopted.batch_id) == ("ips.json", batch.batch_id)
    assert [(a.sha256, n) for a, n in us.baselines] == [("ef" * 32, 5)]
    # Flagged: the overdue removal and the future addition (not announced); the baseline is no flag.
    flagged = sorted(c.change_id for c in us.changes if c.flags)
    assert flagged == ["us/add/198.51.100.20/2026-12-14", "us/remove/198.51.100.16/2026-06-01"]
    html = render_report(report, "html")
    assert 'id="baseline-us"' in html and 'adopted baseline, <span class="nowrap">2026-11-30</span>T10:15:42Z' in html
