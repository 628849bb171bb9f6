"""``egress notify``: the daily job. Diff the published list against the plan, announce what is due.

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
    from smtp_egress.checks.published import fetch_published
    from smtp_egress.errors import ConfigError
    from smtp_egress.ledger import Ledger
    from smtp_egress.plan import load_plan

    from .notify_report import Report

    if args.allow_short_notice and not (args.reason or "").strip():
        raise ConfigError("--allow-short-notice needs --reason TEXT: the exception is recorded with its reason")
    plan = load_plan(args.plan)
    plan.region(args.region)
    now = moment_for(args.today, "--today")
    report = Report(args.region, now, plan.notice_days, dry_run=args.dry_run)
    ledger = Ledger(args.db)
    try:
        with ledger.lock(f"notify-{args.region}"):
            doc = report.fetch(lambda: fetch_published(args.published, args.region))
            if doc is not None:
                _run_job(args, plan, ledger, doc, now, report)
    finally:
        ledger.close()
    report.emit(args.json)
    return report.exit_code()


def _run_job(args, plan, ledger, doc, now, report) -> None:
    from smtp_egress.diff import diff
    from smtp_egress.notices.fanout import deliver

    anns = ledger.announcements(args.region)
    result = diff(plan, args.region, anns, [str(ip) for ip in doc.addresses], now, list(doc.upcoming))
    report.diffed(result, doc)
    if result.missing:
        return  # the document shrank by more than the plan explains: send nothing (report says why)
    targets = ledger.workspaces(args.region)
    to_announce = [(c, None) for c in result.due]
    if args.allow_short_notice:
        to_announce += [(s.change, args.reason.strip()) for s in result.short]
    else:
        report.refused_short(result.short)
    report.refused_blocked(result.blocked)
    if args.dry_run:
        report.would_announce(to_announce, len(targets))
        return
    for change, reason in to_announce:
        anns[change.change_id] = ledger.announce(change, now, plan.notice_days, plan.sha256, targets, reason)
        report.announced(change, reason, len(targets))
    for a in anns.values():
        if a.effective > now.date():
            ledger.enqueue_missing(a.change_id, targets)
    ledger.retarget_unsent()
    pending = ledger.unsent(args.region)
    if not pending:
        return
    channels = _channels(args)
    try:
        summary = deliver(ledger, pending, anns, channels, progress=args.progress)
    finally:
        channels.transport.close()
    report.delivered(summary)


def _channels(args):
    from smtp_egress.notices.fanout import Channels
    from smtp_egress.notices.transport import open_transport
    from smtp_egress.notices.webhook import WebhookSender

    secret = os.environ.get("EGRESS_WEBHOOK_SECRET")
    webhook = None
    if secret:
        allow_private = os.environ.get("EGRESS_WEBHOOK_ALLOW_PRIVATE", "") in ("1", "true", "yes")
        webhook = WebhookSender(secret.encode(), allow_private=allow_private)
    transport = open_transport(env_or(args.smtp_url, "EGRESS_SMTP_URL") or None,
                               env_or(args.outbox, "EGRESS_OUTBOX", os.path.join(".egress", "outbox")),
                               env_or(args.smtp_cafile, "EGRESS_SMTP_CAFILE") or None)
    return Channels(transport=transport, webhook=webhook,
                    sender=env_or(args.sender, "EGRESS_FROM", "smtp-egress IP notices <ip-notices@localhost>"),
                    endpoint_url=env_or(args.base_url, "EGRESS_BASE_URL", "http://127.0.0.1:8080"))
