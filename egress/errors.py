"""One error base class; each failure kind has its own subclass and exit code.

The command line turns an :class:`EgressError` into its message and exit code, never a traceback.
"""

from __future__ import annotations

from collections.abc import Iterable

# Exit codes, documented in README.md ("Exit codes"). When several apply, the command returns the
# most urgent one in this order: PUBLISHED_UNUSABLE, DELIVERY_INCOMPLETE, SHORT_NOTICE, DRIFT.
OK = 0
INTERNAL = 1
USAGE = 2
PUBLISHED_UNUSABLE = 3
SHORT_NOTICE = 4
DRIFT = 5
DELIVERY_INCOMPLETE = 6

URGENCY = (PUBLISHED_UNUSABLE, DELIVERY_INCOMPLETE, SHORT_NOTICE, DRIFT)


def most_urgent(codes: Iterable[int]) -> int:
    """The exit code to return when several conditions hold at once."""
    present = set(codes)
    for code in URGENCY:
        if code in present:
            return code
    return max(present, default=OK)


class EgressError(Exception):
    """A problem a user can act on: printed as its message, exits with ``exit_code``."""

    exit_code = USAGE


class ConfigError(EgressError):
    """A flag, environment variable or configuration value is wrong."""


class PlanError(EgressError):
    """The IP plan is invalid. ``problems`` holds every problem found, each ``file:line: message``."""

    def __init__(self, problems: list[str], *, source: str | None = None):
        self.problems = list(problems)
        self.source = source  # where the plan's path came from (--plan, EGRESS_PLAN), for the command line
        plan = f"the plan from {source}" if source else "the plan"
        head = (
            f"{plan} is invalid:" if len(self.problems) == 1 else f"{plan} is invalid ({len(self.problems)} problems):"
        )
        super().__init__("\n  ".join([head, *self.problems]))


class InputError(EgressError):
    """An input file other than the plan (workspaces CSV/JSON, a date flag) is invalid."""


class PublishedUnusable(EgressError):
    """The published document could not be fetched or does not look right. Nothing is sent."""

    exit_code = PUBLISHED_UNUSABLE


class DeliveryError(EgressError):
    """A notice could not be delivered through a channel (transient unless ``permanent``)."""

    exit_code = DELIVERY_INCOMPLETE

    def __init__(self, message: str, *, permanent: bool = False):
        self.permanent = permanent
        super().__init__(message)


class DeliveryUnknown(DeliveryError):
    """Whether a notice arrived cannot be known: its last byte went out, then the connection was lost before
    the server answered, and no retry in this run settled it. It is recorded neither sent nor failed (it may
    have been accepted): the next run sends it again, with the same idempotency key."""


class ChannelUnreachable(EgressError):
    """A notice channel's server cannot be reached, or refuses to log in, when ``egress notify`` checks it
    before recording anything (its preflight): nothing was recorded or sent; the next run checks again."""

    exit_code = DELIVERY_INCOMPLETE


class LedgerSchemaError(ConfigError):
    """The ledger database's schema is not the one this smtp-egress reads and writes; nothing was changed."""


class LedgerUpgradeNeeded(LedgerSchemaError):
    """The ledger's schema is older than the code's (or unversioned): ``egress ledger upgrade`` migrates it."""


class LedgerTooNew(LedgerSchemaError):
    """The ledger carries a schema revision this smtp-egress does not know: a newer smtp-egress wrote it."""


class LedgerNotRecognised(LedgerSchemaError):
    """The database holds tables that are not (or only part of) an smtp-egress ledger."""


class LedgerMissing(ConfigError):
    """No ledger where one was looked for (no SQLite file, or an empty database); nothing was created."""


class RealClockOnly(ConfigError):
    """A run that records was given a date option on a real ledger: real ledgers record the real time."""


class SimulationClockBackwards(ConfigError):
    """A recording run on a simulation ledger asked for a moment before the ledger's latest record."""


class DuplicateAnnouncement(EgressError):
    """A change is announced once: recording it a second time is refused (the first record stands)."""

    def __init__(self, change_id: str, announced_at: str | None = None):
        self.change_id = change_id
        when = f" at {announced_at}" if announced_at else ""
        super().__init__(
            f"change {change_id!r} was already announced{when}; an announcement is recorded once "
            "and never replaced (the ledger is unchanged)"
        )
