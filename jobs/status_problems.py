"""What ``egress status`` finds wrong (each with the README's exit code) and what it only notes.

The rules, in one place, on a :class:`~smtp_egress.jobs.status.StatusResult`:

- 3: the live document cannot be used (or nothing can be published: the region's list would be empty);
- 4: a change within ``notice_days`` not announced and too close to be in time (it cannot take effect as planned),
  or the deploy guard would refuse the plan today;
- 5: the live document is not the one the plan and the ledger say must be published now (except only
  announcements less than a day old missing from ``upcoming``: a note), or the timeline (or, read with
  ``--stack``, the deployed stack) attaches an address the live list lacks, or the deployed gateways are out of
  step with the timeline (except today's moves before today's run: a note);
- 6: no successful daily run for :data:`~smtp_egress.heartbeats.SILENCE_HOURS` hours (or ever); notices not
  delivered and not accepted undelivered; a change held because its notice did not reach every workspace.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from smtp_egress import errors
from smtp_egress.dates import rfc3339
from smtp_egress.heartbeats import SILENCE_HOURS
from smtp_egress.wording import count, span

from .notify import Problem

if TYPE_CHECKING:
    from .status import ChangeStatus, StatusResult


def problems(r: StatusResult) -> list[Problem]:
    out: list[Problem] = []
    silent, last = r.silent_for, r.last_run
    if silent is None or last is None:
        out.append(
            Problem(
                errors.DELIVERY_INCOMPLETE,
                f"{r.region}: no successful daily run is recorded in the ledger: the daily job (egress notify) has "
                "never exited 0 here. Run it, and check that its schedule is enabled",
            )
        )
    elif silent > dt.timedelta(hours=SILENCE_HOURS):
        out.append(
            Problem(
                errors.DELIVERY_INCOMPLETE,
                f"{r.region}: the daily job last succeeded {span(silent)} ago ({rfc3339(last.finished_at)}): "
                f"over {SILENCE_HOURS} hours. Notices that are due may not have gone out; check the schedule and "
                "the task's logs, then run it",
            )
        )
    p = r.publication
    if p.unusable is not None:
        out.append(Problem(errors.PUBLISHED_UNUSABLE, f"{r.region}: the live document at {p.source}: {p.unusable}"))
    elif not p.matches and not p.only_fresh_lag:
        out.append(Problem(errors.DRIFT, _drift(r.region, p)))
    if r.gateways.attached_not_published:
        out.append(
            Problem(
                errors.DRIFT,
                f"{r.region}: the timeline attaches {', '.join(r.gateways.attached_not_published)} to the gateways "
                f"today, but the live list at {p.source} lacks it: mail would leave from an address customers do not "
                "list. Re-publish now (egress publish)",
            )
        )
    g = r.gateways
    if (g.attach_pending or g.detach_pending) and not _moves_of_a_day_not_run_yet(r):
        moves = [f"attach {ip}" for ip in g.attach_pending] + [f"detach {ip}" for ip in g.detach_pending]
        out.append(
            Problem(
                errors.DRIFT,
                f"{r.region}: the gateways of stack {g.stack} are out of step with the timeline ({', '.join(moves)}"
                f" pending): run egress deploy --stack {g.stack} (or egress daily), and check why it did not run",
            )
        )
    out += [Problem(errors.SHORT_NOTICE, f"deploy guard: {message}") for message in r.gateways.guard]
    for c in r.changes:
        if c.status == "short":
            out.append(
                Problem(
                    errors.SHORT_NOTICE,
                    f"{r.region}: {_what(c)} is not announced and it is too late to give {r.notice_days} days of "
                    f"notice: announced now, it takes effect on {c.earliest_compliant.isoformat()} at the earliest. "
                    "Move its date in the plan, or record an exception (egress notify --allow-short-notice --reason)",
                )
            )
        elif c.status == "held":
            out.append(
                Problem(
                    errors.DELIVERY_INCOMPLETE,
                    f"{r.region}: {_what(c)} is held: its notice (batch {c.batch_id}) has not reached every "
                    f"workspace ({_tally(c)}), so it is not announced and does not take effect; the next daily run "
                    f"retries, or decide with egress notify --region {r.region} --accept-undelivered WORKSPACE "
                    "--reason TEXT",
                )
            )
    held = {c.batch_id for c in r.changes if c.status == "held"}
    for b in r.backlog:
        if b.batch_id in held:
            continue  # said above, change by change
        t = b.tally
        out.append(
            Problem(
                errors.DELIVERY_INCOMPLETE,
                f"{r.region}: batch {b.batch_id}: {count(t.undelivered, 'workspace')} not told ({t.pending} pending, "
                f"{t.failed} failed); the next daily run retries, or decide with egress notify --region {r.region} "
                "--accept-undelivered WORKSPACE --reason TEXT",
            )
        )
    return out


def notes(r: StatusResult) -> list[str]:
    """Worth knowing, nothing to do now."""
    out = []
    p = r.publication
    if p.only_fresh_lag:
        out.append(
            f"the live document does not list yet the announcement(s) of the last day ({'; '.join(p.upcoming_fresh)}): "
            "the daily task's publication adds them"
        )
    for c in r.changes:
        if c.status == "due":
            out.append(f"{_what(c)} is due to be announced: the next daily run announces it")
        elif c.status == "late" and c.effective is not None:
            out.append(f"{_what(c)} was announced late: it takes effect on {c.effective.isoformat()}, not as planned")
    g = r.gateways
    if g.attach_today or g.detach_today:
        moves = [f"attach {ip}" for ip in g.attach_today] + [f"detach {ip}" for ip in g.detach_today]
        out.append(
            f"the gateways change today ({', '.join(moves)}): the deploy (pulumi up, egress deploy) must run today; "
            f"the deployed state is {g.deployed} to egress status"
        )
    return out


def _moves_of_a_day_not_run_yet(r: StatusResult) -> bool:
    """The gateways differ from the timeline only by today's moves, and today's daily run has not succeeded yet:
    it makes them (a note, not a problem)."""
    g = r.gateways
    ran_today = r.last_run is not None and r.last_run.finished_at.date() >= r.moment.date()
    return (
        not ran_today and set(g.attach_pending) <= set(g.attach_today) and set(g.detach_pending) <= set(g.detach_today)
    )


def _what(c: ChangeStatus) -> str:
    verb = "the addition of" if c.action == "add" else "the removal of"
    return f"{verb} {c.ip} planned for {c.planned.isoformat()}"


def _tally(c: ChangeStatus) -> str:
    t = c.tally
    if t is None:
        return "not recorded"
    return f"{t.delivered} told, {t.pending} pending, {t.failed} failed, {t.waived} accepted undelivered"


def _drift(region: str, p) -> str:
    parts = []
    if p.missing:
        parts.append(f"it lacks {', '.join(p.missing)}")
    if p.unexpected:
        parts.append(f"it lists {', '.join(p.unexpected)}, which must not be listed now")
    stale = [k for k in p.upcoming_missing if k not in p.upcoming_fresh]
    if stale:
        parts.append(f"its 'upcoming' lacks announced change(s) {'; '.join(stale)}")
    if p.upcoming_extra:
        parts.append(f"its 'upcoming' lists {'; '.join(p.upcoming_extra)}, not announced as upcoming")
    detail = "; ".join(parts) or "the addresses and announcements agree, but its other fields differ"
    return (
        f"{region}: the live document at {p.source} is not what the plan and the ledger say must be published now "
        f"(sha256 {p.live_sha256}, expected {p.expected_sha256}): {detail}. Re-publish (egress publish), and check "
        "the job that publishes"
    )
