"""Branded domains in a real ledger (SQLite and PostgreSQL): revision 0009 reaches a ledger of 0006 with its data
(labels assigned lazily), states and history round-trip with aware times, and a removed workspace keeps its
history."""

from __future__ import annotations

import datetime as dt
import importlib.util
from pathlib import Path

import sqlalchemy as sa

from smtp_egress.dates import UTC
from smtp_egress.domains import store
from smtp_egress.domains.expected import expected_records
from smtp_egress.domains.records import DomainCheck, RecordCheck
from smtp_egress.domains.state import DomainState, advance
from smtp_egress.ledger import Ledger, Workspace
from smtp_egress.migrations import SCHEMA_REVISION
from smtp_egress.migrations.upgrade import upgrade

T0 = dt.datetime(2026, 12, 1, 6, 0, tzinfo=UTC)


_spec = importlib.util.spec_from_file_location("heartbeats_tests", Path(__file__).with_name("test_heartbeats.py"))
_heartbeats = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_heartbeats)
_migrate = _heartbeats._migrate  # run the shipped migrations up to a revision


def test_revision_0009_reaches_a_ledger_of_0006_and_labels_come_lazily(db_url):
    _migrate(db_url, "0006")
    engine = sa.create_engine(db_url)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO workspaces (workspace_id, region, updated_at) VALUES ('ws-1', 'us', '2026-11-30 09:00:00'),"
            " ('ws-2', 'us', '2026-11-30 09:00:00')"
        )
    engine.dispose()
    result = upgrade(db_url)
    assert (result.from_revision, result.to_revision) == ("0006", SCHEMA_REVISION)
    ledger = Ledger(db_url)
    try:
        rows = ledger.conn.execute(sa.text("SELECT workspace_id, bounce_label, tracking_domain FROM workspaces"))
        assert sorted(rows.all()) == [("ws-1", None, None), ("ws-2", None, None)]
        ledger.conn.commit()
        assert store.branded(ledger) == []  # no domains yet; but every workspace now has its label
        labels = dict(ledger.conn.execute(sa.text("SELECT workspace_id, bounce_label FROM workspaces")).all())
        ledger.conn.commit()
        assert all(labels.values()) and len(set(labels.values())) == 2
        assert ledger.assign_bounce_labels() == 0
    finally:
        ledger.close()


def test_states_and_history_round_trip_and_outlive_a_removed_workspace(db_url):
    ledger = Ledger(db_url, create=True)
    try:
        ledger.upsert_workspaces(
            [Workspace("ws-1", "us", {"email": "a@one.example"}, "one.example", "links.one.example")], T0
        )
        (domains,) = store.branded(ledger)
        expected = expected_records(domains, "egress.example.com")
        check = DomainCheck("ws-1", tuple(RecordCheck(e, "verified", (e.value,), "ok") for e in expected), T0)
        step = advance(None, "verified", T0)
        store.record(ledger, [(domains, check, step)])
        failing = advance(step.stored, "failed", T0 + dt.timedelta(hours=5))
        store.record(ledger, [(domains, DomainCheck("ws-1", (), T0 + dt.timedelta(hours=5)), failing)])
        assert store.states(ledger, [domains]) == {
            "ws-1": DomainState("verified", T0, failing_since=T0 + dt.timedelta(hours=5))
        }
        assert [h[:3] for h in store.history(ledger, "ws-1")] == [
            ("check", "verified", None),
            ("transition", "verified", None),
            ("check", "unknown", None),
        ]
        ledger.remove_workspace("ws-1", None, "tester", "gone", T0 + dt.timedelta(days=1))
        assert store.states(ledger, [domains]) == {}
        assert len(store.history(ledger, "ws-1")) == 3
    finally:
        ledger.close()
