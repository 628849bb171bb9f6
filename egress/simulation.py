"""Simulation ledgers: the only place where a run that records may be dated.

On a **real** ledger every recorded time comes from the real clock: a run that records (``egress notify``
without ``--dry-run``) refuses a date option (``--at``), since an announcement "made" on a past day would
claim notice that nobody was given. A dry run records nothing and may take any date.

A **simulation** ledger (``egress ledger init --simulation``; tests, demos, rehearsals) lets recording runs
take the date option, as long as time never goes backwards: each recording run's moment is at or after the
ledger's latest recorded one (``ledger_info.clock``, advanced atomically by the run). Everything made from a
simulation ledger says it is simulated: published documents (``"simulated": true``), notices, allowlists,
reports and synth summaries.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from .dates import ONE_DAY, rfc3339, start_of
from .errors import RealClockOnly, SimulationClockBackwards
from .ledger import Ledger, ledger_info
from .masking import mask_url

HOW_TO_SIMULATE = (
    "to rehearse on other days, use a simulation ledger: egress ledger init --simulation --db sqlite:///sim.db, "
    "then egress workspaces import FILE --db sqlite:///sim.db"
)


def recording_moment(ledger: Ledger, moment: dt.datetime, date_option: str | None) -> dt.datetime:
    """The moment a run that records uses: ``moment``, checked against the ledger's kind and clock.

    ``date_option`` is the option that set ``moment`` (e.g. ``"--at 2026-11-26"``), None when ``moment`` is
    the real clock. A real ledger refuses a date option (:class:`RealClockOnly`); a simulation ledger
    refuses a moment before its latest record (:class:`SimulationClockBackwards`) and otherwise moves its
    clock to ``moment``, in one statement, so that two runs cannot both go back in time."""
    where = ledger.location.describe(mask_url(ledger.url))
    if not ledger.simulation:
        if date_option is not None:
            raise RealClockOnly(
                f"{date_option} is refused: the ledger at {where} is a real one, on which a run that records "
                "(announcements, notices) uses the real time, so that no notice is ever backdated. Drop the "
                f"date option to run as of now, add --dry-run to see what would happen then (nothing is recorded "
                f"or sent), or, {HOW_TO_SIMULATE}"
            )
        return moment
    t = ledger_info
    with ledger.conn.begin():
        moved = ledger.conn.execute(
            t.update().where(t.c.id == 1, sa.or_(t.c.clock.is_(None), t.c.clock <= moment)).values(clock=moment)
        ).rowcount
        clock = None if moved else ledger.conn.execute(sa.select(t.c.clock).where(t.c.id == 1)).scalar()
    if moved:
        return moment
    if clock is None:  # no ledger_info row: a ledger that says nothing is never a simulation (kind says real)
        raise AssertionError("a simulation ledger without its ledger_info row")
    latest = clock.replace(tzinfo=dt.UTC) if clock.tzinfo is None else clock
    earliest = latest.date() if latest == start_of(latest.date()) else latest.date() + ONE_DAY
    asked = date_option or f"the real time ({rfc3339(moment)})"
    raise SimulationClockBackwards(
        f"{asked} is before the latest moment recorded in the simulation ledger at {where}: "
        f"{rfc3339(latest)}. A simulation never goes back in time: run with --at {earliest.isoformat()} or later, "
        "or start a new simulation ledger (egress ledger init --simulation --db URL)"
    )
