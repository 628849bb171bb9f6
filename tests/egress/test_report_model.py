"""The compliance record's model, built from a real plan and a real ledger (SQLite and PostgreSQL).

``build_sample_ledger`` is also what the ``egress report`` CLI and browser tests render: two regions,
a change announced in time, one announced late without exception (delayed), a short-notice exception,
a planned change never announced, an announcement whose change left the plan, and deliveries sent,
failed and pending (one workspace accepted undelivered by a recorded decision). Each change is told when
its last workspace heard of it (five minutes after it was recorded), or at the decision.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import subprocess
from pathlib import Path

import pytest

from smtp_egress.dates import UTC
from smtp_egress.ledger import Ledger, NoticeTally, Workspace
from smtp_egress.masking import mask_url
from smtp_egress.plan import Change, load_plan
from smtp_egress.report import Provenance, build_report, plan_git_info
from smtp_egress.report.model import DeliveryCounts, Undelivered

PLAN = """\
notice_days: 7
regions:
  us:
    - ip: 198.51.100.10
    - ip: 198.51.100.11
      active_from: 2026-12-10     # announced 2026-11-26: 13 days of notice, in time
    - ip: 198.51.100.12
      retire_on: 2026-12-20       # announced 2026-12-16 09:00 (3 days), no exception: takes effect 2026-12-24
    - ip: 198.51.100.13
      active_from: 2027-01-20     # planned, never announced
  eu:
    - ip: 203.0.113.20
    - ip: 203.0.113.21
      active_from: 2026-12-18     # announced 2026-12-15 12:00 (2 days) as a short-notice exception
