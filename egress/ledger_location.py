"""Where the ledger is, how that was chosen, and what to say when there is none.

Every command names its ledger the same way: ``--db URL``, else env ``EGRESS_DB``, else the project's default,
the SQLite file ``.egress/egress.db`` in the project folder (:mod:`smtp_egress.project`: found from the plan,
never from the current directory). Only ``egress ledger init`` and ``egress workspaces import`` create a ledger;
every other command refuses a missing one, naming the URL it tried and how it was chosen, so a typo in a URL
never becomes a new, empty ledger that reads as "nothing was ever announced".
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from .project import default_ledger_path

CREATORS = "'egress ledger init' (add --simulation for tests and demos) or 'egress workspaces import'"


@dataclasses.dataclass(frozen=True)
class LedgerLocation:
    """A ledger's SQLAlchemy URL and how it was chosen (``--db``, ``EGRESS_DB``, the default), for messages."""

    url: str
    chosen_by: str = ""  # "" when a program passed the URL itself

    def describe(self, masked_url: str) -> str:
        """``'sqlite:///x.db' (from --db)``: the (masked) URL and where it came from."""
        return f"{masked_url!r}" + (f" ({self.chosen_by})" if self.chosen_by else "")


def default_location(plan_path: str | Path) -> LedgerLocation:
    """The project's default ledger for the plan at ``plan_path``."""
    path = default_ledger_path(plan_path)
    return LedgerLocation(
        f"sqlite:///{path}", f"the default: .egress/egress.db in the project folder {path.parent.parent}"
    )


def locate(flag: str | None, env: str | None, plan_path: str | Path) -> LedgerLocation:
    """``--db`` when given, else ``EGRESS_DB`` when set (and not empty), else the project's default."""
    if flag:
        return LedgerLocation(flag, "from --db")
    if env:
        return LedgerLocation(env, "from EGRESS_DB")
    return default_location(plan_path)


def sqlite_file(url: str) -> Path | None:
    """The file of an SQLite URL (None: not SQLite, in memory, or not a URL at all)."""
    import sqlalchemy as sa

    try:
        parsed = sa.make_url(url)
    except (sa.exc.ArgumentError, ValueError):
        return None  # opening it names the bad URL
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def missing_message(where: LedgerLocation, masked_url: str, what: str) -> str:
    """Why a command refuses a missing ledger, and what to do."""
    return (
        f"no ledger at {where.describe(masked_url)}: {what}. Only {CREATORS} create one, so nothing was "
        "created. Check the URL for a typo, point --db (or EGRESS_DB) at the ledger that 'egress notify' "
        "records in, or create it"
    )
