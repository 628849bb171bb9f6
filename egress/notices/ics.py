"""The notice's iCalendar file (RFC 5545): one all-day event per effective day of the batch's changes."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..dates import UTC

if TYPE_CHECKING:
    from .render import NoticeChange, NoticeContext


def build_ics(ctx: NoticeContext) -> str:
    """A calendar (METHOD:PUBLISH) with one all-day event per day on which changes of the batch take effect."""
    from .render import instructions

    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//smtp-egress//IP change notice//EN",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
    ]
    stamp = ctx.sent_at.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    for day, group in itertools.groupby(ctx.changes, key=lambda c: c.effective):
        changes = list(group)
        description = "\n".join(
            [
                f"Short notice{'' if len(ctx.changes) == 1 else f' ({c.ip})'}: {c.exception_reason}"
                for c in changes
                if c.exception_reason
            ]
            + instructions(ctx, changes)
            + [f"Current list: {ctx.endpoint_url}", f"All changes: {ctx.changes_url}"]
            + [f"Change ID: {c.change_id}" for c in changes]
        )
        uid = hashlib.sha256(f"{ctx.batch_id}\0{day.isoformat()}".encode()).hexdigest()[:32]
        lines += [
            "BEGIN:VEVENT",
            f"UID:ipchange-{uid}@smtp-egress",
            f"DTSTAMP:{stamp}",
            f"DTSTART;VALUE=DATE:{day.strftime('%Y%m%d')}",
            f"DTEND;VALUE=DATE:{(day + dt.timedelta(days=1)).strftime('%Y%m%d')}",
            f"SUMMARY:{ics_escape(_summary(ctx.region, changes))}",
            f"DESCRIPTION:{ics_escape(description)}",
            f"URL:{ctx.endpoint_url}",
            "TRANSP:TRANSPARENT",
            "STATUS:CONFIRMED",
            "SEQUENCE:0",
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return "".join(ics_fold(line) + "\r\n" for line in lines)


def _summary(region: str, changes: Sequence[NoticeChange]) -> str:
    if len(changes) == 1:
        (c,) = changes
        if c.action == "add":
            return f"Custom SMTP: {c.ip} starts sending mail (region {region}); allow it before this day"
        return f"Custom SMTP: {c.ip} stops sending mail (region {region}); you may remove it"
    adds = [c.ip for c in changes if c.action == "add"]
    removes = [c.ip for c in changes if c.action == "remove"]
    parts = ([f"allow {', '.join(adds)} before this day"] if adds else []) + (
        [f"you may remove {', '.join(removes)}"] if removes else []
    )
    return f"Custom SMTP (region {region}): {'; '.join(parts)}"


def ics_escape(value: str) -> str:
    """Escape a TEXT value (RFC 5545 3.3.11): backslash, semicolon, comma and newlines."""
    value = value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
    return value.replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\n")


def ics_fold(line: str, limit: int = 75) -> str:
    """Fold a content line into lines of at most ``limit`` octets, never inside a UTF-8 character."""
    if len(line.encode("utf-8")) <= limit:
        return line
    parts, chunk, size = [], "", 0
    for char in line:
        width = len(char.encode("utf-8"))
        if size + width > limit:
            parts.append(chunk)
            chunk, size = " ", 1  # the continuation's leading space counts toward the limit
        chunk += char
        size += width
    parts.append(chunk)
    return "\r\n".join(parts)
