"""The publish and report jobs called as a library: typed inputs, typed results, nothing printed."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from smtp_egress import errors
from smtp_egress.dates import start_of
from smtp_egress.jobs.publish import PublishInputs, render_region, write_static_tree
from smtp_egress.jobs.report import ReportInputs, build
from smtp_egress.ledger import Ledger
from smtp_egress.plan import load_plan

NOW = start_of(dt.date(2026, 11, 26))


@pytest.fixture
def state(tmp_path, example_plan):
    plan_path = example_plan
    db = f"sqlite:///{tmp_path}/ledger.db"
    plan = load_plan(plan_path)
    ledger = Ledger(db, create=True)
    ledger.announce(plan.changes("us")[0], NOW, plan.notice_days, plan.sha256, [])
    ledger.close()
    return str(plan_path), db, tmp_path


def test_render_region_returns_the_document_and_prints_nothing(state, capsys):
    plan_path, db, _ = state
    rendered = render_region(PublishInputs(plan_path, db, NOW), "us")
    assert rendered.document["ip_addresses"] == ["198.51.100.10", "198.51.100.12"]
    assert [u["ip"] for u in rendered.document["upcoming"]] == ["198.51.100.11"]
    assert capsys.readouterr() == ("", "")


def test_an_unknown_region_is_named_before_the_ledger_is_opened(state):
    plan_path, _, tmp_path = state
    db = f"sqlite:///{tmp_path}/never.db"
    with pytest.raises(errors.ConfigError, match="region 'mars' is not in the plan"):
        render_region(PublishInputs(plan_path, db, NOW), "mars")
    assert not (tmp_path / "never.db").exists()


def test_the_static_tree_lists_what_it_wrote_with_headers_last(state, capsys):
    plan_path, db, tmp_path = state
    tree = write_static_tree(PublishInputs(plan_path, db, NOW), tmp_path / "site", "https://ips.example.com")
    assert capsys.readouterr() == ("", "")
    rel = sorted(p.relative_to(tmp_path / "site").as_posix() for p in tree.files)
    assert "us/v1/info/ip_addresses" in rel and "eu/v1/info/ip_addresses.txt" in rel
    headers = json.loads(tree.headers.read_text())
    assert sorted(headers) == rel
    assert all(tree.headers.stat().st_mtime_ns >= p.stat().st_mtime_ns for p in tree.files)


def test_the_report_job_returns_the_typed_record(state):
    plan_path, db, _ = state
    report = build(ReportInputs(plan_path, db, generated_at=NOW + dt.timedelta(hours=1), at=NOW))
    us = next(r for r in report.regions if r.region == "us")
    assert [c.change_id for c in us.upcoming] == ["us/add/198.51.100.11/2026-12-10"]
    assert report.provenance.ledger_url == db and report.provenance.at == NOW


def test_the_report_job_refuses_a_missing_ledger_instead_of_creating_one(state):
    plan_path, _, tmp_path = state
    with pytest.raises(errors.ConfigError, match="no ledger at"):
        build(ReportInputs(plan_path, f"sqlite:///{tmp_path}/typo.db", generated_at=NOW))
    assert not (tmp_path / "typo.db").exists()
