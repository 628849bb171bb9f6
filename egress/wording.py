"""Words for people: counts with the right number ("1 workspace", "2 workspaces") and lengths of time that say
what is true ("1 day 16 hours", never "1 days" for 1.67 days)."""

from __future__ import annotations

import datetime as dt

IRREGULAR = {"address": "addresses", "batch": "batches", "day": "days", "hour": "hours"}


def plural(noun: str) -> str:
    """The plural of one of the nouns our messages count (the last word of ``noun``)."""
    head, _, last = noun.rpartition(" ")
    many = IRREGULAR.get(last) or (
        last[:-1] + "ies" if last.endswith("y") and last[-2:-1] not in "aeiou" else last + "s"
    )
    return f"{head} {many}" if head else many


def count(n: int, noun: str, many: str | None = None) -> str:
    """``1 workspace``, ``0 workspaces``, ``2 addresses``: ``n`` and the noun in the right number (``many``, if
    given, is its plural)."""
    return f"{n} {noun if n == 1 else many or plural(noun)}"


def span(delta: dt.timedelta) -> str:
    """A length of time in whole days and hours, rounded down (so a notice is never said to be longer than it
    is): ``6 days``, ``1 day 16 hours``, ``16 hours``, ``less than an hour``."""
    hours = int(abs(delta).total_seconds() // 3600)
    days, hours = divmod(hours, 24)
    parts = [count(days, "day")] if days else []
    if hours:
        parts.append(count(hours, "hour"))
    return " ".join(parts) or "less than an hour"
