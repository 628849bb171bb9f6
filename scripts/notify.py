"""``egress notify``: the daily job (:mod:`smtp_egress.jobs.notify`): diff the published list, announce what is due.

1. Validate the plan; fetch and strictly validate the published document (a bad fetch sends nothing).
2. Diff it against plan + ledger: unannounced changes, drift, a list that shrank unexplained.
3. Announce every unannounced change at least notice_days away to every workspace of the region;
   refuse (exit 4) those closer, naming the earliest compliant date, unless --allow-short-notice.
4. Deliver every pending notice (resuming an interrupted run), record each delivery in the ledger.
"""

from __future__ import annotations

import os

from .common import add_db, add_json, add_plan, env_or, moment_for


def register(sub) -> None:
    p = sub.add_parser("notify", help="the daily job: diff the published list, send due IP-change notices",
                       description=__doc__.split("\n\n", 1)[1] if __doc__ else None)
    p.add_argument("--region", required=True)
    p.add_argument("--published", required=True, metavar="URL_OR_FILE",
                   help="the currently published document (http(s) URL or file)")
    p.add_argument("--today", metavar="DATE", help="run as if today were DATE (UTC midnight); default: now")
    p.add_argument("--dry-run", action="store_true", help="report what would be announced; record and send nothing")
    p.add_argument("--allow-short-notice", action="store_true",
                   help="announce changes closer than notice_days anyway, recorded as exceptions (needs --reason)")
    p.add_argument("--reason", metavar="TEXT", help="why short notice is unavoidable (recorded in the ledger)")
    p.add_argument("--outbox", metavar="DIR", help="Maildir for notices when no SMTP URL is set (env EGRESS_OUTBOX; default .egress/outbox)")
    p.add_argument("--smtp-url", metavar="URL", help="smtp://[user:pass@]host[:port][?tls=required] or smtps://... (env EGRESS_SMTP_URL)")
    p.add_argument("--smtp-cafile", metavar="FILE", help="extra CA certificate to trust for SMTP TLS (env EGRESS_SMTP_CAFILE)")
    p.add_argument("--from", dest="sender", metavar="ADDRESS", help="From: of notices (env EGRESS_FROM)")
    p.add_argument("--base-url", metavar="URL", help="public base URL of the published list, linked from notices (env EGRESS_BASE_URL)")
    p.add_argument("--progress", action="store_const", const=True, default=None,
                   help="show the progress bar even when stderr is not a terminal (default: only on a terminal)")
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
    inputs = NotifyInputs(
        region=args.region, published=args.published, plan_path=args.plan, db_url=args.db,
        moment=moment_for(args.today, "--today"), notices=notice_settings(args), dry_run=args.dry_run,
        short_notice_reason=args.reason.strip() if args.allow_short_notice else None, progress=args.progress)
    result = run_notify(inputs)
    emit(result, args.json)
    return result.exit_code


def notice_settings(args):
    """The notice channels' settings from the flags, else their environment variables, else the defaults."""
    from smtp_egress.jobs.notify import DEFAULT_BASE_URL, DEFAULT_OUTBOX, DEFAULT_SENDER, NoticeSettings

    secret = os.environ.get("EGRESS_WEBHOOK_SECRET")
    return NoticeSettings(
        smtp_url=env_or(args.smtp_url, "EGRESS_SMTP_URL") or None,
        outbox=env_or(args.outbox, "EGRESS_OUTBOX", DEFAULT_OUTBOX),
        smtp_cafile=env_or(args.smtp_cafile, "EGRESS_SMTP_CAFILE") or None,
        sender=env_or(args.sender, "EGRESS_FROM", DEFAULT_SENDER),
        base_url=env_or(args.base_url, "EGRESS_BASE_URL", DEFAULT_BASE_URL),
        webhook_secret=secret.encode() if secret else None,
        webhook_allow_private=os.environ.get("EGRESS_WEBHOOK_ALLOW_PRIVATE", "") in ("1", "true", "yes"),
    )
