"""``egress daily`` (:mod:`smtp_egress.jobs.daily`): the scheduled task of one region, the whole day's work in
the order that keeps the promise:

1. notify: announce what is due and deliver the notices (as ``egress notify``; --published is what it diffs)
2. publish the region's tree (--upload s3://BUCKET/PREFIX, as ``egress publish --upload``, with --invalidate;
   or --publish-dir DIR); an address the gateways still hold stays listed
3. bring the stack's NAT gateways to the day's state (as ``egress deploy --stack``: pulumi up only when they
   must change)
4. publish again, only when the gateways changed: the detached addresses leave the list
5. record the day's heartbeat (the ledger; with --heartbeat-namespace, the CloudWatch metric), only when every
   step succeeded

Additions are published before they are attached, removals detached before they leave the list: at no moment
can an address send while it is not listed. A step that fails stops the run (every state it can stop in is
safe); a notify run with problems (exit 3 to 6) does not stop the others. The exit code is the most urgent of
the steps' (notify's table; an upload that fails: 2 for the target, the credentials or the permissions, 3 for
the endpoint; 5 when the gateways are not at the day's state).
"""

from __future__ import annotations

import argparse
from typing import Any

from .common import add_at, add_db, add_json, add_plan, print_json


def register(sub: Any) -> None:
    from .deploy import add_stack_options
    from .notify import add_channel_options, add_heartbeat_options

    p = sub.add_parser(
        "daily",
        help="the scheduled task: notify, publish, bring the gateways to the day's state, publish again",
        description=__doc__.split("\n\n", 1)[1].replace("``", ""),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--region", required=True, metavar="REGION")
    p.add_argument("--stack", metavar="STACK", help="the region's stack (default: the region's name)")
    p.add_argument("--published", required=True, metavar="URL_OR_FILE", help="the currently published document")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument(
        "--upload",
        metavar="s3://BUCKET/PREFIX",
        help="publish the region's tree to the publisher bucket (PREFIX: the region host's root, e.g. s3://B/us)",
    )
    where.add_argument("--publish-dir", metavar="DIR", help="publish the region's tree into DIR")
    p.add_argument("--endpoint-url", metavar="URL", help="with --upload: an S3/CloudFront-compatible endpoint")
    p.add_argument(
        "--invalidate", metavar="DISTRIBUTION_ID", help="with --upload: invalidate the changed paths on CloudFront"
    )
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
    add_heartbeat_options(p)
    add_plan(p)
    add_db(p)
    add_at(p)
    add_json(p)
    p.set_defaults(run=run, progress=None, dry_run=False)


def run(args: argparse.Namespace) -> int:
    from smtp_egress.errors import ConfigError
    from smtp_egress.jobs.daily import run_daily
    from smtp_egress.jobs.deploy import StackGateways
    from smtp_egress.jobs.notify import NotifyInputs, run_notify

    from .common import at_flag, ledger_location, load_plan, region, run_moment
    from .deploy import deploy_parts
    from .notify import check_sender, heartbeat_target, notice_settings
    from .values import Setting, private_key, setting, source_url

    published = source_url(Setting(args.published, "--published"), "published document")
    when = run_moment(args.at, at_flag(args))
    region(load_plan(args), args.region)
    settings = notice_settings(args)
    check_sender(args)
    if setting(args.base_url, "--base-url", "EGRESS_BASE_URL").value is None:
        raise ConfigError("egress daily needs --base-url (or EGRESS_BASE_URL): the public URL of the published list")
    key = private_key(setting(args.signing_key, "--signing-key", "EGRESS_SIGNING_KEY"))
    location = ledger_location(args)
    publisher = _publisher(args, location, settings.base_url, key)
    cloudwatch = heartbeat_target(args)
    inputs, driver = deploy_parts(args, args.stack or args.region, echo=False)
    gateways = StackGateways(inputs, driver)
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

    def heartbeat(notified):
        from smtp_egress.jobs.heartbeat import HeartbeatInputs, record_heartbeat

        return record_heartbeat(HeartbeatInputs(args.region, location, notified.moment, "daily", cloudwatch))

    result = run_daily(args.region, when.moment, lambda: run_notify(notify), publisher, gateways, heartbeat)
    if args.json:
        print_json(
            {
                "region": result.region,
                "steps": [{"step": s.name, "exit_code": s.exit_code, "message": s.message} for s in result.steps],
                "stopped": result.stopped,
                "heartbeat": None if result.heartbeat is None else _beat(result.heartbeat),
                "exit_code": result.exit_code,
            }
        )
    else:
        for s in result.steps:
            print(f"{s.name}: {s.message}" + (f" (exit {s.exit_code})" if s.exit_code else ""))
        print(f"exit {result.exit_code}")
    return result.exit_code


def _publisher(args: argparse.Namespace, location: Any, base_url: str, key: Any) -> Any:
    """The publish step's Publisher: the publisher bucket (--upload), or a folder (--publish-dir)."""
    from .common import at_flag, refuse
    from .values import directory

    if args.upload is None:
        from smtp_egress.jobs.daily_publish import DirectoryPublisher

        refuse("--publish-dir", {"--endpoint-url": args.endpoint_url, "--invalidate": args.invalidate})
        return DirectoryPublisher(args.plan, location, directory(args.publish_dir, "--publish-dir"), base_url, key)
    from smtp_egress.errors import RealClockOnly
    from smtp_egress.jobs.daily_upload import S3Publisher

    from .publish_upload import upload_target

    target = upload_target(args)
    if args.at is not None:  # checked before notify records anything
        raise RealClockOnly(
            f"{at_flag(args)} does not apply to --upload: customers read the list as it stands now (rehearse "
            "another day with --publish-dir DIR on a simulation ledger)"
        )
    _refuse_simulation(location, target.url)
    return S3Publisher(args.plan, location, target, base_url, key)


def _refuse_simulation(location: Any, url: str) -> None:
    """A simulation ledger is never uploaded: refused before notify records anything in it."""
    from smtp_egress.jobs.upload_errors import SimulationNotUploaded
    from smtp_egress.ledger import Ledger

    ledger = Ledger(location)
    try:
        simulated = ledger.simulation
    finally:
        ledger.close()
    if simulated:
        raise SimulationNotUploaded(
            f"{url}: the ledger is a simulation; its documents are never uploaded (run the daily task on the real "
            "ledger, or rehearse with --publish-dir DIR); nothing was recorded, sent or published"
        )


def _beat(beat: Any) -> dict[str, Any]:
    return {
        "recorded_at": beat.beat.finished_at.isoformat(),
        "job": beat.beat.job,
        "metric": beat.metric,
        "metric_error": beat.metric_error,
        "namespace": beat.namespace,
    }
