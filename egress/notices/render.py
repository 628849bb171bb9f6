"""Render a batch's notice once; personalise it cheaply per recipient.

A notice tells a workspace about every change of one batch (the changes one ``egress notify`` run records
for a region): each change's address, action and effective day, what to do, in words that are right for
the mix (a batch with a removal never says that every listed address stays in use). ``render_notice``
renders the jinja2 text and HTML templates (HTML autoescaped) and the iCalendar file (:mod:`.ics`, an
event per effective day), then serialises the whole MIME body once, with fixed boundaries derived from the
batch id. ``RenderedNotice.message_bytes`` only prepends the per-recipient headers, so sending one batch to
20,000 workspaces costs one render plus a few microseconds per message.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import email.policy
import email.utils
import hashlib
import re
from collections.abc import Sequence
from email.header import Header
from email.message import EmailMessage

import jinja2

from ..dates import UTC, lead_days, rfc3339
from ..errors import DeliveryError
from ..jsontypes import JSON
from ..templating import environment
from .ics import build_ics, ics_escape, ics_fold

__all__ = ["NoticeChange", "NoticeContext", "RenderedNotice", "ics_escape", "ics_fold", "render_notice"]

ACTIONS = ("add", "remove")
# A notice from a simulation ledger (tests, demos): its subject starts with this, its body with the sentence.
SIMULATED_SUBJECT = "[SIMULATION] "
SIMULATED_TEXT = "SIMULATION: this notice comes from a simulation ledger (a test or demo); no address changes."
# C0 controls and DEL: a CR or LF in a header value would start a new header (header injection).
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_HEADERS_POLICY = email.policy.SMTP


@dataclasses.dataclass(frozen=True)
class NoticeChange:
    """One change of a notice."""

    change_id: str
    ip: str
    action: str  # "add" | "remove"
    effective: dt.date  # the day it takes effect if its batch is told as this notice is sent
    exception_reason: str | None = None  # set when announced at short notice


@dataclasses.dataclass(frozen=True)
class NoticeContext:
    """What one batch's notice says: its changes (soonest first), sent at ``sent_at``."""

    batch_id: str
    region: str
    changes: tuple[NoticeChange, ...]
    sent_at: dt.datetime  # the moment the notice goes out: its notice period starts then at the earliest
    notice_days: int
    endpoint_url: str  # e.g. "https://ips.example.com/v1/info/ip_addresses?region=us"
    changes_url: str  # the changes feed URL
    simulated: bool = False  # from a simulation ledger: the subject, body and payload say so

    @property
    def additions(self) -> tuple[NoticeChange, ...]:
        return tuple(c for c in self.changes if c.action == "add")

    @property
    def removals(self) -> tuple[NoticeChange, ...]:
        return tuple(c for c in self.changes if c.action == "remove")

    @property
    def exceptions(self) -> tuple[NoticeChange, ...]:
        return tuple(c for c in self.changes if c.exception_reason)


