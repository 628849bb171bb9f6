"""Render a :class:`~.model.Report` as self-contained HTML, GitHub-flavoured Markdown, or JSON.

HTML is one file with inline CSS and nothing to fetch (a Content-Security-Policy of ``default-src
'none'`` makes sure), autoescaped; it prints without splitting table rows. Markdown is for pasting into
tickets. JSON is for auditors' tools: keys sorted, days ``YYYY-MM-DD``, instants RFC 3339 UTC
(``2026-11-26T09:30:00Z``), ``null`` where a value does not apply. Its shape (``format_version`` 1)::

    {
      "format": "smtp-egress/compliance-report", "format_version": 1,
      "provenance": {
        "generated_at": instant, "at": instant (the moment described), "day": day (its UTC day),
        "since": day | null, "notice_days": int, "version": "0.1.0",
        "ledger": "postgresql+psycopg://user:***@host/db" (password masked),
        "simulated": bool (true: a simulation ledger's record, of tests or demos, not a real one),
        "plan": {"path": str, "sha256": hex,
                 "git": {"commit": hex | null, "path": str (in the repository), "modified": bool} | null}
      },
      "summary": {
        "regions": [str], "changes": int (history rows), "flags": int, "flagged_changes": int,
        "flags_by_kind": {"late_notice": int, "short_notice_exception": int, "not_announced": int,
                          "not_in_plan": int, "delivery_failed": int, "notices_undelivered": int},
        "exceptions": int, "upcoming": int
      },
      "regions": [{                       # sorted by name
        "region": str, "in_plan": bool, "workspaces": int (in the ledger now),
        "live": [ip] (the published list on "day"),
        "upcoming": [change], "changes": [change] (the history), "exceptions": [change]
      }]
    }

    change = {
      "change_id": "us/add/198.51.100.11/2026-12-10", "region": str, "ip": str, "action": "add" | "remove",
      "planned": day, "in_plan": bool,
      "state": "in_effect" | "pending" | "held" | "adopted" | "not_announced" | "not_in_plan",
      "recorded_at": instant | null (when the daily job recorded it), "batch_id": str | null,
      "announced_at": instant | null (when its batch was told: every workspace heard of it; null: not announced,
                                      e.g. held: recorded, notices not all delivered),
      "effective": day | null (null: not announced, never takes effect),
      "delayed": bool (effective after planned: announced late), "lead_days": int | null,
      "notice_days": int, "exception_reason": str | null,
      "plan_sha256": hex | null (the plan the announcement was made from),
      "deliveries": {"workspaces_notified": int, "sent": int, "failed": int, "pending": int} | null,
      "undelivered": [{"workspace_id": str, "channel": str (a notice channel: "email", "webhook", ...),
                       "status": "failed" | "pending",
                       "attempts": int, "last_error": str | null}],
      "notices": {"delivered": int, "pending": int, "failed": int, "waived": int} | null (its batch's notice,
                 counted by workspace: told, not yet, a delivery failed, accepted undelivered),
      "waivers": [{"workspace_id": str, "at": instant, "by": str, "reason": str}],
      "adopted": {"batch_id": str, "source": str (URL or file, credentials masked), "sha256": hex (of the bytes
                  read), "at": instant (when recorded)} | null (set for the adopted baseline: egress ledger
                  adopt; such a change is in effect as planned, "lead_days" null, never "late_notice"),
      "flags": [flag]  # late_notice | short_notice_exception | not_announced | not_in_plan | delivery_failed
                       # | notices_undelivered
    }
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re

import jinja2
import markupsafe

from ..dates import rfc3339
from ..jsontypes import JSONObject
from ..masking import printable
from ..templating import environment
from ..wording import count
from . import model
from .model import ChangeRecord, Report

FORMATS = ("html", "md", "json")
UNDELIVERED_SHOWN = 50  # per change in HTML and Markdown; JSON lists every undelivered notice
FORMAT_NAME = "smtp-egress/compliance-report"
FORMAT_VERSION = 1
FLAG_LABELS = {
    model.LATE_NOTICE: "late notice",
    model.SHORT_NOTICE_EXCEPTION: "short-notice exception",
    model.NOT_ANNOUNCED: "not announced",
    model.NOT_IN_PLAN: "not in plan",
    model.DELIVERY_FAILED: "delivery failed",
    model.NOTICES_UNDELIVERED: "notices undelivered",
}
SIMULATED = "SIMULATION: the record of a simulation ledger (a test or demo), not of real announcements and notices."
_URL = re.compile(r"https?://[^\s<>\"']+[^\s<>\"'.,;:!?)\]]")
_DAY = re.compile(r"(\d{4}-\d\d-\d\d)")
# What Markdown reads in running text: escapes, code, emphasis, links and images ([..](..)), HTML tags and entities,
# table pipes, GFM strikethrough, GitHub's math ($..$). ("(", "#", "!", "-" mean something only after "]" or
# at the start of a line, which a table cell is not.)
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|~&$])")
_MD_AUTOLINK = re.compile(r"(?i)://|www\.")  # an escaped ":" or "." breaks GFM's extended autolinks


def render(report: Report, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(as_json(report), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    template = {"html": "report.html.j2", "md": "report.md.j2"}[fmt]
    return (
        _environment()
        .get_template(template)
        .render(r=report, s=report.summary, p=report.provenance, simulated_text=SIMULATED)
    )


# JSON -----------------------------------------------------------------------------------------------


def as_json(report: Report) -> JSONObject:
    p, s = report.provenance, report.summary
    return {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "provenance": {
            "generated_at": rfc3339(p.generated_at),
            "at": rfc3339(p.at),
            "day": report.day.isoformat(),
            "since": p.since.isoformat() if p.since else None,
            "notice_days": p.notice_days,
            "version": p.version,
            "ledger": p.ledger_url,
            "simulated": p.simulated,
            "plan": {
                "path": p.plan_path,
                "sha256": p.plan_sha256,
                "git": None
                if p.git is None
                else {"commit": p.git.commit, "path": p.git.path, "modified": p.git.modified},
            },
        },
        "summary": {
            "regions": list(s.regions),
            "changes": s.changes,
            "flags": s.flags,
            "flagged_changes": s.flagged_changes,
            "flags_by_kind": dict(s.flags_by_kind),
            "exceptions": s.exceptions,
            "upcoming": s.upcoming,
        },
        "regions": [
            {
                "region": r.region,
                "in_plan": r.in_plan,
                "workspaces": r.workspaces,
                "live": list(r.live),
                "upcoming": [_change_json(c) for c in r.upcoming],
                "changes": [_change_json(c) for c in r.changes],
                "exceptions": [_change_json(c) for c in r.exceptions],
            }
            for r in report.regions
        ],
    }


def _change_json(c: ChangeRecord) -> JSONObject:
    return {
        "change_id": c.change_id,
        "region": c.region,
        "ip": c.ip,
        "action": c.action,
        "planned": c.planned.isoformat(),
        "state": c.state,
        "in_plan": c.in_plan,
        "announced_at": rfc3339(c.announced_at) if c.announced_at else None,
        "effective": c.effective.isoformat() if c.effective else None,
        "delayed": c.delayed,
        "lead_days": c.lead_days,
        "notice_days": c.notice_days,
        "exception_reason": c.exception_reason,
        "plan_sha256": c.plan_sha256,
        "deliveries": None if c.deliveries is None else dataclasses.asdict(c.deliveries),
        "undelivered": [dataclasses.asdict(u) for u in c.undelivered],
        "flags": list(c.flags),
        "recorded_at": rfc3339(c.recorded_at) if c.recorded_at else None,
        "batch_id": c.batch_id,
        "notices": None if c.notices is None else dataclasses.asdict(c.notices),
        "waivers": [
            {"workspace_id": w.workspace_id, "at": rfc3339(w.waived_at), "by": w.waived_by, "reason": w.reason}
            for w in c.waivers
        ],
        "adopted": None
        if c.adopted is None
        else {
            "batch_id": c.adopted.batch_id,
            "source": c.adopted.source,
            "sha256": c.adopted.sha256,
            "at": rfc3339(c.adopted.at),
        },
    }


# Words shared by the HTML and Markdown templates ------------------------------------------------------


def flag_text(c: ChangeRecord, flag: str, day: dt.date) -> str:
    """One flag in words a reviewer can act on."""
    if flag == model.LATE_NOTICE and c.effective is not None:  # a late notice was announced: it has a day
        return (
            f"late notice: {c.lead_days} of {c.notice_days} days; takes effect {c.effective.isoformat()} "
            f"instead of {c.planned.isoformat()}"
        )
    if flag == model.SHORT_NOTICE_EXCEPTION:
        return f"short-notice exception: {c.lead_days} of {c.notice_days} days; reason: {c.exception_reason}"
    if flag == model.NOT_ANNOUNCED:
        if c.planned <= day:
            return f"not announced: planned for {c.planned.isoformat()}, so not in effect"
        return "not announced yet"
    if flag == model.NOT_IN_PLAN:
        return "announced, but no longer in the plan"
    if flag == model.DELIVERY_FAILED:
        n = c.deliveries.failed if c.deliveries else 0
        return f"{n} notice deliver{'y' if n == 1 else 'ies'} failed"
    if flag == model.NOTICES_UNDELIVERED and c.notices is not None:
        t = c.notices
        outcome = "held: not announced, not in effect" if c.announced_at is None else "announced"
        return (
            f"notices undelivered: {t.undelivered} of {count(t.delivered + t.undelivered + t.waived, 'workspace')} "
            "not told "
            f"({t.pending} pending, {t.failed} failed, {t.waived} accepted undelivered); {outcome}"
        )
    return flag


def announced_text(c: ChangeRecord) -> str:
    if c.adopted is not None:
        return f"adopted baseline, {rfc3339(c.adopted.at)}"
    return rfc3339(c.announced_at) if c.announced_at else "not announced"


def effective_text(c: ChangeRecord) -> str:
    if c.effective is not None and c.adopted is not None:
        return f"{c.effective.isoformat()} (adopted baseline)"
    if c.effective is None and c.recorded_at is not None:
        return "not yet (held: notices not all delivered)"
    if c.effective is None:
        return "never (not announced)"
    if c.state == model.PENDING:
        return f"{c.effective.isoformat()} (pending)"
    return c.effective.isoformat()


def notices_text(c: ChangeRecord) -> str:
    """Its batch's notice by workspace, e.g. ``3 delivered, 1 pending, 0 failed, 1 waived``."""
    if c.notices is None:
        return ""
    t = c.notices
    return f"{t.delivered} delivered, {t.pending} pending, {t.failed} failed, {t.waived} waived"


