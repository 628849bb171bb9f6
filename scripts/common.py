"""Options shared by several subcommands, and the helpers that read them.

``--plan`` (env ``EGRESS_PLAN``, default ``stacks/egress-ips.yaml``) and ``--db`` (env ``EGRESS_DB``, default the
project's ledger) mean the same on every command; :func:`resolve` (called once, before a command runs) fills
in the plan and remembers where it came from, so that every message about it names the flag or variable used.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import sys
from typing import TYPE_CHECKING, Any

from smtp_egress.dates import UTC, start_of, utc_now
from smtp_egress.plan import DEFAULT_PLAN

from .values import Setting, day_value, naming, setting

if TYPE_CHECKING:
    from smtp_egress.ledger_location import LedgerLocation
    from smtp_egress.plan import Plan

PLAN_ENV = "EGRESS_PLAN"
AT_HELP = (
    "act as of midnight UTC of DATE (YYYY-MM-DD; default: now). A run that records (egress notify without "
    "--dry-run) takes it only on a simulation ledger (egress ledger init --simulation), never going back in time"
)


def add_plan(parser: argparse.ArgumentParser, help: str | None = None) -> None:
    parser.add_argument(
        "--plan",
        metavar="PATH",
        help=help or f"the IP plan (env {PLAN_ENV}; default: {DEFAULT_PLAN})",
    )


def resolve(args: argparse.Namespace) -> None:
    """Fill in ``args.plan`` (--plan, else EGRESS_PLAN, else the default) and ``args.plan_from``."""
    if not hasattr(args, "plan") or hasattr(args, "plan_from"):
        return  # no --plan, or resolved already
    given = setting(args.plan, "--plan", PLAN_ENV, str(DEFAULT_PLAN))
    args.plan, args.plan_from = given.value, given.source


def plan_setting(args: argparse.Namespace) -> Setting:
    return Setting(args.plan, getattr(args, "plan_from", None))


def load_plan(args: argparse.Namespace) -> Plan:
    """The plan of ``args``; an error about it names where its path came from (--plan, EGRESS_PLAN, default)."""
    from smtp_egress.errors import PlanError
    from smtp_egress.plan import load_plan as load

    try:
        return load(args.plan)
    except PlanError as exc:
        source = plan_setting(args).source or f"the default path (give --plan PATH or set {PLAN_ENV} for another)"
        raise PlanError(exc.problems, source=source) from None


def region(plan: Plan, name: str, flag: str = "--region") -> str:
    """``name`` when it is a region of ``plan``; else a ConfigError naming ``flag``."""
    with naming(flag):
        plan.region(name)
    return name


def add_json(parser: argparse.ArgumentParser, what: str = "print a machine-readable summary on stdout") -> None:
    parser.add_argument("--json", action="store_true", help=what)


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


def ledger_location(args: argparse.Namespace, plan_path: str | None = None) -> LedgerLocation:
    """Where the ledger is and how that was chosen: --db, else EGRESS_DB, else the project's default
    (found from ``plan_path``, by default the command's --plan)."""
    from smtp_egress.errors import ConfigError
    from smtp_egress.ledger_location import locate

    if args.db is not None and not args.db.strip():
        raise ConfigError("--db is empty; give the ledger's SQLAlchemy URL, or leave --db out for the default")
    env = setting(None, None, "EGRESS_DB").value
    return locate(args.db, env, plan_path or getattr(args, "plan", None) or DEFAULT_PLAN)


class _DateOption(argparse.Action):
    """Stores the date and which of the option's names was typed (``--at`` or ``--today``), for messages."""

    def __call__(self, parser: Any, namespace: argparse.Namespace, values: Any, option_string: str | None = None):
        setattr(namespace, self.dest, values)
        setattr(namespace, f"{self.dest}_flag", option_string or self.option_strings[0])


def add_at(parser: argparse.ArgumentParser, env: str | None = None) -> None:
    """The date option, one name on every command: ``--at DATE`` (``--today DATE`` is the same option)."""
    parser.add_argument(
        "--at",
        "--today",
        dest="at",
        metavar="DATE",
        action=_DateOption,
        help=AT_HELP + (f" (env {env})" if env else ""),
    )


def at_flag(args: argparse.Namespace) -> str:
    """The name the date option was given by: ``--at`` or ``--today``."""
    return str(getattr(args, "at_flag", "--at"))


@dataclasses.dataclass(frozen=True)
class RunMoment:
    """The run's 'now', and the date option that set it (None: the real clock)."""

    moment: dt.datetime
    option: str | None


def run_moment(day_text: str | None, where: str = "--at") -> RunMoment:
    """Midnight UTC of the date option when given, else the real time."""
    if day_text is None:
        return RunMoment(utc_now(), None)
    return RunMoment(start_of(day_value(day_text, where)), f"{where} {day_text}")


def moment_for(day_text: str | None, flag: str = "--at") -> dt.datetime:
    """The run's 'now': midnight UTC of ``--at`` when given, else the real time."""
    return run_moment(day_text, flag).moment


def refuse(mode: str, flags: dict[str, object], why: str = "") -> None:
    """ConfigError for the first of ``flags`` (flag -> its value; None or False: not given) that was given:
    none of them does anything in ``mode``, and a flag that does nothing is never silently ignored."""
    from smtp_egress.errors import ConfigError

    for flag, value in flags.items():
        if value is not None and value is not False:
            raise ConfigError(f"{flag} does not apply to {mode}{why}; leave it out")


def decided_by(name: str | None) -> str:
    """Who takes a decision a run records (--by): the name given, else the login name."""
    import getpass

    try:
        return name or getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


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
    "at_flag",
    "decided_by",
    "env_or",
    "ledger_location",
    "load_plan",
    "moment_for",
    "print_json",
    "refuse",
    "region",
    "resolve",
    "run_moment",
]
