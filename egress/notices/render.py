"""Render a change notice once per change; personalise it cheaply per recipient.

``render_notice`` renders the jinja2 text and HTML templates (HTML autoescaped) and builds the
iCalendar event, then serialises the whole MIME body once, with fixed boundaries derived from the
change ID. ``RenderedNotice.message_bytes`` only prepends the per-recipient headers, so sending one
change to 20,000 workspaces costs one render plus a few microseconds per message.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import email.policy
import email.utils
import hashlib
import re
from email.header import Header
from email.message import EmailMessage

import jinja2

from ..dates import UTC, lead_days, rfc3339
from ..errors import DeliveryError
from ..jsontypes import JSON
from ..templating import environment

ACTIONS = ("add", "remove")
# A notice from a simulation ledger (tests, demos): its subject starts with this, its body with the sentence.
SIMULATED_SUBJECT = "[SIMULATION] "
SIMULATED_TEXT = "SIMULATION: this notice comes from a simulation ledger (a test or demo); no address changes."
# C0 controls and DEL: a CR or LF in a header value would start a new header (header injection).
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_HEADERS_POLICY = email.policy.SMTP


@dataclasses.dataclass(frozen=True)
class NoticeContext:
    change_id: str
    region: str
    ip: str
    action: str  # "add" | "remove"
    effective: dt.date
    announced_at: dt.datetime
    notice_days: int
    endpoint_url: str  # e.g. "https://ips.example.com/v1/info/ip_addresses?region=us"
    changes_url: str  # the changes feed URL
    exception_reason: str | None = None  # set when sent at short notice
    simulated: bool = False  # from a simulation ledger: the subject, body and payload say so


class RenderedNotice:
    """Rendered ONCE per change (jinja2 text + HTML + ICS, HTML autoescaped); personalised cheaply per recipient."""

    __slots__ = ("_date", "_fixed", "_mime", "_payload", "context", "html", "ics", "subject", "text")

    def __init__(self, context: NoticeContext, subject: str, text: str, html: str, ics: str):
        self.context, self.subject, self.text, self.html, self.ics = context, subject, text, html, ics
        fixed = (
            fold_header("Subject", subject)
            + "Auto-Submitted: auto-generated\r\n"
            + "X-Auto-Response-Suppress: OOF, AutoReply\r\n"
            + f"X-Egress-Change: {context.change_id}\r\n"
        )
        self._fixed = fixed.encode("ascii")
        self._mime = _mime_body(context.change_id, text, html, ics)
        self._payload: dict[str, JSON] = {
            "type": "ip_change",
            "change_id": context.change_id,
            "region": context.region,
            "ip": context.ip,
            "action": context.action,
            "effective": context.effective.isoformat(),
            "announced_at": rfc3339(context.announced_at),
            "notice_days": context.notice_days,
            "short_notice_reason": context.exception_reason,
            "endpoint_url": context.endpoint_url,
            **({"simulated": True} if context.simulated else {}),
        }
        self._date: tuple[dt.datetime, str] | None = None

    def message_bytes(self, *, to: str, workspace_id: str, message_id: str, from_addr: str, date: dt.datetime) -> bytes:
        """A complete RFC 5322 message with CRLF line endings, for SMTP DATA or a Maildir file."""
        if _CONTROL.search(to + workspace_id + message_id + from_addr):
            _reject_injection(to=to, workspace_id=workspace_id, message_id=message_id, from_addr=from_addr)
        cached = self._date
        if cached is not None and cached[0] == date:
            date_text = cached[1]
        else:
            date_text = _format_date(date)
            self._date = (date, date_text)
        head = (
            f"From: {from_addr}\r\nTo: {to}\r\nDate: {date_text}\r\nMessage-ID: {message_id}\r\n"
            f"X-Egress-Workspace: {workspace_id}\r\n"
        )
        return b"".join((head.encode("utf-8"), self._fixed, self._mime))

    def webhook_payload(self, *, workspace_id: str, delivery_id: str) -> dict[str, JSON]:
        return {**self._payload, "delivery_id": delivery_id, "workspace_id": workspace_id}


def render_notice(ctx: NoticeContext) -> RenderedNotice:
    if ctx.action not in ACTIONS:
        raise ValueError(f"action {ctx.action!r} is not one of {ACTIONS}")
    for name in ("change_id", "region", "ip"):
        value = getattr(ctx, name)
        if _CONTROL.search(value) or (name == "change_id" and not value.isascii()):
            raise ValueError(
                f"{name} {value!r} must be printable{' ASCII' if name == 'change_id' else ''}: it goes into a header"
            )
    if ctx.announced_at.tzinfo is None:
        raise ValueError(f"announced_at {ctx.announced_at!r} has no time zone; use an aware UTC datetime")
    add = ctx.action == "add"
    effective = ctx.effective.isoformat()
    lead = lead_days(ctx.announced_at, ctx.effective)
    prefix = (SIMULATED_SUBJECT if ctx.simulated else "") + ("Short notice: " if ctx.exception_reason else "")
    if add:
        subject = f"{prefix}Action needed by {effective}: allow {ctx.ip} (custom SMTP, region {ctx.region})"
        headline = f"New sending address {ctx.ip} from {effective}"
    else:
        subject = f"{prefix}From {effective} we stop sending from {ctx.ip} (custom SMTP, region {ctx.region})"
        headline = f"Address {ctx.ip} retires on {effective}"
    values = dict(
        ctx=ctx,
        add=add,
        subject=subject,
        headline=headline,
        effective=effective,
        announced=ctx.announced_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        lead_words="less than a day" if lead < 1 else f"{lead} day{'s' if lead != 1 else ''}",
        simulated_text=SIMULATED_TEXT,
    )
    env = _environment()
    text = env.get_template("notice.txt.j2").render(values)
    html = env.get_template("notice.html.j2").render(values)
    return RenderedNotice(ctx, subject, text, html, build_ics(ctx))


def build_ics(ctx: NoticeContext) -> str:
    """An RFC 5545 calendar (METHOD:PUBLISH) with one all-day event on the effective day."""
    day = ctx.effective
    if ctx.action == "add":
        summary = f"Custom SMTP: {ctx.ip} starts sending mail (region {ctx.region}); allow it before this day"
    else:
        summary = f"Custom SMTP: {ctx.ip} stops sending mail (region {ctx.region}); you may remove it"
    description = "\n".join(
        ([f"Short notice: {ctx.exception_reason}"] if ctx.exception_reason else [])
        + [
            instructions(ctx),
            f"Current list: {ctx.endpoint_url}",
            f"All changes: {ctx.changes_url}",
            f"Change ID: {ctx.change_id}",
        ]
    )
    uid = hashlib.sha256(ctx.change_id.encode()).hexdigest()[:32]
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//smtp-egress//IP change notice//EN",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        "BEGIN:VEVENT",
        f"UID:ipchange-{uid}@smtp-egress",
        f"DTSTAMP:{ctx.announced_at.astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}",
        f"DTSTART;VALUE=DATE:{day.strftime('%Y%m%d')}",
        f"DTEND;VALUE=DATE:{(day + dt.timedelta(days=1)).strftime('%Y%m%d')}",
        f"SUMMARY:{ics_escape(summary)}",
        f"DESCRIPTION:{ics_escape(description)}",
        f"URL:{ctx.endpoint_url}",
        "TRANSP:TRANSPARENT",
        "STATUS:CONFIRMED",
        "SEQUENCE:0",
        "END:VEVENT",
        "END:VCALENDAR",
    ]
    return "".join(ics_fold(line) + "\r\n" for line in lines)


def instructions(ctx: NoticeContext) -> str:
    """What the customer has to do, in one or two plain sentences (the calendar event's and chat messages')."""
    day = ctx.effective.isoformat()
    if ctx.action == "add":
        return f"Allow {ctx.ip} on your SMTP server's allowlist and firewall before {day} (UTC)."
    return f"From {day} (UTC) on you may remove {ctx.ip} from your allowlist. Keep all other addresses of the list."


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


def _environment() -> jinja2.Environment:
    return environment("smtp_egress.notices", "txt.j2")


def _mime_body(change_id: str, text: str, html: str, ics: str) -> bytes:
    """MIME-Version, Content-Type and the multipart/mixed body, serialised once with CRLF."""
    msg = EmailMessage(policy=_HEADERS_POLICY)
    msg.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    msg.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    msg.add_attachment(ics, subtype="calendar", charset="utf-8", filename="ip-change.ics", params={"method": "PUBLISH"})
    for part in msg.walk():
        if part is not msg:
            del part["MIME-Version"]  # EmailMessage.set_content adds it to every part it creates
    token = hashlib.sha256(change_id.encode()).hexdigest()[:24]
    # "=_" never occurs in quoted-printable or base64 output, so these boundaries cannot collide with
    # the text or HTML; the calendar part is checked below.
    msg.set_boundary(f"=_mixed_{token}")
    alternative = msg.get_payload(0)
    assert isinstance(alternative, EmailMessage)  # the multipart/alternative part add_alternative made
    alternative.set_boundary(f"=_alt_{token}")
    data = msg.as_bytes()
    if data.count(f"--=_mixed_{token}".encode()) != 3 or data.count(f"--=_alt_{token}".encode()) != 3:
        raise ValueError(f"the notice for {change_id!r} contains its own MIME boundary")
    return data


def fold_header(name: str, value: str, limit: int = 78) -> str:
    """``Name: value`` CRLF, folded at spaces (RFC 5322) or, if not ASCII, as RFC 2047 encoded-words."""
    if not value.isascii():
        return f"{name}: {Header(value, 'utf-8', header_name=name).encode(linesep=chr(13) + chr(10))}\r\n"
    lines, line = [], f"{name}:"
    for word in value.split(" "):
        if len(line) + 1 + len(word) > limit and line != f"{name}:":
            lines.append(line)
            line = ""
        line += " " + word
    return "\r\n".join([*lines, line]) + "\r\n"


def _format_date(date: dt.datetime) -> str:
    if date.tzinfo is None:
        raise ValueError(f"date {date!r} has no time zone; use an aware UTC datetime")
    return email.utils.format_datetime(date.astimezone(UTC))


class HeaderInjection(DeliveryError, ValueError):
    """A per-recipient header value holds CR/LF: a ValueError, and a permanent failure of that delivery."""

    def __init__(self, message: str):
        super().__init__(message, permanent=True)


def _reject_injection(**values: str) -> None:
    for name, value in values.items():
        if _CONTROL.search(value):
            raise HeaderInjection(f"{name} {value!r} contains a control character (CR/LF): refusing header injection")
