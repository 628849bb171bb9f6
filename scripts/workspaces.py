"""``egress workspaces``: load the custom-SMTP workspaces to notify into the ledger database, or list them.

``list`` prints one line per workspace: its id, region and every notice channel's target in registry
order (``email``, ``webhook_url``, ...), tab-separated; a target that is a credential (a webhook URL) is
masked (``https://host/***[sha256:...]``). ``--json``: the same, keyed by column.
"""

from __future__ import annotations

from smtp_egress.notices.channels import CHANNELS
from smtp_egress.workspaces import HEADER

from .common import add_db, add_json, add_plan, ledger_location, print_json


def register(sub) -> None:
    p = sub.add_parser(
        "workspaces",
        help="import or list the workspaces to notify",
        description="Manage the custom-SMTP workspaces that receive IP-change notices.",
    )
    verbs = p.add_subparsers(dest="verb", metavar="VERB", required=True)
    imp = verbs.add_parser(
        "import",
        help=f"load a CSV ({HEADER}) or JSON list",
        description="Insert or update workspaces from FILE, all or nothing. Creates a real ledger when there is "
        "none yet (say so first with 'egress ledger init --simulation' for a simulation ledger).",
    )
    imp.add_argument("file", metavar="FILE")
    ls = verbs.add_parser("list", help="list the workspaces of a region")
    ls.add_argument("--region", required=True)
    for q in (imp, ls):
        add_plan(q)
        add_db(q)
        add_json(q)
        q.set_defaults(run=run)


def run(args) -> int:
    from smtp_egress.dates import utc_now
    from smtp_egress.ledger import Ledger
    from smtp_egress.masking import mask_url as masked
    from smtp_egress.plan import load_plan
    from smtp_egress.workspaces import read_workspaces

    plan = load_plan(args.plan)
    if args.verb == "import":
        rows = read_workspaces(args.file, set(plan.regions))
        where = ledger_location(args)
        ledger = Ledger(where, create=True)
        try:
            added, updated = ledger.upsert_workspaces(rows, utc_now())
            created, kind = ledger.created, ledger.kind
        finally:
            ledger.close()
        if args.json:
            print_json(
                {"file": args.file, "added": added, "updated": updated, "total": len(rows), "created_ledger": created}
            )
        else:
            if created:
                print(f"created a new {kind} ledger at {where.describe(masked(where.url))}")
            print(f"{args.file}: {len(rows)} workspaces ({added} added, {updated} updated)")
        return 0
    plan.region(args.region)
    ledger = Ledger(ledger_location(args))
    try:
        rows = ledger.workspaces(args.region)
    finally:
        ledger.close()
    if args.json:
        print_json(
            [
                {
                    "workspace_id": w.workspace_id,
                    "region": w.region,
                    **{c.column: _shown(c, w) or None for c in CHANNELS.values()},
                }
                for w in rows
            ]
        )
    else:
        for w in rows:
            print("\t".join([w.workspace_id, w.region, *(_shown(c, w) for c in CHANNELS.values())]))
    return 0


def _shown(channel, workspace) -> str:
    """The workspace's target for ``channel`` as the channel shows it (a URL masked), or ''."""
    target = workspace.targets.get(channel.name)
    return channel.mask(target) if target else ""
