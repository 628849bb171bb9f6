"""How ``egress notify`` shows a :class:`~smtp_egress.jobs.notify.NotifyResult`: lines for people, JSON for
schedulers."""

from __future__ import annotations

import sys
from typing import Any

from smtp_egress import errors
from smtp_egress.dates import rfc3339
from smtp_egress.jobs.accept import AcceptResult
from smtp_egress.jobs.heartbeat import HeartbeatResult
from smtp_egress.jobs.notify import NotifyResult
from smtp_egress.plan import Change
from smtp_egress.wording import count

from .common import print_json


def as_json(result: NotifyResult, beat: HeartbeatResult | None = None) -> dict[str, Any]:
    """The ``--json`` summary (its keys are a documented interface: keep them stable)."""
    doc, found, summary = result.published, result.diff, result.delivery
    short: list[dict[str, Any]] = [
        {"change": s.change.change_id, "lead_days": s.lead_days, "earliest_compliant": s.earliest_compliant.isoformat()}
        for s in result.refused_short
    ]
    short += [{"change": c.change_id, "blocked_empty_on": day.isoformat()} for c, day in result.refused_blocked]
    return {
        "region": result.region,
        "now": rfc3339(result.moment),
        "notice_days": result.notice_days,
        "dry_run": result.dry_run,
        "simulated": result.simulated,
        "published": None
        if doc is None
        else {
            "source": doc.source,
            "addresses": len(doc.addresses),
            "sync_token": doc.sync_token,
            "created_at": rfc3339(doc.created_at),
        },
        "diff": None
        if found is None
        else {
            "expected": list(found.expected),
            "published": list(found.published),
            "missing": list(found.missing),
            "unexpected": list(found.unexpected),
            "due": [c.change_id for c in found.due],
            "stale_upcoming": list(found.stale_upcoming),
        },
        "announced": [
            {"change": a.change.change_id, "workspaces": a.workspaces, "exception": a.reason, "batch": a.batch_id}
            for a in result.announced
        ],
        "told": [{"batch": b, "at": rfc3339(at)} for b, at in result.told],
        "undelivered": [
            {
                "batch": u.batch_id,
                "changes": [r.change_id for r in u.changes],
                "held": u.held,
                "delivered": u.tally.delivered,
                "pending": u.tally.pending,
                "failed": u.tally.failed,
                "waived": u.tally.waived,
                "workspaces": list(u.workspaces),
            }
            for u in result.undelivered
        ],
        "short_notice": short,
        "delivery": None
        if summary is None
        else {
            "attempted": summary.attempted,
            "sent": summary.sent,
            "reconciled": summary.reconciled,
            "failed": summary.failed,
            "left_pending": summary.left_pending,
            "seconds": summary.seconds,
        },
        "problems": [p.message for p in result.problems],
        "warnings": [*result.warnings, *heartbeat_warnings(beat)],
        "heartbeat": None
        if beat is None
        else {
            "finished_at": rfc3339(beat.beat.finished_at),
            "metric": beat.metric,
            "namespace": beat.namespace,
            "metric_error": beat.metric_error,
        },
        "exit_code": result.exit_code,
    }


def heartbeat_warnings(beat: HeartbeatResult | None) -> list[str]:
    """A metric that was not put: the run's verdict stands, but the silence alarm will fire (said, not hidden)."""
    if beat is None or beat.metric_error is None:
        return []
    said = (
        f"the heartbeat metric was not put in CloudWatch namespace {beat.namespace!r}: {beat.metric_error}. The run "
        "succeeded and its heartbeat is in the ledger, but the silence alarm fires unless a later run puts the "
        "metric; fix the task's access to CloudWatch"
    )
    return [said]


