"""``egress status``: is the promise safe right now? (:mod:`smtp_egress.jobs.status`)

For one region: the daily job's last successful run (the ledger's heartbeat), whether the live document is the
one the plan and the ledger say must be published now (its sha256, else what differs), notices not delivered,
the changes planned within notice_days and whether they are announced and delivered, and the gateways: what the
timeline attaches today, what changes today, and whether the live list covers it. With --stack, the deployed
stack's outputs are read through the Pulumi CLI (as egress deploy does) and the gateways compared with the
timeline; without it the deployed state is "unknown". The live document is fetched from --published, else from
smtp-egress:publishedUrl in stacks/Pulumi.<region>.yaml, with the daily job's guards. Read only: it records and
sends nothing.
"""

from __future__ import annotations

import argparse

from .common import add_at, add_db, add_json, add_plan, at_flag, ledger_location, run_moment

EXIT_CODES = """\
exit codes (the most urgent when several apply: 3, then 6, 4, 5):
  0  all well: the promise is safe right now
  2  a usage or configuration error (flag, plan, ledger); nothing was looked at
  3  the live document could not be fetched or is not usable
  4  a change within notice_days is not announced and too close to be in time, or the deploy guard would refuse
  5  the live document is not what must be published now, or an attached address is not in the live list
  6  no successful daily run for 26 hours (or ever), notices not delivered, or a change held by its notice"""


def register(sub) -> None:
    p = sub.add_parser(
        "status",
        help="is the promise safe right now? the daily job, the live list, notices, changes, gateways",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--region", required=True)
    p.add_argument(
        "--published",
        metavar="URL_OR_FILE",
        help="the live document (default: smtp-egress:publishedUrl of stacks/Pulumi.<region>.yaml)",
    )
    p.add_argument(
        "--stack",
        metavar="STACK",
        help="read the deployed stack's outputs (pulumi stack output, through the Pulumi CLI) and compare its gateways "
        "with the timeline (default: not read, 'unknown')",
    )
    p.add_argument(
        "--project-dir",
        metavar="DIR",
        help="the Pulumi project folder holding Pulumi.yaml, for --stack (default: the current directory)",
    )
    add_at(p)
    add_plan(p)
    add_db(p)
    add_json(p)
    p.set_defaults(run=run)


def run(args) -> int:
    from smtp_egress.jobs.status import StatusInputs, run_status

    from .common import load_plan, region
    from .status_report import emit
    from .values import Setting, source_url

    when = run_moment(args.at, at_flag(args))
    region(load_plan(args), args.region)
    if args.published is not None:
        published = source_url(Setting(args.published, "--published"), "published document")
    else:
        published = stack_published_url(args.region)
    deployed = None
    if args.stack is not None:
        from pathlib import Path

        from smtp_egress.errors import ConfigError
        from smtp_egress.jobs.pulumi_stack import AutomationStack
        from smtp_egress.synth import engine

        from .values import excerpt, naming

        with naming("--stack"):
            engine.stack_config(args.stack)  # a stack of this project, as egress deploy checks it
        driver = AutomationStack(args.stack, Path(args.project_dir or "."))
        try:
            driver.check_project()
        except ConfigError as exc:
            raise ConfigError(f"--stack {excerpt(args.stack)}: {exc}") from None
        deployed = driver.outputs
    elif args.project_dir is not None:
        from .common import refuse

        refuse("egress status without --stack", {"--project-dir": args.project_dir})
    inputs = StatusInputs(
        region=args.region,
        plan_path=args.plan,
        db_url=ledger_location(args),
        published=published,
        moment=when.moment,
        deployed=deployed,
        stack=args.stack,
    )
    result = run_status(inputs)
    emit(result, args.json)
    return result.exit_code


def stack_published_url(region: str) -> str:
    """smtp-egress:publishedUrl of the region's stack file; ConfigError when unset or an example placeholder."""
    from pathlib import Path

    import yaml

    from smtp_egress.errors import ConfigError
    from smtp_egress.jobs.synth import PUBLISHED_URL, is_placeholder

    path = Path(__file__).resolve().parents[1] / "stacks" / f"Pulumi.{region}.yaml"
    try:
        config = (yaml.safe_load(path.read_text("utf-8")) or {}).get("config") or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(
            f"no --published, and the stack file {path} cannot be read ({exc}); pass --published URL_OR_FILE"
        ) from None
    url = config.get(PUBLISHED_URL)
    if url is None:
        said = "unset"
    elif not isinstance(url, str):
        said = f"{str(url)[:80]!r}, not a URL"
    elif is_placeholder(url):
        said = f"{url[:100]!r}, an example placeholder"
    else:
        return url
    raise ConfigError(
        f"no --published, and {PUBLISHED_URL} in {path} is {said}; nothing was fetched. Pass --published "
        "URL_OR_FILE (the region's live document), or set the stack's real publishedUrl"
    )
