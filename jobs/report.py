"""The compliance record: the plan and the ledger as a typed :class:`~smtp_egress.report.Report`.

:func:`build` reads an existing ledger (it never creates an empty SQLite file: a report of nothing would look
like a clean record) and records the report's provenance: the plan's path, sha256 and git commit, the ledger
URL with its password masked, when it was generated and the version. Rendering (HTML, Markdown, JSON) is the
caller's: :func:`smtp_egress.report.render.render`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from smtp_egress.report import Report


@dataclasses.dataclass(frozen=True)
class ReportInputs:
    plan_path: str
    db_url: str | None  # None: the embedded SQLite ledger, which must exist
    generated_at: dt.datetime  # the real time of generation
    at: dt.datetime | None = None  # the moment the report describes; None: generated_at
    since: dt.date | None = None  # keep only the history of changes announced or effective from this day


def build(inputs: ReportInputs) -> Report:
    from smtp_egress import __version__
    from smtp_egress.ledger import Ledger
    from smtp_egress.plan import load_plan
    from smtp_egress.report import Provenance, build_report, mask_url, plan_git_info

    plan = load_plan(inputs.plan_path)
    url = existing_ledger_url(inputs.db_url)
    provenance = Provenance(
        generated_at=inputs.generated_at,
        at=inputs.at or inputs.generated_at,
        since=inputs.since,
        plan_path=inputs.plan_path,
        plan_sha256=plan.sha256,
        notice_days=plan.notice_days,
        git=plan_git_info(inputs.plan_path),
        ledger_url=mask_url(url),
        version=__version__,
    )
    ledger = Ledger(url)
    try:
        return build_report(plan, ledger, provenance)
    finally:
        ledger.close()


def existing_ledger_url(url: str | None) -> str:
    """The ledger's URL; an SQLite file that does not exist is refused rather than created empty."""
    import sqlalchemy as sa

    from smtp_egress.errors import ConfigError
    from smtp_egress.ledger import DEFAULT_DB
    from smtp_egress.report import mask_url

    url = url or f"sqlite:///{DEFAULT_DB}"
    try:
        parsed = sa.engine.make_url(url)
    except (sa.exc.ArgumentError, ValueError):
        return url  # the ledger names the bad URL
    if (
        parsed.get_backend_name() == "sqlite"
        and parsed.database not in (None, "", ":memory:")
        and not Path(parsed.database).is_file()
    ):
        raise ConfigError(
            f"no ledger at {mask_url(url)!r}: the file does not exist; pass --db URL (or set "
            "EGRESS_DB) to the ledger that 'egress notify' records in"
        )
    return url
