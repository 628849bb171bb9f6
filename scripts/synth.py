"""``egress synth``: run a regional stack offline and write the deterministic plan of what it declares.

No Pulumi CLI and no cloud credentials: ``stacks/__main__.py`` runs in-process under a recording mock
engine (scripts/synth_engine.py) with the config of ``stacks/Pulumi.<stack>.yaml`` (secrets masked
as "[secret]"). The deploy guard runs exactly as in ``pulumi up``: a change customers were not told about
in time stops the synth with the guard's message (exit 2) and no plan is written.

The plan (``--out FILE``, JSON, sorted keys) lists every resource sorted by URN (type, name, parent,
provider, protect, retain_on_delete, inputs) and the stack outputs; two runs with the same inputs give
the same bytes. A summary is always printed (``--json``: as JSON): resource counts per type, the egress
addresses with their state and whether they are attached, the workers' open ports, guard overrides,
and any policy violation (checks/policies.py): a plan that breaks one is not written, and the exit is 2.
"""

from __future__ import annotations

import argparse
import json
import sys

from .common import add_json, print_json


def register(sub) -> None:
    p = sub.add_parser("synth", help="run a stack offline and write its plan (no Pulumi CLI, no cloud)",
                       description=__doc__.split("\n\n", 1)[1].replace("``", ""),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--stack", required=True, metavar="STACK", help="the stack: us or eu (stacks/Pulumi.<stack>.yaml)")
    p.add_argument("--plan", metavar="PATH", help="the IP plan (env EGRESS_PLAN; default stacks/egress-ips.yaml)")
    p.add_argument("--today", metavar="DATE", help="run as of midnight UTC of DATE (YYYY-MM-DD; env EGRESS_TODAY)")
    p.add_argument("--published", metavar="FILE_OR_URL",
                   help="what customers were told: this published document instead of the ledger or the "
                        "stack's publishedUrl (env EGRESS_PUBLISHED)")
    p.add_argument("--config", action="append", default=[], metavar="KEY=VALUE",
                   help="override a (non-secret) config value for this run, e.g. "
                        "smtp-egress:emergencyOverride='reason' (repeatable)")
    p.add_argument("--out", metavar="FILE", help="write the plan (JSON) to FILE, atomically, only on success")
    add_json(p)
    p.set_defaults(run=run)


def run(args) -> int:
    import os
    from pathlib import Path

    from smtp_egress.dates import parse_day
    from smtp_egress.errors import ConfigError, EgressError
    from smtp_egress.plan import load_plan

    from smtp_egress.files import write_atomic

    plan_path = args.plan or os.environ.get("EGRESS_PLAN") or str(Path("stacks") / "egress-ips.yaml")
    plan = load_plan(plan_path)  # a bad plan fails here, with file:line, before the engine starts
    env = {"EGRESS_PLAN": str(Path(plan_path).resolve())}
    today = args.today or os.environ.get("EGRESS_TODAY")
    if today:
        parse_day(today, where="--today" if args.today else "EGRESS_TODAY")
        env["EGRESS_TODAY"] = today
    published = args.published or os.environ.get("EGRESS_PUBLISHED")
    if published:
        env["EGRESS_PUBLISHED"] = published if "://" in published else str(Path(published).resolve())

    overrides = {}
    for item in args.config:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--config {item!r}: expected KEY=VALUE, e.g. smtp-egress:emergencyOverride='why'")
        overrides[key.strip()] = value

    from . import synth_engine

    try:
        recorded = synth_engine.run_program(args.stack, env, overrides)
    except EgressError:
        raise
    except Exception as exc:  # noqa: BLE001 - unwrap what the Pulumi test harness re-raised
        inner = _user_error(exc)
        if inner is None:
            raise
        raise inner from None
    document = {
        "stack": args.stack, "project": synth_engine.PROJECT, "plan_sha256": plan.sha256, "today": today,
        "resources": recorded["resources"], "outputs": recorded["outputs"],
    }
    summary = summarize(document)
    if args.out and not summary["policy_violations"]:
        data = (json.dumps(document, indent=2, sort_keys=True) + "\n").encode()
        write_atomic(Path(args.out), data)
        summary["out"] = args.out
    if args.json:
        print_json(summary)
    else:
        print_summary(summary)
    if summary["policy_violations"]:
        raise ConfigError(f"{len(summary['policy_violations'])} policy violations (listed above); no plan was written")
    return 0


def _user_error(exc: BaseException):
    """The EgressError (or Pulumi RunError) behind an exception the engine wrapped, if any."""
    import pulumi

    from smtp_egress.errors import ConfigError, EgressError

    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, EgressError):
            return exc
        if isinstance(exc, pulumi.RunError):
            return ConfigError(str(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def summarize(document: dict) -> dict:
    from collections import Counter

    from smtp_egress.checks.policies import validate_plan

    resources = document["resources"]
    counts = Counter(r["type"] for r in resources)
    outputs = document["outputs"]
    return {
        "stack": document["stack"], "today": document["today"], "plan_sha256": document["plan_sha256"],
        "resources": len(resources), "by_type": dict(sorted(counts.items())),
        "egress_addresses": outputs.get("egress_addresses", {}),
        "worker_ports": worker_ports(resources), "guard_overrides": outputs.get("guard_overrides", []),
        "policy_violations": [str(v) for v in validate_plan(document)],
    }


def worker_ports(resources: list[dict]) -> dict[str, dict[str, list[str]]]:
    """The security groups the launch templates use: their ingress and egress rules, as 'tcp/465 -> 0.0.0.0/0'."""
    used = set()
    for r in resources:
        if r["type"] == "aws:ec2/launchTemplate:LaunchTemplate":
            i = r["inputs"]
            used.update(i.get("vpcSecurityGroupIds") or [])
            for ni in i.get("networkInterfaces") or []:
                used.update(ni.get("securityGroups") or [])
    out = {}
    for r in resources:
        if r["type"] == "aws:ec2/securityGroup:SecurityGroup" and r.get("id") in used:
            out[r["name"]] = {direction: sorted(_rule_text(rule, direction) for rule in r["inputs"].get(direction) or [])
                              for direction in ("ingress", "egress")}
    return out


def _rule_text(rule: dict, direction: str) -> str:
    proto, lo, hi = rule.get("protocol"), rule.get("fromPort"), rule.get("toPort")
    ports = "all" if str(proto) == "-1" else (f"{lo}" if lo == hi else f"{lo}-{hi}")
    where = [*(rule.get("cidrBlocks") or []), *(rule.get("ipv6CidrBlocks") or []), *(rule.get("prefixListIds") or []),
             *(rule.get("securityGroups") or []), *(["self"] if rule.get("self") else [])]
    return f"{proto}/{ports} {'from' if direction == 'ingress' else 'to'} {', '.join(where) or 'nowhere'}"


def print_summary(s: dict) -> None:
    w = sys.stdout.write
    w(f"stack {s['stack']} as of {s['today'] or 'now'}: {s['resources']} resources (plan sha256 {s['plan_sha256'][:12]})\n")
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
