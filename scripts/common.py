"""Options shared by several subcommands, and the helpers that read them."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys

from smtp_egress.dates import UTC, parse_day, start_of, utc_now
from smtp_egress.plan import DEFAULT_PLAN


def add_plan(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--plan", default=str(DEFAULT_PLAN), metavar="PATH", help=f"the IP plan (default: {DEFAULT_PLAN})"
    )


def add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print a machine-readable summary on stdout")


def add_db(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        default=os.environ.get("EGRESS_DB"),
        metavar="URL",
        help="ledger database, an SQLAlchemy URL (env EGRESS_DB; default sqlite file .egress/egress.db)",
    )


def env_or(flag_value, name: str, default=None):
    """A flag wins over the environment variable, which wins over the default."""
    if flag_value is not None:
        return flag_value
    return os.environ.get(name, default)


def moment_for(day_text: str | None, flag: str) -> dt.datetime:
    """The run's 'now': midnight UTC of ``--today``/``--at`` when given, else the real time."""
    if day_text is None:
        return utc_now()
    return start_of(parse_day(day_text, where=flag))


def print_json(payload) -> None:
    json.dump(payload, sys.stdout, indent=2, sort_keys=True, default=str)
    sys.stdout.write("\n")


__all__ = ["UTC", "add_db", "add_json", "add_plan", "env_or", "moment_for", "print_json"]
