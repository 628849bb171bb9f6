"""``egress workspaces``: load the custom-SMTP workspaces to notify into the ledger database, list or remove them.

``import FILE`` inserts or updates workspaces, all or nothing; a workspace already exactly as in the file is
counted unchanged. ``list`` prints one line per workspace (of ``--region``, else of every region): its id,
region and every notice channel's target in registry order (``email``, ``webhook_url``, ...), tab-separated;
a target that is a credential (a webhook URL) is masked (``https://host/***[sha256:...]``). ``--json``: the
same, keyed by column. ``remove ID`` removes a workspace (:mod:`smtp_egress.jobs.remove_workspace`): no later
notice goes to it, its pending notices are not sent, and it no longer holds a batch back.
"""

from __future__ import annotations

from smtp_egress.notices.channels import CHANNELS
from smtp_egress.wording import count
from smtp_egress.workspaces import HEADER

from .common import add_at, add_db, add_json, add_plan, at_flag, ledger_location, print_json, run_moment


def register(sub) -> None:
    p = sub.add_parser(
        "workspaces",
        help="import, list or remove the workspaces to notify",
        description="Manage the custom-SMTP workspaces that receive IP-change notices.",
    )
    verbs = p.add_subparsers(dest="verb", metavar="VERB", required=True)
    imp = verbs.add_parser(
        "import",
        help=f"load a CSV ({HEADER}) or JSON list",
        description="Insert or update workspaces from FILE, all or nothing (a workspace already exactly as in FILE "
        "is left as it is and counted unchanged). Creates a real ledger when there is none yet (say so first "
        "with 'egress ledger init --simulation' for a simulation ledger).",
    )
    imp.add_argument("file", metavar="FILE")
    ls = verbs.add_parser("list", help="list the workspaces (of one region, or of every region)")
    ls.add_argument("--region", help="only this region's workspaces (default: every region's)")
    rm = verbs.add_parser(
        "remove",
        help="remove a workspace: no later notice goes to it, its pending notices are not sent",
        description="Remove the workspace ID from those notified. Its pending notices are not sent and it no longer "
        "holds a batch back: every batch whose notice it has not received counts as told without it from now, "
        "recorded with who removed it and why (shown in egress report). What it received stays in the record.",
    )
    rm.add_argument("workspace_id", metavar="ID")
    rm.add_argument("--region", help="refuse unless the workspace is of this region (a check against typos)")
    rm.add_argument("--reason", metavar="TEXT", help="why it is removed (recorded with the decision)")
    rm.add_argument("--by", metavar="NAME", help="who removes it (default: the login name)")
    add_at(rm)
    for q in (imp, ls, rm):
        add_plan(q)
        add_db(q)
        add_json(q)
        q.set_defaults(run=run)


def run(args) -> int:
    return {"import": _import, "list": _list, "remove": _remove}[args.verb](args)


def _import(args) -> int:
    from smtp_egress.dates import utc_now
    from smtp_egress.errors import InputError
    from smtp_egress.ledger import Ledger
    from smtp_egress.masking import mask_url as masked
    from smtp_egress.workspaces import read_workspaces

    from .common import load_plan
    from .values import excerpt

    plan = load_plan(args)
    try:
        with open(args.file, "rb"):
            pass
    except OSError as exc:
        raise InputError(f"FILE {excerpt(args.file)}: cannot read the workspaces file: {exc.strerror or exc}") from None
    rows = read_workspaces(args.file, set(plan.regions))
    where = ledger_location(args)
    ledger = Ledger(where, create=True)
    try:
        done = ledger.upsert_workspaces(rows, utc_now())
        created, kind = ledger.created, ledger.kind
    finally:
        ledger.close()
    if args.json:
        print_json(
            {
                "file": args.file,
                "added": done.added,
                "updated": done.updated,
                "unchanged": done.unchanged,
                "total": len(rows),
                "created_ledger": created,
            }
        )
    else:
        if created:
            print(f"created a new {kind} ledger at {where.describe(masked(where.url))}")
        print(
            f"{args.file}: {count(len(rows), 'workspace')} ({done.added} added, {done.updated} updated, "
            f"{done.unchanged} unchanged)"
        )
    return 0


def _list(args) -> int:
    from smtp_egress.ledger import Ledger

    from .common import load_plan, region

    if args.region is not None:
        region(load_plan(args), args.region)
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


def _remove(args) -> int:
    from smtp_egress.dates import rfc3339
    from smtp_egress.errors import ConfigError
    from smtp_egress.jobs.remove_workspace import RemoveInputs, run_remove

    from .common import decided_by, load_plan, region

    if not args.workspace_id.strip():
        raise ConfigError("egress workspaces remove: the workspace ID is empty; egress workspaces list shows them")
    when = run_moment(args.at, at_flag(args))
    if args.region is not None:
        region(load_plan(args), args.region)
    by = decided_by(args.by)
    result = run_remove(
        RemoveInputs(args.workspace_id, args.region, by, args.reason, ledger_location(args), when.moment, when.option)
    )
    if args.json:
        print_json(
            {
                "removed": result.workspace_id,
                "region": result.region,
                "at": rfc3339(result.moment),
                "batches": list(result.batches),
                "told": [{"batch": b, "at": rfc3339(at)} for b, at in result.told],
            }
        )
        return 0
    print(f"removed workspace {result.workspace_id} (region {result.region}): no later notice goes to it")
    if result.batches:
        print(
            f"  {count(len(result.batches), 'batch', 'batches')} it had not heard of no longer wait for it "
            f"(its notices are not sent; recorded as told without it): {', '.join(result.batches)}"
        )
    for batch, at in result.told:
        print(
            f"  batch {batch} told: every other workspace heard of it; its changes count as announced at {rfc3339(at)}"
        )
    return 0


def _shown(channel, workspace) -> str:
    """The workspace's target for ``channel`` as the channel shows it (a URL masked), or ''."""
    target = workspace.targets.get(channel.name)
    return channel.mask(target) if target else ""
