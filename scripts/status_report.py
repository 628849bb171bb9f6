"""How ``egress status`` shows a :class:`~smtp_egress.jobs.status.StatusResult`: lines for people, JSON for
pipelines and dashboards (its keys are a documented interface: keep them stable)."""

from __future__ import annotations

import sys
from typing import Any

from smtp_egress.dates import rfc3339
from smtp_egress.jobs.status import StatusResult
from smtp_egress.wording import span

from .common import print_json


def as_json(r: StatusResult) -> dict[str, Any]:
    p, g = r.publication, r.gateways
    silent = r.silent_for
    return {
        "region": r.region,
        "now": rfc3339(r.moment),
        "simulated": r.simulated,
        "notice_days": r.notice_days,
        "last_run": None
        if r.last_run is None
        else {
            "job": r.last_run.job,
            "started_at": rfc3339(r.last_run.started_at),
            "finished_at": rfc3339(r.last_run.finished_at),
            "hours_ago": round(silent.total_seconds() / 3600, 2) if silent is not None else None,
        },
        "published": {
            "source": p.source,
            "matches": p.matches,
            "expected_sha256": p.expected_sha256,
            "live_sha256": p.live_sha256,
            "live_created_at": rfc3339(p.live_created_at) if p.live_created_at else None,
            "unusable": p.unusable,
            "missing": list(p.missing),
            "unexpected": list(p.unexpected),
            "upcoming_missing": list(p.upcoming_missing),
            "upcoming_extra": list(p.upcoming_extra),
        },
        "changes": [
            {
                "change": c.change_id,
                "planned": c.planned.isoformat(),
                "status": c.status,
                "announced_at": rfc3339(c.announced_at) if c.announced_at else None,
                "effective": c.effective.isoformat() if c.effective else None,
                "notices": None
                if c.tally is None
                else {
                    "delivered": c.tally.delivered,
                    "pending": c.tally.pending,
                    "failed": c.tally.failed,
                    "waived": c.tally.waived,
                },
            }
            for c in r.changes
        ],
        "undelivered": [{"batch": b.batch_id, "pending": b.tally.pending, "failed": b.tally.failed} for b in r.backlog],
        "gateways": {
            "attached": list(g.attached),
            "attach_today": list(g.attach_today),
            "detach_today": list(g.detach_today),
            "attached_not_published": list(g.attached_not_published),
            "guard": list(g.guard),
            "deployed": g.deployed,
            "deployed_attached": None if g.deployed_attached is None else list(g.deployed_attached),
            "stack": g.stack,
        },
        "problems": [p.message for p in r.problems],
        "notes": r.notes,
        "exit_code": r.exit_code,
    }


def lines(r: StatusResult) -> list[str]:
    out = []
    if r.last_run is None:
        out.append("last successful run: none recorded")
    else:
        ago = r.silent_for
        out.append(
            f"last successful run: {rfc3339(r.last_run.finished_at)} ({r.last_run.job}, "
            f"{span(ago) if ago is not None else '?'} ago)"
        )
    p = r.publication
    if p.unusable is not None or p.live_created_at is None:
        out.append(f"published: {p.source}: unusable")
    else:
        state = "matches what must be published now" if p.matches else "DIFFERS from what must be published now"
        out.append(f"published: {p.source} {state} (sha256 {p.live_sha256}, created {rfc3339(p.live_created_at)})")
    told = sum(1 for c in r.changes if c.status in ("upcoming", "in_effect"))
    out.append(
        f"changes within {r.notice_days} days: {len(r.changes)} ({told} announced and told"
        + "".join(f", {c.change_id}: {c.status}" for c in r.changes if c.status not in ("upcoming", "in_effect"))
        + ")"
    )
    pending = sum(b.tally.undelivered for b in r.backlog)
    out.append(
        f"notices not delivered: {pending} in {len(r.backlog)} batch(es)" if r.backlog else "notices: all delivered"
    )
    g = r.gateways
    out.append(
        f"gateways: the timeline attaches {', '.join(g.attached) or 'nothing'} today; deployed: {g.deployed} "
        + (
            "(give --stack to read the deployed stack)"
            if g.deployed_attached is None
            else f"(stack {g.stack} has {', '.join(g.deployed_attached) or 'nothing'} attached)"
        )
    )
    return out


def emit(r: StatusResult, as_json_output: bool) -> None:
    if as_json_output:
        print_json(as_json(r))
        return
    problems = r.problems
    print(f"egress status: region {r.region}, {rfc3339(r.moment)}" + (" (SIMULATION ledger)" if r.simulated else ""))
    for line in lines(r):
        print(f"  {line}")
    for note in r.notes:
        print(f"  note: {note}")
    for p in problems:
        print(f"  ACTION NEEDED: {p.message}", file=sys.stderr)
    verdict = "all well: the promise is safe right now" if not problems else "the promise is at risk: see above"
    print(f"  exit {r.exit_code}: {verdict}")