"""
REASON = 'INC-42 <script>alert("x")</script> | see https://status.example.com/inc/42'
WEBHOOK_ERROR = "HTTP 502 from https://hooks.a.example/ip: <html><body>Bad Gateway</body></html>"
WORKSPACES = [
    Workspace("ws-a", "us", {"email": "ops@a.example", "webhook": "https://hooks.a.example/ip"}),
    Workspace("ws-b", "us", {"email": "it@b.example"}),
    Workspace("ws-c", "eu", {"email": "c@c.example"}),
    Workspace("ws-d", "eu", {"email": "d@d.example"}),
]
AT = dt.datetime(2026, 12, 22, tzinfo=UTC)  # the report's moment in most tests
GENERATED = dt.datetime(2026, 12, 22, 8, 30, tzinfo=UTC)
DECIDED = dt.datetime(2026, 12, 15, 13, 0, tzinfo=UTC)  # ws-d accepted undelivered
DECISION = "account closed; see https://tickets.example.com/7"
# An announcement whose change the plan no longer holds (its addition was dropped from the plan).
ORPHAN = Change(dt.date(2026, 12, 5), "us", "add", "198.51.100.14")


def build_sample_ledger(url: str, plan_path: Path) -> None:
    """Write PLAN to ``plan_path`` and record the sample announcements and deliveries in the ledger at ``url``."""
    plan_path.write_text(PLAN)
    plan = load_plan(plan_path)
    changes = {(c.region, c.ip): c for c in plan.changes()}
    ledger = Ledger(url, create=True)
    try:
        ledger.upsert_workspaces(WORKSPACES, dt.datetime(2026, 11, 1, tzinfo=UTC))
        ledger.announce(ORPHAN, dt.datetime(2026, 11, 20, 10, 0, tzinfo=UTC), 7, "0" * 64, [])
        us, eu = ledger.workspaces("us"), ledger.workspaces("eu")
        ledger.announce(changes["us", "198.51.100.11"], dt.datetime(2026, 11, 26, 9, 0, tzinfo=UTC), 7, plan.sha256, us)
        for d in ledger.unsent("us"):
            ledger.mark_sent(d, dt.datetime(2026, 11, 26, 9, 5, tzinfo=UTC))
        ledger.announce(changes["us", "198.51.100.12"], dt.datetime(2026, 12, 16, 9, 0, tzinfo=UTC), 7, plan.sha256, us)
        for d in ledger.unsent("us"):
            if d.channel == "webhook":
                ledger.mark_failed(d, WEBHOOK_ERROR)
            else:
                ledger.mark_sent(d, dt.datetime(2026, 12, 16, 9, 5, tzinfo=UTC))
        ledger.announce(
            changes["eu", "203.0.113.21"],
            dt.datetime(2026, 12, 15, 12, 0, tzinfo=UTC),
            7,
            plan.sha256,
            eu,
            exception_reason=REASON,
        )
        for d in ledger.unsent("eu"):
            if d.workspace_id == "ws-c":
                ledger.mark_sent(d, dt.datetime(2026, 12, 15, 12, 5, tzinfo=UTC))  # ws-d stays pending
        ledger.accept_undelivered("eu", "ws-d", "compliance@example.com", DECISION, DECIDED)
        ledger.settle()
    finally:
        ledger.close()


def provenance(plan_path: Path, url: str, at: dt.datetime = AT, since: dt.date | None = None) -> Provenance:
    plan = load_plan(plan_path)
    return Provenance(
        generated_at=GENERATED,
        at=at,
        since=since,
        plan_path=str(plan_path),
        plan_sha256=plan.sha256,
        notice_days=plan.notice_days,
        git=None,
        ledger_url=mask_url(url),
        version="0.1.0",
    )


@pytest.fixture
def sample(db_url, tmp_path):
    plan_path = tmp_path / "plan.yaml"
    build_sample_ledger(db_url, plan_path)

    def report(**kwargs):
        ledger = Ledger(db_url)
        try:
            return build_report(load_plan(plan_path), ledger, provenance(plan_path, db_url, **kwargs))
        finally:
            ledger.close()

    return report


def rows(region_report):
    return [(c.action, c.ip, c.state, c.effective, c.lead_days, c.flags) for c in region_report.changes]


def test_history_upcoming_live_and_flags(sample):
    report = sample()
    eu, us = report.regions
    assert (eu.region, us.region) == ("eu", "us") and eu.in_plan and us.in_plan
    assert (eu.workspaces, us.workspaces) == (2, 2)
    assert us.live == ("198.51.100.10", "198.51.100.11", "198.51.100.12")  # the late removal waits until 12-24
    assert eu.live == ("203.0.113.20", "203.0.113.21")  # the exception took effect as planned
    d = dt.date
    assert rows(us) == [
        ("add", "198.51.100.14", "not_in_plan", d(2026, 12, 5), 14, ("not_in_plan",)),
        ("add", "198.51.100.11", "in_effect", d(2026, 12, 10), 13, ()),
        ("remove", "198.51.100.12", "pending", d(2026, 12, 24), 3, ("late_notice", "delivery_failed")),
        ("add", "198.51.100.13", "not_announced", None, None, ("not_announced",)),
    ]
    assert rows(eu) == [("add", "203.0.113.21", "in_effect", d(2026, 12, 18), 2, ("short_notice_exception",))]

    orphan, in_time, late, unannounced = us.changes
    assert not orphan.in_plan and orphan.deliveries == DeliveryCounts(0, 0, 0, 0)
    assert in_time.deliveries == DeliveryCounts(workspaces_notified=2, sent=3, failed=0, pending=0)
    assert in_time.announced_at == dt.datetime(2026, 11, 26, 9, 5, tzinfo=UTC) and not in_time.delayed  # told
    assert in_time.recorded_at == dt.datetime(2026, 11, 26, 9, 0, tzinfo=UTC) and in_time.batch_id
    assert in_time.notices == NoticeTally(delivered=2) and late.notices == NoticeTally(delivered=2)
    assert late.deliveries == DeliveryCounts(workspaces_notified=2, sent=2, failed=1, pending=0)
    assert late.undelivered == (Undelivered("ws-a", "webhook", "failed", 1, WEBHOOK_ERROR),)
    assert late.delayed and late.planned == d(2026, 12, 20) and late.exception_reason is None
    assert unannounced.announced_at is None and unannounced.deliveries is None and unannounced.notice_days == 7

    (exception,) = eu.changes
    assert eu.exceptions == (exception,) and us.exceptions == ()
    assert exception.exception_reason == REASON and not exception.delayed
    assert exception.deliveries == DeliveryCounts(workspaces_notified=1, sent=1, failed=0, pending=1)
    assert exception.undelivered == (Undelivered("ws-d", "email", "pending", 0, None),)
    assert exception.notices == NoticeTally(delivered=1, waived=1) and exception.announced_at == DECIDED
    ((waiver),) = exception.waivers
    assert (waiver.workspace_id, waiver.waived_at, waiver.waived_by, waiver.reason) == (
        "ws-d",
        DECIDED,
        "compliance@example.com",
        DECISION,
    )

    assert us.upcoming == (late,) and eu.upcoming == ()
    s = report.summary
    assert (s.regions, s.changes, s.flags, s.flagged_changes, s.exceptions, s.upcoming) == (("eu", "us"), 5, 5, 4, 1, 1)
    assert s.flags_by_kind == {
        "late_notice": 1,
        "short_notice_exception": 1,
        "not_announced": 1,
        "not_in_plan": 1,
        "delivery_failed": 1,
        "notices_undelivered": 0,
    }


def test_a_change_recorded_but_not_told_by_the_moment_is_held(sample):
    """At 12:30 the eu exception was recorded (12:00) but ws-d's notice was not settled until 13:00."""
    (eu, _) = sample(at=dt.datetime(2026, 12, 15, 12, 30, tzinfo=UTC)).regions
    (held,) = eu.changes
    assert (held.state, held.announced_at, held.effective, held.lead_days) == ("held", None, None, None)
    assert held.recorded_at == dt.datetime(2026, 12, 15, 12, 0, tzinfo=UTC) and eu.live == ("203.0.113.20",)
    assert held.flags == ()  # its tally today is settled: ws-c told, ws-d accepted undelivered
    (eu, _) = sample(at=dt.datetime(2026, 12, 15, 13, 0, tzinfo=UTC)).regions
    assert eu.changes[0].state == "pending" and eu.changes[0].announced_at == DECIDED


