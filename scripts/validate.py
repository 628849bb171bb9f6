"""``egress validate``: check the IP plan and say exactly what is wrong, with file:line."""

from __future__ import annotations

from smtp_egress.wording import count

from .common import add_json, add_plan, print_json


def register(sub) -> None:
    p = sub.add_parser(
        "validate", help="check the IP plan", description="Check the IP plan: syntax, keys, addresses, dates, coverage."
    )
    add_plan(p)
    add_json(p)
    p.set_defaults(run=run)


def run(args) -> int:
    from smtp_egress.errors import PlanError

    from .common import load_plan

    try:
        plan = load_plan(args)
    except PlanError as exc:
        if args.json:
            print_json({"ok": False, "plan": args.plan, "problems": exc.problems})
        raise
    counts = {name: len(entries) for name, entries in plan.regions.items()}
    changes = [c.change_id for c in plan.changes()]
    summary = {
        "ok": True,
        "plan": plan.path,
        "sha256": plan.sha256,
        "notice_days": plan.notice_days,
        "regions": counts,
        "changes": changes,
    }
    if args.json:
        print_json(summary)
    else:
        regions = ", ".join(f"{n} ({count(c, 'address')})" for n, c in counts.items())
        print(f"{plan.path}: OK: {regions}; {count(len(changes), 'dated change')}; notice {plan.notice_days} days")
    return 0