class RenderedNotice:
    """Rendered ONCE per batch (jinja2 text + HTML + ICS, HTML autoescaped); personalised cheaply per recipient."""

    __slots__ = ("_date", "_payload", "_rest", "context", "html", "ics", "subject", "text")

    def __init__(self, context: NoticeContext, subject: str, text: str, html: str, ics: str):
        self.context, self.subject, self.text, self.html, self.ics = context, subject, text, html, ics
        fixed = (
            fold_header("Subject", subject)
            + "Auto-Submitted: auto-generated\r\n"
            + "X-Auto-Response-Suppress: OOF, AutoReply\r\n"
            + f"X-Egress-Batch: {context.batch_id}\r\n"
            + "".join(f"X-Egress-Change: {c.change_id}\r\n" for c in context.changes)
        )
        self._rest = fixed.encode("ascii") + _mime_body(context.batch_id, text, html, ics)
        self._payload: dict[str, JSON] = {
            "type": "ip_change_batch",
            "batch_id": context.batch_id,
            "region": context.region,
            "notice_days": context.notice_days,
            "sent_at": rfc3339(context.sent_at),
            "changes": [
                {
                    "change_id": c.change_id,
                    "ip": c.ip,
                    "action": c.action,
                    "effective": c.effective.isoformat(),
                    "short_notice_reason": c.exception_reason,
                }
                for c in context.changes
            ],
            "endpoint_url": context.endpoint_url,
            "changes_url": context.changes_url,
            **({"simulated": True} if context.simulated else {}),
        }
        self._date: tuple[dt.datetime, str] | None = None

    def message_bytes(self, *, to: str, workspace_id: str, message_id: str, from_addr: str, date: dt.datetime) -> bytes:
        """A complete RFC 5322 message with CRLF line endings, for SMTP DATA or a Maildir file."""
        return b"".join(
            self.message_parts(to=to, workspace_id=workspace_id, message_id=message_id, from_addr=from_addr, date=date)
        )

    def message_parts(
        self, *, to: str, workspace_id: str, message_id: str, from_addr: str, date: dt.datetime
    ) -> tuple[bytes, bytes]:
        """:meth:`message_bytes` in two parts: the recipient's own header lines, then the rest, which is the same
        bytes object for every recipient (a sender may prepare it once, e.g. SMTP's dot-stuffing)."""
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
        return head.encode("utf-8"), self._rest

    def webhook_payload(self, *, workspace_id: str, delivery_id: str) -> dict[str, JSON]:
        return {**self._payload, "delivery_id": delivery_id, "workspace_id": workspace_id}


def render_notice(ctx: NoticeContext) -> RenderedNotice:
    _check(ctx)
    adds, removes = ctx.additions, ctx.removals
    subject, headline = _subject(ctx), _headline(ctx)
    values = dict(
        ctx=ctx,
        adds=adds,
        removes=removes,
        subject=subject,
        headline=headline,
        sent=ctx.sent_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        lead_words={c.change_id: _lead_words(ctx.sent_at, c.effective) for c in ctx.changes},
        first_lead=_lead_words(ctx.sent_at, ctx.changes[0].effective),
        verbs={c.change_id: _verb(c) for c in ctx.changes},
        simulated_text=SIMULATED_TEXT,
    )
    env = _environment()
    text = env.get_template("notice.txt.j2").render(values)
    html = env.get_template("notice.html.j2").render(values)
    return RenderedNotice(ctx, subject, text, html, build_ics(ctx))


def instructions(ctx: NoticeContext, changes: Sequence[NoticeChange] | None = None) -> list[str]:
    """What the customer has to do about ``changes`` (default: all of the notice's), one plain sentence each,
    and, when the notice retires an address, to keep the others (the calendar's and chat messages' words)."""
    out = []
    for c in ctx.changes if changes is None else changes:
        day = c.effective.isoformat()
        if c.action == "add":
            out.append(f"Allow {c.ip} on your SMTP server's allowlist and firewall before {day} (UTC).")
        else:
            out.append(f"From {day} (UTC) on you may remove {c.ip} from your allowlist.")
    if ctx.removals:
        out.append("Keep all other addresses of the list.")
    return out


def _check(ctx: NoticeContext) -> None:
    if not ctx.changes:
        raise ValueError(f"the notice of batch {ctx.batch_id!r} has no changes")
    for name, value in [("batch_id", ctx.batch_id), ("region", ctx.region)] + [
        (f"{field} of {c.change_id!r}", getattr(c, field)) for c in ctx.changes for field in ("change_id", "ip")
    ]:
        ascii_only = name == "batch_id" or name.startswith("change_id")
        if _CONTROL.search(value) or (ascii_only and not value.isascii()):
            raise ValueError(
                f"{name} {value!r} must be printable{' ASCII' if ascii_only else ''}: it goes into a header"
            )
    for c in ctx.changes:
        if c.action not in ACTIONS:
            raise ValueError(f"action {c.action!r} of {c.change_id!r} is not one of {ACTIONS}")
    if ctx.sent_at.tzinfo is None:
        raise ValueError(f"sent_at {ctx.sent_at!r} has no time zone; use an aware UTC datetime")


