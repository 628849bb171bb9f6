"""Remove a workspace from those notified (``egress workspaces remove``): a customer who no longer sends through
their own SMTP server, or a workspace deleted.

The workspace and its targets leave the ledger, so no later batch goes to it. Every batch whose notice it has
not received counts as told without it from now (a recorded decision, with who and why, shown in the report
as an accepted undelivered notice): its pending notices are never sent and it no longer holds a batch back
(:func:`smtp_egress.timeline.told_at`), so a batch every other workspace heard of is told at once. What it did
receive stays in the record. Like every run that records, it takes a date option only on a simulation ledger.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from smtp_egress.ledger_location import LedgerLocation

REASON = "workspace removed from the workspaces to notify (egress workspaces remove)"


@dataclasses.dataclass(frozen=True)
class RemoveInputs:
    workspace_id: str
    region: str | None  # None: whatever its region (given: it must be that one)
    by: str  # who removed it (recorded with the decision)
    reason: str | None  # why, added to the recorded reason
    db_url: LedgerLocation | str  # where the ledger is (it must exist)
    moment: dt.datetime  # when the removal is recorded
    moment_option: str | None = None  # the date option that set moment; None: the real clock


@dataclasses.dataclass(frozen=True)
class RemoveResult:
    workspace_id: str
    region: str
    moment: dt.datetime
    batches: tuple[str, ...]  # the batches whose notice now counts as told without it
    told: tuple[tuple[str, dt.datetime], ...]  # the region's batches told now, and when


def run_remove(inputs: RemoveInputs) -> RemoveResult:
    from smtp_egress.ledger import Ledger, UnknownWorkspace
    from smtp_egress.simulation import recording_moment

    reason = REASON + (f": {inputs.reason.strip()}" if inputs.reason and inputs.reason.strip() else "")
    ledger = Ledger(inputs.db_url)
    try:
        region = ledger.region_of(inputs.workspace_id)
        if region is None or (inputs.region is not None and region != inputs.region):
            where = f" in region {inputs.region!r}" if inputs.region is not None else ""
            raise UnknownWorkspace(
                f"no workspace {inputs.workspace_id[:200]!r}{where} in the ledger (egress workspaces list shows "
                "them); nothing was removed"
            )
        with ledger.lock(f"notify-{region}"):  # never while a notify run of its region delivers
            recording_moment(ledger, inputs.moment, inputs.moment_option)  # a decision is recorded: no backdating
            removed = ledger.remove_workspace(inputs.workspace_id, region, inputs.by, reason, inputs.moment)
            told = ledger.settle(removed.region)
    finally:
        ledger.close()
    return RemoveResult(
        removed.workspace_id, removed.region, inputs.moment, removed.batches, tuple(sorted(told.items()))
    )