def change_text(c: ChangeRecord) -> str:
    return f"{'add' if c.action == 'add' else 'remove'} {c.ip}"


def md_cell(value: object) -> str:
    """A value as plain text inside a GitHub-flavoured Markdown table cell: one line of printable characters,
    every character Markdown gives a meaning escaped (links and images ``[..](..)``, emphasis, code, HTML tags
    and entities, pipes), and no autolink (``http://``, ``www.``): text that customers control (a webhook's
    error answer, a workspace id) and a --reason render as the text they are, never as live Markdown."""
    text = printable(" ".join(("" if value is None else str(value)).split()))
    text = _MD_SPECIAL.sub(r"\\\1", text)
    return _MD_AUTOLINK.sub(lambda m: "\\://" if m.group(0) == "://" else m.group(0)[:3] + "\\.", text)


def md_code(value: object) -> str:
    """A value as a Markdown code span inside a table cell: fenced by one backtick more than its longest run
    of backticks (nothing is interpreted in a code span, but ``\\|`` still is, in a table)."""
    text = printable(" ".join(("" if value is None else str(value)).split())).replace("|", "\\|")
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    return f"{fence} {text} {fence}" if longest else f"{fence}{text}{fence}"


def linkify(value: object) -> markupsafe.Markup:
    """Escape text for HTML and turn plain http(s) URLs in it into links (an incident ticket, say)."""
    text = "" if value is None else str(value)
    out: list[markupsafe.Markup] = []
    last = 0
    for m in _URL.finditer(text):
        out.append(markupsafe.escape(text[last : m.start()]))
        url = markupsafe.escape(m.group(0))
        out.append(markupsafe.Markup(f'<a class="bare" href="{url}">{url}</a>'))
        last = m.end()
    out.append(markupsafe.escape(text[last:]))
    return markupsafe.Markup("").join(out)


