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

import sys

from .common import add_at, add_db, add_json, add_plan, at_flag, ledger_location, run_moment

EXIT_CODES = """\
exit codes (the most urgent when several apply: 3, then 6, 4, 5):
  0  all well (also when nothing was due)
  1  an internal error (a bug: please report it with its traceback)
  2  a usage or configuration error: a flag, variable, plan, ledger or channel setting; nothing was recorded or sent
  3  the published document could not be fetched or is not usable; nothing was announced or sent
  4  a change is closer than notice_days: it was not announced (--allow-short-notice --reason TEXT to record it
     as an exception)
  5  drift: the published list differs from what the plan and the ledger say it must hold today
  6  notices not delivered: a channel's server failed its check, or a change planned within notice_days has
     notices that did not reach every workspace (rerun to resume, or decide with --accept-undelivered)"""


def register(sub) -> None:
    import argparse

    p = sub.add_parser(
        "notify",
        help="the daily job: diff the published list, send due IP-change notices",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
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
        "--deadline",
        metavar="SECONDS",
        help="start no notice after the fan-out has run this long; the rest stay pending for the next run, exit 6 "
        "(env EGRESS_NOTIFY_DEADLINE; default 1800)",
    )
    add_heartbeat_options(p)
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

    from .common import load_plan, refuse, region
    from .notify_report import emit
    from .values import Setting, source_url

    if args.accept_undelivered is not None:
        return _accept(args)
    if args.published is None:
        raise ConfigError("egress notify needs --published URL_OR_FILE (the currently published document)")
    if args.allow_short_notice and not (args.reason or "").strip():
        raise ConfigError("--allow-short-notice needs --reason TEXT: the exception is recorded with its reason")
    if not args.allow_short_notice:
        refuse("a notify run without --allow-short-notice or --accept-undelivered", {"--reason": args.reason})
    refuse("a notify run without --accept-undelivered", {"--by": args.by})
    if args.dry_run:
        refuse("a dry run (it records no heartbeat)", _heartbeat_flags(args))
    published = source_url(Setting(args.published, "--published"), "published document")
    when = run_moment(args.at, at_flag(args))
    region(load_plan(args), args.region)
    settings = notice_settings(args)
    check_sender(args)
    warn_loopback(args)
    cloudwatch = heartbeat_target(args)
    inputs = NotifyInputs(
        region=args.region,
        published=published,
        plan_path=args.plan,
        db_url=ledger_location(args),
        moment=when.moment,
        moment_option=when.option,
        notices=settings,
        dry_run=args.dry_run,
        short_notice_reason=args.reason.strip() if args.allow_short_notice else None,
        progress=args.progress,
    )
    result = run_notify(inputs)
    beat = None
    if result.exit_code == 0 and not args.dry_run:  # a successful run: silence would be an alarm
        from smtp_egress.jobs.heartbeat import HeartbeatInputs, record_heartbeat

        beat = record_heartbeat(HeartbeatInputs(args.region, inputs.db_url, result.moment, cloudwatch=cloudwatch))
    emit(result, args.json, beat)
    return result.exit_code


def add_heartbeat_options(p) -> None:
    p.add_argument(
        "--heartbeat-namespace",
        metavar="NAMESPACE",
        help="after a run that exits 0, also put the heartbeat metric (DailyRunSucceeded, dimension Region) in "
        "this CloudWatch namespace; the ledger records the run either way (env EGRESS_HEARTBEAT_NAMESPACE)",
    )
    p.add_argument(
        "--cloudwatch-endpoint-url",
        metavar="URL",
        help="the CloudWatch endpoint for the heartbeat (env EGRESS_CLOUDWATCH_ENDPOINT_URL; default: AWS's)",
    )


def _heartbeat_flags(args) -> dict[str, object]:
    return {
        "--heartbeat-namespace": args.heartbeat_namespace,
        "--cloudwatch-endpoint-url": args.cloudwatch_endpoint_url,
    }


def heartbeat_target(args):
    """Where a successful run puts its heartbeat metric (None: the ledger only); ConfigError naming the flag or
    variable of a bad namespace or endpoint URL."""
    from smtp_egress.errors import ConfigError
    from smtp_egress.jobs.heartbeat import CloudWatchTarget, check_namespace

    from .values import http_url, setting

    namespace = setting(args.heartbeat_namespace, "--heartbeat-namespace", "EGRESS_HEARTBEAT_NAMESPACE")
    endpoint = setting(args.cloudwatch_endpoint_url, "--cloudwatch-endpoint-url", "EGRESS_CLOUDWATCH_ENDPOINT_URL")
    if namespace.value is None:
        if endpoint.given:
            raise ConfigError(
                f"{endpoint.source} is set but no heartbeat namespace is (--heartbeat-namespace or "
                "EGRESS_HEARTBEAT_NAMESPACE): nothing would be put there"
            )
        return None
    url = http_url(endpoint, "CloudWatch endpoint") if endpoint.given else None
    return CloudWatchTarget(check_namespace(namespace.value, namespace.source or ""), url)


