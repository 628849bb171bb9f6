"""``egress notify``: the daily job (:mod:`smtp_egress.jobs.notify`): diff the published list, announce what is due.

1. Validate the plan; check every notice channel's settings and server (exit 2 on a bad setting, 6 on a
   server that cannot be reached; nothing is recorded then), on every run; fetch and strictly validate the
   published document (a bad fetch sends nothing).
2. Diff it against plan + ledger: unrecorded changes, drift, a list that shrank unexplained.
3. Record every unrecorded change at least notice_days away as one batch for every workspace of the
   region; refuse (exit 4) those closer, naming the earliest compliant date, unless --allow-short-notice.
4. Deliver every pending notice, one per batch and workspace (resuming an interrupted run). A change is
   announced when its notice reached every workspace (a channel accepted it), not when it was recorded.
5. Exit 6 while a change planned within notice_days has notices not delivered; --accept-undelivered
   WORKSPACE --reason TEXT records a decision to go on without that workspace.
"""

from __future__ import annotations

import os
import sys

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
        metavar="URL_OR_FILE",
        help="the currently published document (http(s) URL or file); required, except with --accept-undelivered",
    )
    add_at(p)
    p.add_argument("--dry-run", action="store_true", help="report what would be announced; record and send nothing")
    p.add_argument(
        "--allow-short-notice",
        action="store_true",
        help="announce changes closer than notice_days anyway, recorded as exceptions (needs --reason)",
    )
    p.add_argument(
        "--reason",
        metavar="TEXT",
        help="why short notice is unavoidable, or why a workspace is accepted undelivered (recorded in the ledger)",
    )
    p.add_argument(
        "--accept-undelivered",
        metavar="WORKSPACE",
        help="record a decision (needs --reason): the region's notices that never reached WORKSPACE count as told "
        "without it, and are not tried again; sends nothing",
    )
    p.add_argument("--by", metavar="NAME", help="who takes the --accept-undelivered decision (default: the login name)")
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

    if args.accept_undelivered is not None:
        return _accept(args)
    if not args.published:
        raise ConfigError("egress notify needs --published URL_OR_FILE (the currently published document)")
    if args.allow_short_notice and not (args.reason or "").strip():
        raise ConfigError("--allow-short-notice needs --reason TEXT: the exception is recorded with its reason")
    check_sender(args)
    warn_loopback(args)
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


def _accept(args) -> int:
    import getpass

    from smtp_egress.errors import ConfigError
    from smtp_egress.jobs.accept import AcceptInputs, run_accept

    from .notify_report import emit_accept

    if args.allow_short_notice or args.published or args.dry_run:
        raise ConfigError(
            "--accept-undelivered records a decision and sends nothing: give it with --region and --reason only"
        )
    try:
        by = args.by or getpass.getuser()
    except (KeyError, OSError):
        by = "unknown"
    when = run_moment(args.at)
    inputs = AcceptInputs(
        region=args.region,
        workspace_id=args.accept_undelivered,
        reason=args.reason or "",
        by=by,
        db_url=ledger_location(args),
        moment=when.moment,
        moment_option=when.option,
    )
    emit_accept(run_accept(inputs), args.json)
    return 0


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
    from smtp_egress.jobs.notices import DEFAULT_BASE_URL, NoticeSettings
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


def check_sender(args) -> None:
    """Exit 2 when the From: given (``--from``, else env EGRESS_FROM) is not an address, naming where it came
    from; warn when notices would go out over SMTP from the default ``ip-notices@localhost``."""
    from smtp_egress.errors import ConfigError
    from smtp_egress.notices.channels.email import DEFAULT_SENDER, sender_problem

    flag = getattr(args, _dest("email", "sender"), None)
    value, source = (flag, "--from") if flag is not None else (os.environ.get("EGRESS_FROM"), "env EGRESS_FROM")
    if value is None:
        if env_or(getattr(args, _dest("email", "smtp_url"), None), "EGRESS_SMTP_URL"):
            print(
                f"egress notify: warning: notices are sent From {DEFAULT_SENDER!r}, which customers' servers may "
                "reject; set --from or EGRESS_FROM to your platform's address",
                file=sys.stderr,
            )
        return
    problem = sender_problem(value)
    if problem:
        shown = value if len(value) <= 80 else value[:77] + "..."
        raise ConfigError(
            f"{source} {shown!r} {problem}; notices need a From: customers' servers accept, e.g. "
            "--from 'IP notices <ip-notices@platform.example>'; nothing was recorded or sent"
        )


def warn_loopback(args) -> None:
    """Warn when notices would link to a loopback address (the default base URL): customers cannot open it."""
    import ipaddress
    from urllib.parse import urlsplit

    from smtp_egress.jobs.notices import DEFAULT_BASE_URL

    url = env_or(args.base_url, "EGRESS_BASE_URL", DEFAULT_BASE_URL)
    host = (urlsplit(url).hostname or "").rstrip(".").lower()
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost" or host.endswith(".localhost")
    if loopback:
        source = (
            "--base-url"
            if args.base_url is not None
            else "EGRESS_BASE_URL"
            if "EGRESS_BASE_URL" in os.environ
            else "the default"
        )
        print(
            f"egress notify: warning: notices link to {url!r} ({source}), a loopback address customers cannot "
            "open; set --base-url or EGRESS_BASE_URL to the public URL of the published list",
            file=sys.stderr,
        )