def test_a_change_whose_notices_are_not_all_delivered_is_held_and_flagged_with_the_counts(tmp_path):
    plan_path, url = tmp_path / "plan.yaml", f"sqlite:///{tmp_path}/l.db"
    plan_path.write_text(PLAN)
    plan = load_plan(plan_path)
    change = next(c for c in plan.changes("us") if c.ip == "198.51.100.11")
    ledger = Ledger(url, create=True)
    try:
        ledger.upsert_workspaces(WORKSPACES, dt.datetime(2026, 11, 1, tzinfo=UTC))
        ledger.announce(change, dt.datetime(2026, 11, 26, 9, 0, tzinfo=UTC), 7, plan.sha256, ledger.workspaces("us"))
        for d in ledger.unsent("us"):
            if d.workspace_id == "ws-a":
                ledger.mark_sent(d, dt.datetime(2026, 11, 26, 9, 5, tzinfo=UTC))
            else:
                ledger.mark_failed(d, "550 5.1.1 no such mailbox")
        ledger.settle()

        def record(day: dt.date):
            moment = dt.datetime.combine(day, dt.time(), UTC)
            _, us = build_report(plan, ledger, provenance(plan_path, url, at=moment)).regions
            return us, next(c for c in us.changes if c.ip == change.ip)

        us, held = record(dt.date(2026, 11, 30))  # 10 days before its day: held, not yet flagged
        assert (held.state, held.effective, held.flags) == ("held", None, ("delivery_failed",))
        assert held.notices == NoticeTally(delivered=1, failed=1)
        us, held = record(dt.date(2026, 12, 3))  # within notice_days of its day: flagged
        assert held.flags == ("delivery_failed", "notices_undelivered")
        us, held = record(dt.date(2026, 12, 10))  # its planned day: not published, nobody may rely on it
        assert change.ip not in us.live and us.upcoming == ()
    finally:
        ledger.close()


def test_at_leaves_out_announcements_made_later(sample):
    eu, us = sample(at=dt.datetime(2026, 12, 12, tzinfo=UTC)).regions
    assert [(c.ip, c.state) for c in us.changes] == [
        ("198.51.100.14", "not_in_plan"),
        ("198.51.100.11", "in_effect"),
        ("198.51.100.12", "not_announced"),
        ("198.51.100.13", "not_announced"),
    ]
    assert [(c.ip, c.state, c.deliveries) for c in eu.changes] == [("203.0.113.21", "not_announced", None)]
    assert eu.live == ("203.0.113.20",) and us.upcoming == ()