def _accept(args) -> int:
    from smtp_egress.errors import ConfigError
    from smtp_egress.jobs.accept import AcceptInputs, NothingToAccept, run_accept

    from .common import decided_by, load_plan, refuse, region
    from .notify_report import emit_accept
    from .values import blame

    what = " (it records a decision and sends nothing: give it with --region and --reason)"
    fetching = {
        "--published": args.published,
        "--allow-short-notice": args.allow_short_notice,
        "--dry-run": args.dry_run,
    }
    refuse("--accept-undelivered", {**fetching, **_sending_flags(args), **_heartbeat_flags(args)}, what)
    if not args.accept_undelivered.strip():
        raise ConfigError("--accept-undelivered: the workspace id is empty; egress workspaces list shows them")
    by = decided_by(args.by)
    when = run_moment(args.at, at_flag(args))
    region(load_plan(args), args.region)
    inputs = AcceptInputs(
        region=args.region,
        workspace_id=args.accept_undelivered,
        reason=args.reason or "",
        by=by,
        db_url=ledger_location(args),
        moment=when.moment,
        moment_option=when.option,
    )
    try:
        result = run_accept(inputs)
    except NothingToAccept as exc:
        raise blame("--accept-undelivered", exc) from None
    emit_accept(result, args.json)
    return 0


def _sending_flags(args) -> dict[str, object]:
    """The flags that only matter to a run that sends: the channels' options, --base-url, --deadline, --progress."""
    from smtp_egress.notices.channels import CHANNELS

    flags: dict[str, object] = {
        option.flag: getattr(args, _dest(channel.name, option.key), None)
        for channel in CHANNELS.values()
        for option in channel.options
        if option.flag
    }
    return {**flags, "--base-url": args.base_url, "--deadline": args.deadline, "--progress": args.progress}


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
    """The notice channels' settings from the flags, else their environment variables, else the defaults; each
    channel is told where every given value came from, so that its messages name the flag or variable used."""
    from smtp_egress.jobs.notices import DEFAULT_BASE_URL, DEFAULT_DEADLINE_S, NoticeSettings
    from smtp_egress.notices.channels import CHANNELS

    from .common import resolve
    from .values import http_url, setting

    resolve(args)
    channels = {}
    for channel in CHANNELS.values():
        given = {
            o.key: setting(getattr(args, _dest(channel.name, o.key), None), o.flag, o.env, _default(channel, o, args))
            for o in channel.options
        }
        values = {key: s.value for key, s in given.items()}
        sources = {key: s.source for key, s in given.items() if s.source}
        channels[channel.name] = channel.settings(values, sources)
    base = setting(args.base_url, "--base-url", "EGRESS_BASE_URL", DEFAULT_BASE_URL)
    deadline = seconds(setting(args.deadline, "--deadline", "EGRESS_NOTIFY_DEADLINE", None), DEFAULT_DEADLINE_S)
    return NoticeSettings(base_url=http_url(base, "base URL"), channels=channels, deadline=deadline)


def seconds(given, default: float) -> float:
    """A length of time in seconds (a decimal number above 0, at most a day); ConfigError naming its source."""
    import math

    from smtp_egress.errors import ConfigError
    from smtp_egress.jobs.notices import MAX_DEADLINE_S

    if given.value is None:
        return default
    try:
        value = float(given.value.strip())
    except ValueError:
        value = math.nan
    if not 0 < value <= MAX_DEADLINE_S:  # NaN fails this too
        raise ConfigError(
            f"{given.named()}: the deadline must be a number of seconds above 0, at most {MAX_DEADLINE_S:g}"
        )
    return value


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

    from .values import setting

    flag = getattr(args, _dest("email", "sender"), None)
    given = setting(flag, "--from", "EGRESS_FROM")
    value, source = given.value, given.source
    if value is None:
        if setting(getattr(args, _dest("email", "smtp_url"), None), "--smtp-url", "EGRESS_SMTP_URL").value:
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

    from .values import setting

    base = setting(args.base_url, "--base-url", "EGRESS_BASE_URL", DEFAULT_BASE_URL)
    url = base.value or DEFAULT_BASE_URL
    host = (urlsplit(url).hostname or "").rstrip(".").lower()
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost" or host.endswith(".localhost")
    if loopback:
        source = base.source or "the default"
        print(
            f"egress notify: warning: notices link to {url!r} ({source}), a loopback address customers cannot "
            "open; set --base-url or EGRESS_BASE_URL to the public URL of the published list",
            file=sys.stderr,
        )