def _subject(ctx: NoticeContext) -> str:
    """The subject: a single change as it always was; several, counted, by the first day that needs action."""
    prefix = (SIMULATED_SUBJECT if ctx.simulated else "") + ("Short notice: " if ctx.exceptions else "")
    where = f"(custom SMTP, region {ctx.region})"
    adds, removes = ctx.additions, ctx.removals
    if len(ctx.changes) == 1:
        (c,) = ctx.changes
        day = c.effective.isoformat()
        if adds:
            return f"{prefix}Action needed by {day}: allow {c.ip} {where}"
        return f"{prefix}From {day} we stop sending from {c.ip} {where}"
    if adds and removes:
        return (
            f"{prefix}Action needed by {adds[0].effective.isoformat()}: allow {_count(adds, 'new address')}; "
            f"{_count(removes, 'address')} {'retires' if len(removes) == 1 else 'retire'} from "
            f"{removes[0].effective.isoformat()} {where}"
        )
    if adds:
        return f"{prefix}Action needed by {adds[0].effective.isoformat()}: allow {_count(adds, 'new address')} {where}"
    return f"{prefix}From {removes[0].effective.isoformat()} we stop sending from {_count(removes, 'address')} {where}"


def _headline(ctx: NoticeContext) -> str:
    adds, removes = ctx.additions, ctx.removals
    if len(ctx.changes) == 1:
        (c,) = ctx.changes
        day = c.effective.isoformat()
        return f"New sending address {c.ip} from {day}" if adds else f"Address {c.ip} retires on {day}"
    if adds and removes:
        return f"Our sending addresses change: {_count(adds, 'new address')}, {_count(removes, 'retiring')}"
    if adds:
        return f"{_count(adds, 'new sending address')} from {adds[0].effective.isoformat()}"
    return f"{_count(removes, 'address')} retire from {removes[0].effective.isoformat()}"


def _count(changes: Sequence[NoticeChange], noun: str) -> str:
    if len(changes) == 1:
        return f"1 {noun}"
    plural = noun if noun.endswith("ing") else f"{noun}es" if noun.endswith("ss") else f"{noun}s"
    return f"{len(changes)} {plural}"


def _verb(c: NoticeChange) -> str:
    return "starts sending (add)" if c.action == "add" else "stops sending (remove)"


def _lead_words(sent_at: dt.datetime, day: dt.date) -> str:
    lead = lead_days(sent_at, day)
    return "less than a day" if lead < 1 else f"{lead} day{'s' if lead != 1 else ''}"


def _environment() -> jinja2.Environment:
    return environment("smtp_egress.notices", "txt.j2")


def _mime_body(batch_id: str, text: str, html: str, ics: str) -> bytes:
    """MIME-Version, Content-Type and the multipart/mixed body, serialised once with CRLF."""
    msg = EmailMessage(policy=_HEADERS_POLICY)
    msg.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    msg.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    msg.add_attachment(
        ics,
        subtype="calendar",
        charset="utf-8",
        cte="quoted-printable",  # like the text parts: "=_" cannot occur, so no text can hold a boundary
        filename="ip-change.ics",
        params={"method": "PUBLISH"},
    )
    for part in msg.walk():
        if part is not msg:
            del part["MIME-Version"]  # EmailMessage.set_content adds it to every part it creates
    token = hashlib.sha256(batch_id.encode()).hexdigest()[:24]
    # "=_" never occurs in quoted-printable output, so these boundaries cannot collide with any part (a
    # --reason is in all three); the count below checks it.
    msg.set_boundary(f"=_mixed_{token}")
    alternative = msg.get_payload(0)
    assert isinstance(alternative, EmailMessage)  # the multipart/alternative part add_alternative made
    alternative.set_boundary(f"=_alt_{token}")
    data = msg.as_bytes()
    if data.count(f"--=_mixed_{token}".encode()) != 3 or data.count(f"--=_alt_{token}".encode()) != 3:
        raise ValueError(f"the notice of batch {batch_id!r} contains its own MIME boundary")
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