def test_a_late_removal_takes_effect_after_its_notice_period(sample):
    _, us = sample(at=dt.datetime(2026, 12, 23, tzinfo=UTC)).regions
    assert "198.51.100.12" in us.live and len(us.upcoming) == 1
    _, us = sample(at=dt.datetime(2026, 12, 24, tzinfo=UTC)).regions
    assert us.live == ("198.51.100.10", "198.51.100.11") and us.upcoming == ()
    assert [c.state for c in us.changes if c.ip == "198.51.100.12"] == ["in_effect"]


def test_since_keeps_changes_announced_or_effective_from_that_day(sample):
    eu, us = sample(since=dt.date(2026, 12, 15)).regions
    # 198.51.100.11 (announced 11-26, effective 12-10) and the orphan (11-20, 12-05) are older: left out.
    assert [c.ip for c in us.changes] == ["198.51.100.12", "198.51.100.13"]
    assert [c.ip for c in eu.changes] == ["203.0.113.21"]
    assert len(us.upcoming) == 1 and us.live == ("198.51.100.10", "198.51.100.11", "198.51.100.12")
    eu, us = sample(since=dt.date(2026, 12, 19)).regions
    assert [c.ip for c in us.changes] == ["198.51.100.12", "198.51.100.13"] and eu.changes == ()
    assert eu.exceptions == () and sample(since=dt.date(2026, 12, 19)).summary.exceptions == 0


def test_records_are_frozen(sample):
    (_, us) = sample().regions
    with pytest.raises(dataclasses.FrozenInstanceError):
        us.changes[0].state = "in_effect"


@pytest.mark.parametrize(
    "url, masked",
    [
        (
            "postgresql+psycopg://egress:s3cr%40t@db.example:5432/ledger",
            "postgresql+psycopg://egress:***@db.example:5432/ledger",
        ),
        ("postgresql+psycopg://egress@db.example/ledger", "postgresql+psycopg://egress@db.example/ledger"),
        ("sqlite:///.egress/egress.db", "sqlite:///.egress/egress.db"),
    ],
)
def test_mask_url(url, masked):
    assert mask_url(url) == masked


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(cwd), "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def test_plan_git_info_commit_and_working_copy(tmp_path):
    repo = tmp_path / "repo"
    (repo / "stacks").mkdir(parents=True)
    git(repo, "init", "-q")
    plan_path = repo / "stacks" / "egress-ips.yaml"
    plan_path.write_text(PLAN)
    assert plan_git_info(plan_path).commit is None and plan_git_info(plan_path).modified  # untracked
    git(repo, "add", "stacks/egress-ips.yaml")
    git(repo, "commit", "-q", "-m", "plan")
    (repo / "other.txt").write_text("x")
    git(repo, "add", "other.txt")
    git(repo, "commit", "-q", "-m", "a later commit that does not touch the plan")
    first = git(repo, "log", "-1", "--format=%H", "--", "stacks/egress-ips.yaml")
    info = plan_git_info(plan_path)
    assert info.commit == first != git(repo, "rev-parse", "HEAD")
    assert info.path == "stacks/egress-ips.yaml" and not info.modified
    plan_path.write_text(PLAN + "# edited\n")
    assert plan_git_info(plan_path).modified
    outside = tmp_path / "outside.yaml"
    outside.write_text(PLAN)
    assert plan_git_info(outside) is None


def test_a_region_that_left_the_plan_keeps_its_announcements(tmp_path):
    plan_path, url = tmp_path / "plan.yaml", f"sqlite:///{tmp_path}/l.db"
    build_sample_ledger(url, plan_path)
    ledger = Ledger(url)
    try:
        ledger.announce(
            Change(dt.date(2026, 12, 1), "ap", "add", "192.0.2.7"),
            dt.datetime(2026, 11, 2, tzinfo=UTC),
            7,
            "1" * 64,
            [],
        )
        ap, _eu, _us = build_report(load_plan(plan_path), ledger, provenance(plan_path, url)).regions
    finally:
        ledger.close()
    assert (ap.region, ap.in_plan, ap.live, ap.upcoming) == ("ap", False, (), ())
    assert [(c.ip, c.state, c.flags, c.plan_sha256) for c in ap.changes] == [
        ("192.0.2.7", "not_in_plan", ("not_in_plan",), "1" * 64)
    ]