def keep_dates(value: object) -> markupsafe.Markup:
    """Escape text for HTML, keeping each YYYY-MM-DD day on one line (browsers break after its hyphens).

    The print CSS makes these spans inline blocks, so a narrow column may break right after the day
    (``2026-12-16`` / ``T09:00:00Z``); on screen those columns do not wrap.
    """
    parts = _DAY.split("" if value is None else str(value))
    return markupsafe.Markup("").join(
        markupsafe.Markup('<span class="nowrap">%s</span>') % part if i % 2 else markupsafe.escape(part)
        for i, part in enumerate(parts)
    )


def _environment() -> jinja2.Environment:
    env = environment("smtp_egress.report", "md.j2")
    if "md" not in env.filters:
        env.filters.update(
            md=md_cell,
            md_code=md_code,
            linkify=linkify,
            keep_dates=keep_dates,
            iso=lambda d: d.isoformat() if d else "",
            rfc3339=lambda t: rfc3339(t) if t else "",
        )
        env.globals.update(
            UNDELIVERED_SHOWN=UNDELIVERED_SHOWN,
            flag_text=flag_text,
            effective_text=effective_text,
            announced_text=announced_text,
            change_text=change_text,
            notices_text=notices_text,
            flag_label=FLAG_LABELS.get,
        )
    return env
