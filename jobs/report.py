"""The compliance record: the plan and the ledger as a typed :class:`~smtp_egress.report.Report`.

:func:`build` reads an existing ledger (a missing one is refused, never created: a report of nothing would look
like a clean record) and records the report's provenance: the plan's path, sha256 and git commit, the ledger
URL with its password masked, whether it is a simulation ledger, when it was generated and the version.
Rendering (HTML, Markdown, JSON) is the caller's: :func:`smtp_egress.report.render.render`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from smtp_egress.ledger_location import LedgerLocation
    from smtp_egress.report import Report


@dataclasses.dataclass(frozen=True)
class ReportInputs:
    plan_path: str
    db_url: LedgerLocation | str  # where the ledger is (it must exist)
    generated_at: dt.datetime  # the real time of generation
    at: dt.datetime | None = None  # the moment the report describes; None: generated_at
    since: dt.date | None = None  # keep only the history of changes announced or effective from this day


def build(inputs: ReportInputs) -> Report:
    from smtp_egress import __version__
    from smtp_egress.ledger import Ledger
    from smtp_egress.masking import mask_url
    from smtp_egress.plan import load_plan
    from smtp_egress.report import Provenance, build_report, plan_git_info

    plan = load_plan(inputs.plan_path)
    ledger = Ledger(inputs.db_url)  # never created here: a report of nothing would look like a clean record
    try:
        provenance = Provenance(
            generated_at=inputs.generated_at,
            at=inputs.at or inputs.generated_at,
            since=inputs.since,
            plan_path=inputs.plan_path,
            plan_sha256=plan.sha256,
            notice_days=plan.notice_days,
            git=plan_git_info(inputs.plan_path),
            ledger_url=mask_url(ledger.url),
            version=__version__,
            simulated=ledger.simulation,
        )
        return build_report(plan, ledger, provenance)
    finally:
        ledger.close()
