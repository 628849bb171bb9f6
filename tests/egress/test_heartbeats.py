"""Heartbeats in a real ledger (SQLite and PostgreSQL): schema revision 0006 reaches a ledger of 0005 with
its data, and the latest successful run of a region is the one read back."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from smtp_egress.dates import UTC
from smtp_egress.ledger import Heartbeat, Ledger, Workspace
from smtp_egress.migrations import SCHEMA_REVISION
from smtp_egress.migrations.upgrade import alembic_config, upgrade

T0 = dt.datetime(2026, 12, 1, 6, 0, tzinfo=UTC)


def _migrate(url: str, target: str) -> None:
    from alembic import command

    engine = sa.create_engine(url)
    with engine.begin() as conn:
        command.upgrade(alembic_config(url, connection=conn), target)
    engine.dispose()


def test_revision_0006_reaches_a_ledger_of_0005_with_its_data(db_url):
    _migrate(db_url, "0005")
    engine = sa.create_engine(db_url)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO workspaces (workspace_id, region, updated_at) VALUES ('ws-1', 'us', '2026-11-30 09:00:00')"
        )
        assert "heartbeats" not in sa.inspect(conn).get_table_names()
    engine.dispose()

    result = upgrade(db_url)
    assert (result.found, result.from_revision, result.to_revision) == ("behind", "0005", SCHEMA_REVISION)
    ledger = Ledger(db_url)
    try:
        assert [w.workspace_id for w in ledger.workspaces("us")] == ["ws-1"]
        assert ledger.last_heartbeat("us") is None  # an upgraded ledger has no heartbeat yet
        beat = Heartbeat("us", "notify", T0, T0 + dt.timedelta(minutes=3))
        ledger.record_heartbeat(beat)
        assert ledger.last_heartbeat("us") == beat
    finally:
        ledger.close()


def test_the_latest_successful_run_of_the_region_is_read_back(db_url):
    ledger = Ledger(db_url, create=True)
    try:
        ledger.upsert_workspaces([Workspace("ws-1", "us", {"email": "a@one.example"})], T0)
        days = [T0 + dt.timedelta(days=d) for d in (2, 0, 1)]  # recorded out of order
        for at in days:
            ledger.record_heartbeat(Heartbeat("us", "notify", at, at + dt.timedelta(seconds=90)))
        ledger.record_heartbeat(Heartbeat("eu", "notify", T0 + dt.timedelta(days=5), T0 + dt.timedelta(days=5)))
        last = ledger.last_heartbeat("us")
        assert last == Heartbeat("us", "notify", days[0], days[0] + dt.timedelta(seconds=90))
        assert last.finished_at.tzinfo is not None and last.finished_at.utcoffset() == dt.timedelta(0)
        assert ledger.last_heartbeat("ap") is None
    finally:
        ledger.close()
