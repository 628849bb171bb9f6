"""``egress notify`` on a region with no workspace in the ledger: a warning on every run, exit 6 when a change is due.

A platform that offers custom SMTP has customers to tell; a region with none in the ledger means the
workspaces were never imported (or the ledger is not the one they were imported into). Announcing then
would start a change's notice clock with nobody told, so a due change is not announced: the run names it,
exits 6 (:data:`smtp_egress.errors.DELIVERY_INCOMPLETE`) and the next run, once the workspaces are
imported, announces it as usual.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from smtp_egress.wording import count

if TYPE_CHECKING:
    from smtp_egress.plan import Change

IMPORT = "egress workspaces import FILE (with the same --db or EGRESS_DB as this run)"


def warning(region: str, ledger: str) -> str:
    """Said on every run that finds no workspace in ``region`` (``ledger``: where the ledger is and how it was
    chosen)."""
    return (
        f"region {region!r} has no workspace in the ledger at {ledger}: no notice can reach anyone. "
        f"Import the custom-SMTP workspaces: {IMPORT}"
    )


def problem(region: str, due: Sequence[Change]) -> str:
    """Why the due changes of ``region`` were not announced."""
    names = ", ".join(c.change_id for c in due)
    return (
        f"{count(len(due), 'change')} of region {region!r} {'is' if len(due) == 1 else 'are'} due to be announced "
        f"({names}) but the region has no "
        "workspace to tell, so nothing was announced or recorded (their notice period has not started). "
        f"Import the workspaces ({IMPORT}) and rerun"
    )
