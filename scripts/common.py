"""Options shared by several subcommands, and the helpers that read them."""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import sys

from smtp_egress.dates import UTC, parse_day, start_of, utc_now
from smtp_egress.plan import DEFAULT_PLAN

AT_HELP = (
    "act as of midnight UTC of DATE (YYYY-MM-DD; default: now). A run that records (egress notify without "
    "--dry-run) takes it only on a simulation ledger (egress ledger init --simulation), never going back in time"
)


def add_plan(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--plan", default=str(DEFAULT_PLAN), metavar="PATH", help=f"the IP plan (default: {DEFAULT_PLAN})"
    )


def add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print a machine-readable summary on stdout")


def _default_ledger_shown() -> str:
    from smtp_egress.project import default_ledger_path

    return str(default_ledger_path(DEFAULT_PLAN))


def add_db(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        metavar="URL",
        help="the ledger, an SQLAlchemy URL (env EGRESS_DB; default: the SQLite file .egress/egress.db in the "
        "project folder, the nearest folder holding Pulumi.yaml at or above the plan's, else the plan's folder; "
        f"with the default --plan here: {_default_ledger_shown()}). Only 'ledger init' and 'workspaces import' "
        "create a ledger",
    )


def ledger_location(args: argparse.Namespace, plan_path: str | None = None):
    """Where the ledger is and how that was chosen: --db, else EGRESS_DB, else the project's default
    (found from ``plan_path``, by default the command's --plan)."""
    from smtp_egress.ledger_location import locate

    return locate(args.db, os.environ.get("EGRESS_DB"), plan_path or getattr(args, "plan", None) or DEFAULT_PLAN)


def add_at(parser: argparse.ArgumentParser, env: str | None = None) -> None:
    """The date option, one name on every command: ``--at DATE`` (``--today DATE`` is the same option)."""
    parser.add_argument(
        "--at",
        "--today",
        dest="at",
        metavar="DATE",
        help=AT_HELP + (f" (env {env})" if env else ""),
    )


@dataclasses.dataclass(frozen=True)
class RunMoment:
    """The run's 'now', and the date option that set it (None: the real clock)."""

    moment: dt.datetime
    option: str | None


def run_moment(day_text: str | None, where: str = "--at") -> RunMoment:
    """Midnight UTC of the date option when given, else the real time."""
    if day_text is None:
        return RunMoment(utc_now(), None)
    return RunMoment(start_of(parse_day(day_text, where=where)), f"{where} {day_text}")


def moment_for(day_text: str | None, flag: str = "--at") -> dt.datetime:
    """The run's 'now': midnight UTC of ``--at`` when given, else the real time."""
    return run_moment(day_text, flag).moment


def env_or(flag_value, name: str, default=None):
    """A flag wins over the environment variable, which wins over the default."""
    if flag_value is not None:
        return flag_value
    return os.environ.get(name, default)


def print_json(payload) -> None:
    json.dump(payload, sys.stdout, indent=2, sort_keys=True, default=str)
    sys.stdout.write("\n")


__all__ = [
    "UTC",
    "RunMoment",
    "add_at",
    "add_db",
    "add_json",
    "add_plan",
    "env_or",
    "ledger_location",
    "moment_for",
    "print_json",
    "run_moment",
]
