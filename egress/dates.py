"""Dates and times: every day is a UTC calendar day, every instant an aware UTC datetime."""

from __future__ import annotations

import datetime as dt
import math

UTC = dt.UTC
ONE_DAY = dt.timedelta(days=1)


def parse_day(text: str, *, where: str = "") -> dt.date:
    """Parse a strict ``YYYY-MM-DD`` day; raise InputError naming the value and where it came from."""
    from .errors import InputError

    try:
        if not isinstance(text, str) or len(text) != 10:
            raise ValueError
        return dt.date.fromisoformat(text)
    except ValueError:
        place = f"{where}: " if where else ""
        raise InputError(f"{place}{text!r} is not a date; write it as YYYY-MM-DD (UTC), e.g. 2026-12-10") from None


def utc_now() -> dt.datetime:
    return dt.datetime.now(UTC)


def start_of(day: dt.date) -> dt.datetime:
    """Midnight UTC at the start of ``day``."""
    return dt.datetime(day.year, day.month, day.day, tzinfo=UTC)


def rfc3339(moment: dt.datetime) -> str:
    """``2026-11-26T09:30:00Z``: RFC 3339, UTC, whole seconds."""
    return moment.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone")
    return value.astimezone(UTC)


def lead_days(announced_at: dt.datetime, effective: dt.date) -> int:
    """Whole days of notice between an announcement and the start of the effective day (floor).

    A measure, shown to people; whether a notice is long enough is :func:`smtp_egress.timeline.gives_notice`."""
    return math.floor((start_of(effective) - announced_at).total_seconds() / 86400)
