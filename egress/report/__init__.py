"""The compliance record: every change to every region's list, when it was announced, when it took effect.

:mod:`.model` builds a typed :class:`~.model.Report` from the plan and the ledger (using the same date
rules as everything else, :mod:`smtp_egress.timeline`); :mod:`.provenance` says where its inputs came from;
:mod:`.render` turns it into a self-contained HTML page, GitHub-flavoured Markdown or JSON (the JSON shape
is documented there).
"""

from .model import ChangeRecord, DeliveryCounts, RegionReport, Report, build_report
from .provenance import GitInfo, Provenance, plan_git_info

__all__ = [
    "ChangeRecord",
    "DeliveryCounts",
    "GitInfo",
    "Provenance",
    "RegionReport",
    "Report",
    "build_report",
    "plan_git_info",
]
