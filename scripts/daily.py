"""``egress daily`` (:mod:`smtp_egress.jobs.daily`): the scheduled task of one region, the whole day's work in
the order that keeps the promise:

1. notify: announce what is due and deliver the notices (as ``egress notify``; --published is what it diffs)
2. publish the region's tree (--publish-dir); an address the gateways still hold stays listed
3. bring the stack's NAT gateways to the day's state (as ``egress deploy --stack``: pulumi up only when they
   must change)
4. publish again, only when the gateways changed: the detached addresses leave the list

Additions are published before they are attached, removals detached before they leave the list: at no moment
can an address send while it is not listed. A step that fails stops the run (every state it can stop in is
safe); a notify run with problems (exit 3 to 6) does not stop the others. The exit code is the most urgent of
the steps' (notify's table, and 5 when the gateways are not at the day's state).
"""

from __future__ import annotations

import argparse
from typing import Any

from .common import add_at, add_db, add_json, add_plan, print_json


def register(sub: Any) -> None:
    from .deploy import add_stack_options
    from .notify import add_channel_options

    p = sub.add_parser(
        "daily",
        help="the scheduled task: notify, publish, bring the gateways to the day's state, publish again",
        description=__doc__.split("\n\n", 1)[1].replace("``", ""),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--region", required=True, metavar="REGION")
    p.add_argument("--stack", metavar="STACK", help="the region's stack (default: the region's name)")
    p.add_argument("--published", required=True, metavar="URL_OR_FILE", help="the currently published document")
    p.add_argument("--publish-dir", required=True, metavar="DIR", help="publish the region's tree into DIR")
    p.add_argument(
        "--base-url",
        metavar="URL",
        help="the public base URL of the published list, linked from notices and the changes feed "
        "(env EGRESS_BASE_URL)",
    )
    p.add_argument(
        "--signing-key",
        metavar="PEM",
        help="Ed25519 private key signing the region's document (env EGRESS_SIGNING_KEY)",
    )
    add_stack_options(p)
    add_channel_options(p)
    p.add_argument("--deadline", metavar="SECONDS", help="as egress notify --deadline (env EGRESS_NOTIFY_DEADLINE)")
    add_plan(p)
    add_db(p)
    add_at(p)
    add_json(p)
    p.set_defaults(run=run, progress=None, dry_run=False)


def run(args: argparse.Namespace) -> int:
    from smtp_egress.errors import ConfigError
    from smtp_egress.jobs.daily import run_daily
    from smtp_egress.jobs.daily_publish import DirectoryPublisher
    from smtp_egress.jobs.deploy import StackGateways
    from smtp_egress.jobs.notify import NotifyInputs, run_notify

    from .common import at_flag, ledger_location, load_plan, region, run_moment
    from .deploy import deploy_parts
    from .notify import check_sender, notice_settings
    from .values import Setting, directory, private_key, setting, source_url

    published = source_url(Setting(args.published, "--published"), "published document")
    when = run_moment(args.at, at_flag(args))
    region(load_plan(args), args.region)
    settings = notice_settings(args)
    check_sender(args)
    if setting(args.base_url, "--base-url", "EGRESS_BASE_URL").value is None:
        raise ConfigError("egress daily needs --base-url (or EGRESS_BASE_URL): the public URL of the published list")
    root = directory(args.publish_dir, "--publish-dir")
    key = private_key(setting(args.signing_key, "--signing-key", "EGRESS_SIGNING_KEY"))
    location = ledger_location(args)
    inputs, driver = deploy_parts(args, args.stack or args.region, echo=False)
    gateways = StackGateways(inputs, driver)
    publisher = DirectoryPublisher(args.plan, location, root, settings.base_url, key)
    notify = NotifyInputs(
        region=args.region,
        published=published,
        plan_path=args.plan,
        db_url=location,
        moment=when.moment,
        moment_option=when.option,
        notices=settings,
        publish_follows=True,  # the list may still be yesterday's: the next step publishes today's
    )
    result = run_daily(args.region, when.moment, lambda: run_notify(notify), publisher, gateways)
    if args.json:
        print_json(
            {
                "region": result.region,
                "steps": [{"step": s.name, "exit_code": s.exit_code, "message": s.message} for s in result.steps],
                "stopped": result.stopped,
                "exit_code": result.exit_code,
            }
        )
    else:
        for s in result.steps:
            print(f"{s.name}: {s.message}" + (f" (exit {s.exit_code})" if s.exit_code else ""))
        print(f"exit {result.exit_code}")
    return result.exit_code
