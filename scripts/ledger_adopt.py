"""``egress ledger adopt``: record the list a platform already publishes as the ledger's baseline
(:mod:`smtp_egress.jobs.adopt`). The baseline is recorded as of now, by the real clock: there is no date option."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from smtp_egress.wording import count

from .common import add_db, add_json, add_plan, ledger_location, print_json

if TYPE_CHECKING:
    from smtp_egress.jobs.adopt import AdoptResult

HELP = "record the list already published (classic shape or ours) as the region's baseline"
DESCRIPTION = """\
Adopt an existing platform: read the list it already publishes (--published: an http(s) URL or a file, in
the classic shape {"ip_addresses": [...]} with nothing else, or a document of ours) and record, as of now,
the plan's past-dated changes that the list reflects as the region's adopted baseline: told when recorded,
no notices sent, in effect as planned (never "short notice"). Changes still to come are left to egress
notify, which announces them as usual.

Refused, recording nothing: an unusable list (exit 3, as for the daily job); a listed address the plan does
not send from today (exit 5); an address the plan says sends today that the list lacks (exit 5); a region the
ledger already tracks, unless the list is exactly what the ledger publishes and nothing new would be recorded
(then it is a no-op, exit 0; exit 5 if they disagree, 2 if past-dated changes are not recorded)."""


def register(verbs) -> None:
    import argparse

    p = verbs.add_parser(
        "adopt", help=HELP, description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--region", required=True)
    p.add_argument(
        "--published",
        required=True,
        metavar="URL_OR_FILE",
        help="the list already published for the region (http(s) URL or file)",
    )
    add_plan(p)
    add_db(p)
    add_json(p)


def run(args) -> int:
    from smtp_egress.dates import utc_now
    from smtp_egress.errors import PublishedUnusable
    from smtp_egress.jobs.adopt import AdoptInputs, run_adopt

    from .common import load_plan, region
    from .values import Setting, blame, source_url

    published = source_url(Setting(args.published, "--published"), "published list")
    region(load_plan(args), args.region)
    inputs = AdoptInputs(args.region, published, args.plan, ledger_location(args), utc_now())
    try:
        result = run_adopt(inputs)
    except PublishedUnusable as exc:  # the list given could not be used: say which flag gave it
        raise blame("--published", exc) from None
    for warning in result.warnings:
        print(f"egress ledger adopt: warning: {warning}", file=sys.stderr)
    if args.json:
        print_json(as_json(result))
    else:
        print(describe(result))
    return 0


def as_json(result: AdoptResult) -> dict[str, Any]:
    """The ``--json`` summary of an :class:`~smtp_egress.jobs.adopt.AdoptResult`."""
    from smtp_egress.dates import rfc3339

    return {
        "region": result.region,
        "now": rfc3339(result.moment),
        "source": result.source,
        "shape": result.shape,
        "sha256": result.sha256,
        "published": list(result.published),
        "recorded": result.batch_id is not None,
        "already_tracked": result.already_tracked,
        "batch": result.batch_id,
        "told_at": rfc3339(result.told_at) if result.told_at else None,
        "adopted": [c.change_id for c in result.adopted],
        "left_for_notify": [c.change_id for c in result.future],
        "overdue": [c.change_id for c in result.overdue],
        "warnings": list(result.warnings),
    }


def describe(result: AdoptResult) -> str:
    """What was adopted, in lines for people."""
    from smtp_egress.dates import rfc3339

    read = (
        f"the {result.region} list at {result.source} ({result.shape} shape, "
        f"{count(len(result.published), 'address')}, sha256 {result.sha256[:16]}...)"
    )
    if result.batch_id is not None and result.told_at is not None:
        head = (
            f"adopted {read} as the baseline: {count(len(result.adopted), 'past-dated change')} recorded in batch "
            f"{result.batch_id}, told {rfc3339(result.told_at)} (no notices sent; in effect as planned):"
        )
        lines = [head]
        lines += [f"  {c.action} {c.ip} ({c.effective.isoformat()})" for c in result.adopted]
    elif result.already_tracked:
        lines = [f"{read} is what the ledger already records for the region: nothing to adopt, nothing recorded"]
    else:
        lines = [f"{read} matches the plan, which has no past-dated change: nothing to adopt, nothing recorded"]
    if result.future:
        lines.append("left for egress notify, announced as usual:")
        lines += [f"  {c.action} {c.ip} ({c.effective.isoformat()})" for c in result.future]
    return "\n".join(lines)