def lines(result: NotifyResult) -> list[str]:
    """What the run saw and did, one line each, in the order it happened."""
    out = []
    doc, found = result.published, result.diff
    if doc is not None and found is not None:
        out.append(
            f"published list: {count(len(doc.addresses), 'address')} from {doc.source} "
            f"(sync_token {doc.sync_token}); expected today: {len(found.expected)}"
        )
        fresh = [s for s in found.stale_upcoming if s not in found.overdue_upcoming]  # overdue: a problem
        if fresh:
            out.append(
                f"note: the published document does not list announced change(s) yet: "
                f"{'; '.join(fresh)}; re-publish it (egress publish)"
            )
    for a in result.announced:
        if result.dry_run:
            out.append(
                f"dry run: would announce {_describe(a.change)} to {count(a.workspaces, 'workspace')}"
                + (f" (short-notice exception: {a.reason})" if a.reason else "")
            )
        else:
            out.append(
                f"recorded {_describe(a.change)} for {count(a.workspaces, 'workspace')} (batch {a.batch_id})"
                + (f" as a short-notice exception: {a.reason}" if a.reason else "")
            )
    s = result.delivery
    if s is not None:
        out.append(
            f"notices: {s.sent} sent, {s.reconciled} found already delivered, "
            f"{s.failed} failed, {s.left_pending} left pending"
        )
    for batch, at in result.told:
        out.append(f"batch {batch} told: every workspace heard of it; its changes count as announced at {rfc3339(at)}")
    told = {batch for batch, _ in result.told}
    for batch in sorted({a.batch_id for a in result.announced if a.batch_id and a.batch_id not in told}):
        out.append(
            f"batch {batch} held: not every workspace heard of it yet, so its changes are not announced "
            "(not published, not in effect); the next run retries"
        )
    return out


def emit(result: NotifyResult, as_json_output: bool, beat: HeartbeatResult | None = None) -> None:
    if as_json_output:
        print_json(as_json(result, beat))
        return
    problems = result.problems
    print(
        f"egress notify: region {result.region}, {rfc3339(result.moment)}"
        + (" (SIMULATION ledger)" if result.simulated else "")
        + (" (dry run: nothing recorded or sent)" if result.dry_run else "")
    )
    for line in lines(result) or ([] if problems else ["nothing to do"]):  # a run that failed says why, below
        print(f"  {line}")
    if result.told:
        print(
            "  next: re-publish the documents so that 'upcoming' lists the new announcements "
            "(egress publish --static-dir DIR, or let egress serve pick them up)"
        )
    elif not problems and not result.announced:
        print("  nothing was due")
    if beat is not None:
        put = {
            "put": f"; metric put in CloudWatch namespace {beat.namespace!r}",
            "simulation": "; no metric (simulation)",
        }
        print(f"  heartbeat: in the ledger at {rfc3339(beat.beat.finished_at)}{put.get(beat.metric, '')}")
    for w in [*result.warnings, *heartbeat_warnings(beat)]:
        print(f"  WARNING: {w}", file=sys.stderr)
    for p in problems:
        print(f"  ACTION NEEDED: {p.message}", file=sys.stderr)
    print(f"  exit {result.exit_code}: {_meaning(result.exit_code)}")


def emit_accept(result: AcceptResult, as_json_output: bool) -> None:
    """What ``egress notify --accept-undelivered`` recorded."""
    if as_json_output:
        print_json(
            {
                "region": result.region,
                "accepted_undelivered": result.workspace_id,
                "at": rfc3339(result.moment),
                "batches": list(result.batches),
                "told": [{"batch": b, "at": rfc3339(at)} for b, at in result.told],
                "exit_code": errors.OK,
            }
        )
        return
    print(f"egress notify: region {result.region}, {rfc3339(result.moment)}")
    print(
        f"  recorded: the notices of {count(len(result.batches), 'batch')} count as told without workspace "
        f"{result.workspace_id} ({', '.join(result.batches)}); they are not tried again"
    )
    for batch, at in result.told:
        print(f"  batch {batch} told: its changes count as announced at {rfc3339(at)}")
    print(f"  exit {errors.OK}: {_meaning(errors.OK)}")


def _describe(change: Change) -> str:
    verb = "addition of" if change.action == "add" else "removal of"
    return f"{verb} {change.ip} on {change.effective.isoformat()}"


def _meaning(code: int) -> str:
    return {
        errors.OK: "all well",
        errors.PUBLISHED_UNUSABLE: "the published document was unusable; nothing was sent",
        errors.SHORT_NOTICE: "a change is closer than the notice period; it was not announced",
        errors.DRIFT: "the published list differs from the plan",
        errors.DELIVERY_INCOMPLETE: "some notices were not delivered (or a channel's server failed its check); "
        "rerun to resume, or decide with --accept-undelivered",
    }.get(code, "see the messages above")
