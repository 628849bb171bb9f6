"""``egress notify``: the daily job (:mod:`smtp_egress.jobs.notify`): diff the published list, announce what is due.

1. Validate the plan; fetch and strictly validate the published document (a bad fetch sends nothing).
2. Diff it against plan + ledger: unannounced changes, drift, a list that shrank unexplained.
3. Announce every unannounced change at least notice_days away to every workspace of the region;
   refuse (exit 4) those closer, naming the earliest compliant date, unless --allow-short-notice.
4. Deliver every pending notice (resuming an interrupted run), record each delivery in the ledger.
"""

from __future__ import annotations

from .common import add_at, add_db, add_json, add_plan, env_or, ledger_location, run_moment


def register(sub) -> None:
    p = sub.add_parser(
        "notify",
        help="the daily job: diff the published list, send due IP-change notices",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
    )
    p.add_argument("--region", required=True)
    p.add_argument(
        "--published",
        required=True,
        metavar="URL_OR_FILE",
        help="the currently published document (http(s) URL or file)",
    )
    add_at(p)
    p.add_argument("--dry-run", action="store_true", help="report what would be announced; record and send nothing")
    p.add_argument(
        "--allow-short-notice",
        action="store_true",
        help="announce changes closer than notice_days anyway, recorded as exceptions (needs --reason)",
    )
    p.add_argument("--reason", metavar="TEXT", help="why short notice is unavoidable (recorded in the ledger)")
    add_channel_options(p)
    p.add_argument(
        "--base-url",
        metavar="URL",
        help="public base URL of the published list, linked from notices (env EGRESS_BASE_URL)",
    )
    p.add_argument(
        "--progress",
        action="store_const",
        const=True,
        default=None,
        help="show the progress bar even when stderr is not a terminal (default: only on a terminal)",
    )
    add_plan(p)
    add_db(p)
    add_json(p)
    p.set_defaults(run=run)


def run(args) -> int:
    from smtp_egress.errors import ConfigError
    from smtp_egress.jobs.notify import NotifyInputs, run_notify

    from .notify_report import emit

    if args.allow_short_notice and not (args.reason or "").strip():
        raise ConfigError("--allow-short-notice needs --reason TEXT: the exception is recorded with its reason")
    when = run_moment(args.at)
    inputs = NotifyInputs(
        region=args.region,
        published=args.published,
        plan_path=args.plan,
        db_url=ledger_location(args),
        moment=when.moment,
        moment_option=when.option,
        notices=notice_settings(args),
        dry_run=args.dry_run,
        short_notice_reason=args.reason.strip() if args.allow_short_notice else None,
        progress=args.progress,
    )
    result = run_notify(inputs)
    emit(result, args.json)
    return result.exit_code


def add_channel_options(parser) -> None:
    """Every registered notice channel's options that have a flag (the others are environment variables only)."""
    from smtp_egress.notices.channels import CHANNELS

    for channel in CHANNELS.values():
        for option in channel.options:
            if option.flag:
                parser.add_argument(
                    option.flag, dest=_dest(channel.name, option.key), metavar=option.metavar, help=option.help
                )


def notice_settings(args):
    """The notice channels' settings from the flags, else their environment variables, else the defaults."""
    from smtp_egress.jobs.notify import DEFAULT_BASE_URL, NoticeSettings
    from smtp_egress.notices.channels import CHANNELS

    channels = {}
    for channel in CHANNELS.values():
        values = {
            o.key: env_or(getattr(args, _dest(channel.name, o.key), None), o.env, _default(channel, o, args))
            for o in channel.options
        }
        channels[channel.name] = channel.settings(values)
    return NoticeSettings(base_url=env_or(args.base_url, "EGRESS_BASE_URL", DEFAULT_BASE_URL), channels=channels)


def _default(channel, option, args):
    """An option's default; the Maildir outbox's is the project's (.egress/outbox beside the default ledger)."""
    if channel.name == "email" and option.key == "outbox":
        from smtp_egress.project import default_outbox

        return str(default_outbox(args.plan))
    return option.default


def _dest(channel: str, key: str) -> str:
    return f"channel_{channel}_{key}"
