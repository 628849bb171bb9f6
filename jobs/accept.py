"""A human's decision: a region's notices that never reached one workspace count as told without it.

``egress notify --region R --accept-undelivered WORKSPACE --reason TEXT`` records, for every batch of the
region whose notice the workspace has not received, who decided, when and why (in the ledger, shown in the
report); its notices of those batches are not tried again. A batch every other workspace heard of is then
told (:func:`smtp_egress.timeline.told_at`: at the latest of their deliveries and this decision), so its
changes are announced from that moment. Nothing is sent.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import TYPE_CHECKING

from smtp_egress import errors

if TYPE_CHECKING:
    from smtp_egress.ledger_location import LedgerLocation


@dataclasses.dataclass(frozen=True)
class AcceptInputs:
    region: str
    workspace_id: str
    reason: str
    by: str  # who decided (recorded with the decision)
    db_url: LedgerLocation | str  # where the ledger is (it must exist)
    moment: dt.datetime  # when the decision is recorded
    moment_option: str | None = None  # the date option that set moment; None: the real clock


@dataclasses.dataclass(frozen=True)
class AcceptResult:
    region: str
    workspace_id: str
    moment: dt.datetime
    batches: tuple[str, ...]  # the batches the decision covers
    told: tuple[tuple[str, dt.datetime], ...]  # those (and others) that are told now, and when


class NothingToAccept(errors.InputError):
    """The workspace has no undelivered notice in the region: there is nothing to decide."""


def run_accept(inputs: AcceptInputs) -> AcceptResult:
    from smtp_egress.ledger import Ledger
    from smtp_egress.limits import MAX_NAME, checked_text
    from smtp_egress.simulation import recording_moment

    if not inputs.reason.strip():
        raise errors.ConfigError("--accept-undelivered needs --reason TEXT: the decision is recorded with its reason")
    reason, by = checked_text(inputs.reason, "--reason"), checked_text(inputs.by, "--by", MAX_NAME)
    ledger = Ledger(inputs.db_url)
    try:
        with ledger.lock(f"notify-{inputs.region}"):
            recording_moment(ledger, inputs.moment, inputs.moment_option)  # a decision is recorded: no backdating
            batches = ledger.accept_undelivered(inputs.region, inputs.workspace_id, by, reason, inputs.moment)
            if not batches:
                raise NothingToAccept(
                    f"workspace {inputs.workspace_id[:200]!r} has no undelivered notice in region {inputs.region!r} "
                    "(it received every notice, a decision was already recorded, or it is not a workspace of the "
                    "region: egress workspaces list --region shows them); nothing was recorded"
                )
            told = ledger.settle(inputs.region)
    finally:
        ledger.close()
    return AcceptResult(inputs.region, inputs.workspace_id, inputs.moment, tuple(batches), tuple(sorted(told.items())))
