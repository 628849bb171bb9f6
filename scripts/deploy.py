"""``egress deploy`` (:mod:`smtp_egress.jobs.deploy`): bring a stack's NAT gateways to the day's state, only
when they must change.

It synthesizes the stack offline as of now (the plan, what customers were told from the ledger, the deploy guard
and the policy checks, as ``egress synth`` does), reads the deployed stack's outputs through the Pulumi CLI, and
compares which addresses are attached. Equal: nothing is run, and it says so (exit 0). Different: ``pulumi up``
of the stack through the Pulumi Automation API, with the policy pack (checks/policy_pack) and the deploy guard
(the program reads the ledger from EGRESS_DB) active; then the outputs are read again and must hold the day's
addresses. A change that would replace a NAT gateway (its primary address changes) is refused: a person runs
``pulumi up`` for that. The Pulumi CLI must be on PATH, with the stack's backend and secrets passphrase in the
environment (PULUMI_BACKEND_URL, PULUMI_CONFIG_PASSPHRASE, AWS credentials), as for any Pulumi CLI run.

exit codes: 0 the gateways hold the day's addresses (changed or not); 2 a usage or configuration error (nothing
deployed); 5 the gateways are not at the day's state (a refused replacement, a failed pulumi up)
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .common import add_at, add_db, add_json, add_plan, print_json


def register(sub: Any) -> None:
    p = sub.add_parser(
        "deploy",
        help="bring a stack's NAT gateways to the day's state (pulumi up only when they must change)",
        description=__doc__.split("\n\n", 1)[1].replace("``", ""),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--stack", required=True, metavar="STACK", help="the stack: us or eu (stacks/Pulumi.<stack>.yaml)")
    add_stack_options(p)
    add_plan(p)
    add_db(p)
    add_at(p)
    p.add_argument("--dry-run", action="store_true", help="decide and say what would change; never run pulumi up")
    add_json(p)
    p.set_defaults(run=run)


def add_stack_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--project-dir",
        metavar="DIR",
        default=".",
        help="the Pulumi project folder (Pulumi.yaml, stacks/); default: the current folder",
    )


def deploy_parts(args: argparse.Namespace, stack: str, echo: bool):
    """The deploy job's inputs and its Automation API driver, from the flags."""
    from pathlib import Path

    from smtp_egress.jobs.deploy import DeployInputs
    from smtp_egress.jobs.pulumi_stack import AutomationStack
    from smtp_egress.synth import engine

    from .common import at_flag, ledger_location, load_plan
    from .values import day_value, naming

    with naming("--stack"):
        engine.stack_config(stack)  # an unknown stack, named before anything runs
    load_plan(args)
    location = ledger_location(args)
    day = day_value(args.at, at_flag(args)) if args.at is not None else None
    inputs = DeployInputs(stack=stack, plan_path=Path(args.plan), ledger_url=location, today=day, dry_run=args.dry_run)
    driver = AutomationStack(
        stack,
        Path(args.project_dir),
        env={"EGRESS_DB": location.url},
        on_output=(lambda line: sys.stderr.write(line + "\n")) if echo else None,
    )
    driver.check_project()  # before anything runs
    return inputs, driver


def run(args: argparse.Namespace) -> int:
    from smtp_egress.jobs.deploy import run_deploy

    inputs, driver = deploy_parts(args, args.stack, echo=not args.json)
    result = run_deploy(inputs, driver)
    if args.json:
        d = result.decision
        print_json(
            {
                "stack": d.stack,
                "must_change": d.must_change,
                "attach": list(d.attach),
                "detach": list(d.detach),
                "ran_up": result.ran_up,
                "attached": sorted(result.attached),
                "up": None if result.up is None else {"result": result.up.result, "changes": result.up.changes},
                "message": result.message,
            }
        )
    else:
        print(result.message)
    return 0
