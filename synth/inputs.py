"""What a runner hands the stack program: the plan, the moment, and where to read what customers were told.

``egress synth`` (:func:`smtp_egress.synth.engine.run_program`) runs ``stacks/__main__.py`` with
``runpy.run_path(..., init_globals={INPUTS_GLOBAL: ProgramInputs(...)})``, so the values cross as arguments,
not environment variables. Under the Pulumi CLI (``pulumi up``) nobody gives any and the program uses its
defaults: the plan beside it, the real current time, and the ledger of env ``EGRESS_DB`` or config
``smtp-egress:ledgerUrl``, else the region's published document. ``egress synth`` chooses the source itself
(:func:`smtp_egress.jobs.synth.told_source`: also the project's default ledger) and passes it.

This module imports no pulumi: the stack program imports it under ``pulumi up`` as well.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from smtp_egress.ledger_location import LedgerLocation
    from smtp_egress.plan import Plan

INPUTS_GLOBAL = "EGRESS_PROGRAM_INPUTS"  # the name of the program's global that carries them


@dataclasses.dataclass(frozen=True)
class ProgramInputs:
    """The stack program's inputs; what customers were told comes from ``published``, else ``ledger_url``,
    else the program's own default (config ``smtp-egress:ledgerUrl``, else ``smtp-egress:publishedUrl``)."""

    plan: Plan
    moment: dt.datetime  # aware: the run's "now"
    published: str | None = None  # a published document (a file path or an http(s) URL)
    ledger_url: LedgerLocation | str | None = None  # the ledger (an SQLAlchemy URL, and how it was chosen)

    def __post_init__(self) -> None:
        if self.moment.tzinfo is None:
            raise ValueError(f"ProgramInputs.moment {self.moment!r} must be timezone-aware (UTC)")
