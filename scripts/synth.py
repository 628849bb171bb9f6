"""``egress synth``: run a regional stack offline and write the deterministic plan of what it declares.

No Pulumi CLI and no cloud credentials: ``stacks/__main__.py`` runs in-process under a recording mock
engine (smtp_egress.synth) with the config of ``stacks/Pulumi.<stack>.yaml`` (secrets masked as
"[secret]"), given the plan, the day and what customers were told as arguments. The deploy guard runs exactly
as in ``pulumi up``: a change customers were not told about in time stops the synth with the guard's message
(exit 2) and no plan is written. What customers were told comes from --published (env EGRESS_PUBLISHED), else
the ledger of --db (env EGRESS_DB; it must exist), else the project's default ledger when it exists, else the
stack's publishedUrl; when that is unset or an example placeholder, the synth says so (exit 2) instead of
fetching. A plan made from a simulation ledger says so (output and summary "simulated").

The plan (``--out FILE``, JSON, sorted keys) lists every resource sorted by URN (type, name, parent,
provider, protect, retain_on_delete, inputs) and the stack outputs; two runs with the same inputs give
the same bytes. A summary is always printed (``--json``: as JSON): resource counts per type, the egress
addresses with their state and whether they are attached, the workers' open ports, guard overrides,
and any policy violation (checks/policies.py): a plan that breaks one is not written, and the exit is 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from smtp_egress.wording import count

from .common import add_at, add_db, add_json, add_plan, ledger_location, print_json


def register(sub: Any) -> None:
    p = sub.add_parser(
        "synth",
        help="run a stack offline and write its plan (no Pulumi CLI, no cloud)",
        description=__doc__.split("\n\n", 1)[1].replace("``", ""),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--stack", required=True, metavar="STACK", help="the stack: us or eu (stacks/Pulumi.<stack>.yaml)")
    add_plan(p)
    add_at(p, env="EGRESS_TODAY")
    p.add_argument(
        "--published",
        metavar="FILE_OR_URL",
        help="what customers were told: this published document instead of the ledger or the "
        "stack's publishedUrl (env EGRESS_PUBLISHED)",
    )
    add_db(p)
    p.add_argument(
        "--config",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a (non-secret) config value for this run, e.g. "
        "smtp-egress:emergencyOverride='reason' (repeatable)",
    )
    p.add_argument("--out", metavar="FILE", help="write the plan (JSON) to FILE, atomically, only on success")
    add_json(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from smtp_egress.errors import ConfigError, PublishedUnusable
    from smtp_egress.jobs import synth
    from smtp_egress.ledger_location import default_location
    from smtp_egress.synth import engine

    from .common import at_flag, load_plan
    from .values import blame, day_value, naming, output_file, setting, source_url, write_output

    output_file(args.out)
    today = setting(args.at, at_flag(args), "EGRESS_TODAY")
    day = day_value(today.value, str(today.source)) if today.value is not None else None
    overrides: dict[str, str] = {}
    for item in args.config:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--config {item[:200]!r}: expected KEY=VALUE, e.g. smtp-egress:emergencyOverride='why'")
        overrides[key.strip()] = value
    published = setting(args.published, "--published", "EGRESS_PUBLISHED")
    if published.value is not None:
        source_url(published, "published document")
        if args.db is not None:  # what customers were told comes from the document: the ledger is not read
            raise ConfigError(
                f"--db does not apply with {published.source} (what customers were told comes from that document, "
                f"not a ledger): give one of them" + ("" if published.source == "--published" else " (unset it)")
            )
    with naming("--stack"):
        engine.stack_config(args.stack)  # an unknown stack, named before anything runs
    plan_path = Path(args.plan)
    load_plan(args)  # a bad plan is named by where its path came from
    given = args.db or os.environ.get("EGRESS_DB")
    inputs = synth.SynthInputs(
        stack=args.stack,
        plan_path=plan_path,
        today=day,
        published=published.value,
        ledger_url=ledger_location(args, str(plan_path)) if given else None,
        config=overrides,
        default_ledger=default_location(plan_path),
    )
    try:
        result = synth.run(inputs)
    except PublishedUnusable as exc:  # the document given could not be used: say where it was given
        raise blame(published.source, exc) from None
    summary = result.summary.as_dict()
    if args.out is not None and not result.violations:
        write_output(args.out, result.plan_bytes())
        summary["out"] = args.out
    if args.json:
        print_json(summary)
    else:
        print_summary(summary)
    if result.violations:
        raise ConfigError(f"{count(len(result.violations), 'policy violation')} (listed above); no plan was written")
    return 0


def print_summary(s: dict[str, Any]) -> None:
    w = sys.stdout.write
    w(
        f"stack {s['stack']} as of {s['today'] or 'now'}: {count(s['resources'], 'resource')} "
        f"(plan sha256 {s['plan_sha256'][:12]})\n"
    )
    if s.get("simulated"):
        w("SIMULATED: what customers were told comes from a simulation ledger (a test or demo), not a real one\n")
    for typ, n in s["by_type"].items():
        w(f"  {n:4d}  {typ}\n")
    w("egress addresses:\n")
    for ip, a in s["egress_addresses"].items():
        w(f"  {ip:<40} {a['state']:<10} attached: {'yes' if a['attached'] else 'no'}  {a.get('allocation_id', '')}\n")
    for sg, dirs in s["worker_ports"].items():
        w(f"workers' security group {sg}:\n")
        for direction in ("ingress", "egress"):
            w(f"  {direction}: {'; '.join(dirs[direction]) or 'none'}\n")
    if s["guard_overrides"]:
        w("deploy guard OVERRIDDEN:\n")
        for o in s["guard_overrides"]:
            w(f"  {o['ip']}: {o['reason']}\n")
    else:
        w("deploy guard: no overrides\n")
    for v in s["policy_violations"]:
        w(f"POLICY VIOLATION {v}\n")
    if s.get("out"):
        w(f"wrote {s['out']}\n")
