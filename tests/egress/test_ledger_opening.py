"""How a ledger is found, opened and created, and the clock of runs that record (SQLite and a real PostgreSQL).

Only a caller that asks (``create=True``: ``egress ledger init``, ``egress workspaces import``) creates a
ledger; opening a missing one (no SQLite file, an empty database) names where it looked and how that was
chosen, and creates nothing. A ledger is real or a simulation, fixed at creation: on a real one a run that
records refuses a date option; on a simulation one it never goes back in time.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa

from smtp_egress.dates import UTC, start_of
from smtp_egress.errors import LedgerMissing, RealClockOnly, SimulationClockBackwards
from smtp_egress.ledger import Ledger
from smtp_egress.ledger_location import LedgerLocation, default_location, locate
from smtp_egress.project import default_ledger_path, default_outbox, project_dir
from smtp_egress.simulation import recording_moment

DAY = start_of(dt.date(2026, 11, 26))


def tables(url: str) -> list[str]:
    engine = sa.create_engine(url)
    try:
        return sa.inspect(engine).get_table_names()
    finally:
        engine.dispose()


def test_a_missing_sqlite_file_is_named_with_how_it_was_chosen_and_never_created(tmp_path):
    typo = tmp_path / ".egress" / "egres.db"
    with pytest.raises(LedgerMissing) as caught:
        Ledger(LedgerLocation(f"sqlite:///{typo}", "from --db"))
    assert str(caught.value).startswith(f"no ledger at 'sqlite:///{typo}' (from --db): the file does not exist.")
    assert "'egress ledger init'" in str(caught.value) and "'egress workspaces import'" in str(caught.value)
    assert not typo.exists() and not typo.parent.exists()


def test_an_empty_database_is_a_missing_ledger_and_stays_empty(db_url):
    if db_url.startswith("sqlite"):
        sa.create_engine(db_url).connect().close()  # an empty file
    with pytest.raises(LedgerMissing, match=r"\(from EGRESS_DB\): the database holds no tables"):
        Ledger(LedgerLocation(db_url, "from EGRESS_DB"))
    assert tables(db_url) == []


@pytest.mark.parametrize("simulation", [False, True])
def test_create_makes_a_real_or_a_simulation_ledger_and_the_kind_stays(db_url, simulation):
    ledger = Ledger(db_url, create=True, simulation=simulation)
    try:
        assert ledger.created and ledger.simulation is simulation
        assert ledger.kind == ("simulation" if simulation else "real")
    finally:
        ledger.close()
    again = Ledger(db_url, create=True, simulation=not simulation)  # an existing ledger opens as it is
    try:
        assert not again.created and again.simulation is simulation
    finally:
        again.close()


def test_the_default_ledger_and_outbox_live_in_the_project_folder_found_from_the_plan(tmp_path):
    project = tmp_path / "repo"
    (project / "stacks" / "deep").mkdir(parents=True)
    (project / "Pulumi.yaml").write_text("name: x\n")
    plan = project / "stacks" / "deep" / "egress-ips.yaml"
    assert project_dir(plan) == project
    assert default_ledger_path(plan) == project / ".egress" / "egress.db"
    assert default_outbox(plan) == project / ".egress" / "outbox"
    alone = tmp_path / "alone" / "plan.yaml"  # no Pulumi.yaml above it: the plan's own folder
    assert project_dir(alone) == tmp_path / "alone"
    where = default_location(plan)
    assert where.url == f"sqlite:///{project}/.egress/egress.db"
    assert where.chosen_by == f"the default: .egress/egress.db in the project folder {project}"
    assert locate("sqlite:///a.db", "sqlite:///b.db", plan) == LedgerLocation("sqlite:///a.db", "from --db")
    assert locate(None, "sqlite:///b.db", plan) == LedgerLocation("sqlite:///b.db", "from EGRESS_DB")
    assert locate(None, "", plan) == where


def test_a_real_ledger_refuses_a_date_option_for_a_run_that_records(db_url):
    ledger = Ledger(db_url, create=True)
    try:
        with pytest.raises(RealClockOnly) as caught:
            recording_moment(ledger, DAY, "--at 2026-11-26")
        message = str(caught.value)
        assert message.startswith("--at 2026-11-26 is refused: the ledger at ") and "is a real one" in message
        assert "--dry-run" in message and "egress ledger init --simulation" in message
        now = dt.datetime.now(UTC)
        assert recording_moment(ledger, now, None) == now  # the real clock
    finally:
        ledger.close()


def test_a_simulation_never_goes_back_in_time(db_url):
    ledger = Ledger(db_url, create=True, simulation=True)
    try:
        assert recording_moment(ledger, DAY, "--at 2026-11-26") == DAY
        assert recording_moment(ledger, DAY, "--at 2026-11-26") == DAY  # the same moment again: fine
        later = DAY + dt.timedelta(days=4, hours=10, minutes=30)
        assert recording_moment(ledger, later, None) == later
        with pytest.raises(SimulationClockBackwards) as caught:
            recording_moment(ledger, DAY + dt.timedelta(days=2), "--at 2026-11-28")
        assert str(caught.value).startswith(
            "--at 2026-11-28 is before the latest moment recorded in the simulation ledger at "
        )
        assert "2026-11-30T10:30:00Z. A simulation never goes back in time: run with --at 2026-12-01 or later" in str(
            caught.value
        )
    finally:
        ledger.close()
    reopened = Ledger(db_url)
    try:  # the clock is in the ledger, not in the process
        with pytest.raises(SimulationClockBackwards):
            recording_moment(reopened, later - dt.timedelta(seconds=1), "--at x")
    finally:
        reopened.close()


def test_creating_a_default_ledger_makes_its_folder(tmp_path):
    where = default_location(tmp_path / "plan.yaml")
    Ledger(where, create=True).close()
    assert Path(tmp_path / ".egress" / "egress.db").is_file()
