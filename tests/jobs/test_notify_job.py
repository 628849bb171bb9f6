"""The daily job called as a library (no argv, no environment): typed inputs in, typed facts out, nothing printed."""

from __future__ import annotations

import datetime as dt
import mailbox

import pytest

from smtp_egress import errors
from smtp_egress.dates import start_of
from smtp_egress.document import render
from smtp_egress.jobs.notify import NoticeSettings, NotifyInputs, run_notify
from smtp_egress.ledger import Ledger, Workspace
from smtp_egress.notices.channels import CHANNELS
from smtp_egress.plan import load_plan

DAY = dt.date(2026, 11, 26)


@pytest.fixture
def setup(tmp_path, example_plan):
    plan_path = example_plan
    db = f"sqlite:///{tmp_path}/ledger.db"
    ledger = Ledger(db, create=True, simulation=True)
    ledger.upsert_workspaces(
        [
            Workspace("ws-1", "us", {"email": "ops@one.example"}),
            Workspace("ws-2", "us", {"email": "it@two.example"}),
            Workspace("ws-3", "eu", {"email": "eu@three.example"}),
        ],
        start_of(DAY),
    )
    ledger.close()
    published = tmp_path / "published-us.json"
    published.write_bytes(render(load_plan(plan_path), "us", {}, start_of(DAY)).json_bytes)

    email = CHANNELS["email"].settings({"outbox": str(tmp_path / "outbox")})

    def inputs(**changes) -> NotifyInputs:
        base = NotifyInputs(
            region="us",
            published=str(published),
            plan_path=str(plan_path),
            db_url=db,
            moment=start_of(DAY),
            notices=NoticeSettings(channels={"email": email}),
        )
        return NotifyInputs(**{**base.__dict__, **changes})

    return inputs, db, tmp_path


def test_the_job_announces_and_delivers_and_returns_what_it_did(setup, capsys):
    inputs, _db, tmp_path = setup
    result = run_notify(inputs())
    assert capsys.readouterr() == ("", "")  # a job prints nothing: the caller renders
    assert sorted(a.change.change_id for a in result.announced) == [
        "us/add/198.51.100.11/2026-12-10",
        "us/remove/198.51.100.12/2026-12-20",
    ]
    assert {a.workspaces for a in result.announced} == {2} and len({a.batch_id for a in result.announced}) == 1
    assert result.delivery is not None and (result.delivery.sent, result.delivery.failed) == (2, 0)
    assert result.told == ((result.announced[0].batch_id, start_of(DAY)),)  # a simulation records its moment
    assert result.problems == [] and result.exit_code == errors.OK
    assert len(list(mailbox.Maildir(str(tmp_path / "outbox"), create=False))) == 2
    again = run_notify(inputs())
    assert again.announced == () and again.delivery is None and again.exit_code == errors.OK


def test_a_dry_run_reports_what_would_be_announced_and_records_nothing(setup):
    inputs, db, _ = setup
    result = run_notify(inputs(dry_run=True))
    assert len(result.announced) == 2 and result.delivery is None
    ledger = Ledger(db)
    try:
        assert ledger.announcements() == {}
    finally:
        ledger.close()


def test_an_unusable_published_document_is_a_finding_with_exit_3_not_an_exception(setup):
    inputs, _db, tmp_path = setup
    html = tmp_path / "error.html"
    html.write_text("<html><body>502 Bad Gateway</body></html>")
    result = run_notify(inputs(published=str(html)))
    assert result.unusable and result.diff is None and result.announced == ()
    assert result.exit_code == errors.PUBLISHED_UNUSABLE
    assert [p.exit_code for p in result.problems] == [errors.PUBLISHED_UNUSABLE]


def test_the_fetch_is_an_argument(setup):
    inputs, _, _ = setup
    seen = []

    def fetch(source: str, region: str):
        seen.append((source, region))
        raise errors.PublishedUnusable("the endpoint answered 503 three times")

    result = run_notify(inputs(published="https://ips.example.com/v1/info/ip_addresses"), fetch=fetch)
    assert seen == [("https://ips.example.com/v1/info/ip_addresses", "us")]
    assert result.unusable == "the endpoint answered 503 three times"


def test_a_short_notice_reason_announces_a_close_change_as_an_exception(setup):
    inputs, _, _ = setup
    late = start_of(dt.date(2026, 12, 5))
    refused = run_notify(inputs(moment=late, dry_run=True))
    assert [s.change.action for s in refused.refused_short] == ["add"]
    assert refused.exit_code == errors.SHORT_NOTICE
    allowed = run_notify(inputs(moment=late, short_notice_reason="INC-1: provider outage"))
    assert [(a.change.action, a.reason) for a in allowed.announced] == [
        ("remove", None),
        ("add", "INC-1: provider outage"),
    ]  # due changes first, then the exceptions
    assert allowed.refused_short == () and allowed.exit_code == errors.OK
