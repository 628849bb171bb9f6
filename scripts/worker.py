"""``egress worker``: the delivery worker, which relays rendered messages through each workspace's own SMTP server.

  enqueue   put a send job on the queue: --workspace W [--campaign-type T] --from ADDR --to ADDR [--to ...] FILE.eml
  run       consume the queue until SIGTERM/SIGINT (the systemd unit's command: exactly `egress worker run`);
            --once delivers what is queued and exits: 0 all delivered, 6 some recipient failed (dead letters),
            75 jobs left (deferred, or leased by another worker); --wait-retries SECONDS waits for retries first
  status    jobs queued / in flight / delayed / dead, recipients per state, the latest dead letters
  report-unhealthy
            on a worker instance: mark it Unhealthy in its auto-scaling group so the group replaces it (the
            worker unit's OnFailure= runs it once the worker keeps failing); 0 accepted, 75 not yet (the
            group's health check grace period: try again later)

Configuration (flags win over the environment): --db / EGRESS_DB (the ledger), --queue / EGRESS_QUEUE (an SQS
queue URL https://sqs..., else the embedded queue's file; default .egress/queue.db), --archive / EGRESS_ARCHIVE
(a folder, default .egress/archive, or s3://bucket/prefix: on SQS, enqueue stores a job too large for an SQS
message beside it and the worker fetches it from there), --health / EGRESS_WORKER_HEALTH (HOST:PORT of
/healthz and /metrics, default 127.0.0.1:9464; "off" for none), --region / EGRESS_REGION. EGRESS_TRACKING_KEYS:
the tracking key file; links are rewritten on a workspace's verified tracking domain only with it (without it,
run says once that links stay plain). Production workers name Secrets Manager secrets instead (ARN or name; read
at start, kept in memory only): EGRESS_DB_SECRET holds the ledger URL, EGRESS_TRACKING_KEYS_SECRET the tracking
key file's text; either one next to its plain setting (--db or EGRESS_DB, EGRESS_TRACKING_KEYS) is refused.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator

from .common import add_db, add_json, ledger_location, print_json
from .values import Setting, blame, http_url, naming, setting

LEFT = 75  # EX_TEMPFAIL: jobs are left on the queue (deferred or in flight); run again later


def register(sub) -> None:
    p = sub.add_parser(
        "worker",
        help="the delivery worker: enqueue send jobs, run the worker (--once), see its status",
        description=__doc__.split("\n\n", 1)[1].replace("``", ""),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    verbs = p.add_subparsers(dest="verb", metavar="VERB", required=True)
    enqueue = verbs.add_parser("enqueue", help="put a rendered message on the queue for the worker")
    enqueue.add_argument("--workspace", required=True, metavar="W")
    enqueue.add_argument("--campaign-type", metavar="T", help="routes to the server serving it, else the default")
    enqueue.add_argument("--from", dest="sender", required=True, metavar="ADDR", help="the envelope sender")
    enqueue.add_argument("--to", dest="recipients", action="append", required=True, metavar="ADDR")
    enqueue.add_argument("message", metavar="FILE.eml", help="the rendered message (RFC 5322), '-' for stdin")
    run_ = verbs.add_parser("run", help="deliver queued jobs until stopped (--once: what is queued, then exit)")
    run_.add_argument("--once", action="store_true", help="deliver what is queued now, then exit (0, 6 or 75)")
    run_.add_argument("--wait-retries", type=float, metavar="SECONDS", help="with --once: wait this long for retries")
    run_.add_argument("--health", metavar="HOST:PORT", help="/healthz and /metrics (env EGRESS_WORKER_HEALTH; 'off')")
    run_.add_argument("--batch", type=int, default=100, metavar="N", help="jobs leased and delivered at once")
    status = verbs.add_parser("status", help="the queue's counts, recipients per state, the latest dead letters")
    for q in (enqueue, run_, status):
        add_db(q)
        q.add_argument("--queue", metavar="PATH_OR_URL", help="env EGRESS_QUEUE; default .egress/queue.db")
        q.add_argument("--archive", metavar="DIR_OR_S3", help="env EGRESS_ARCHIVE; default .egress/archive")
        q.add_argument("--region", metavar="REGION", help="the AWS region of the queue/bucket (env EGRESS_REGION)")
        q.add_argument("--endpoint-url", metavar="URL", help="another AWS endpoint for SQS, S3 and Secrets Manager")
        add_json(q)
        q.set_defaults(run=run)
    unhealthy = verbs.add_parser(
        "report-unhealthy", help="on a worker instance: mark it Unhealthy in its auto-scaling group (IMDSv2)"
    )
    unhealthy.add_argument("--region", metavar="REGION", help="the group's AWS region (env EGRESS_REGION)")
    unhealthy.add_argument("--endpoint-url", metavar="URL", help="another AWS endpoint for Auto Scaling")
    add_json(unhealthy)
    unhealthy.set_defaults(run=run)


def _config(args):
    """The WorkerConfig of ``args``; ``args.sources`` remembers where the queue and the archive came from."""
    from smtp_egress.errors import ConfigError
    from smtp_egress.jobs.worker import WorkerConfig
    from smtp_egress.worker.health import DEFAULT_HEALTH, parse_address
    from smtp_egress.worker.loop import WorkerSettings
    from smtp_egress.worker.opening import DEFAULT_ARCHIVE, DEFAULT_QUEUE

    health = setting(getattr(args, "health", None), "--health", "EGRESS_WORKER_HEALTH", DEFAULT_HEALTH)
    if health.value != "off":
        parse_address(health.value or "", health.source or "the default")
    batch = getattr(args, "batch", 100)
    if not 1 <= batch <= 1000:
        raise ConfigError(f"--batch {batch} is out of range: give 1 to 1000")
    queue = setting(args.queue, "--queue", "EGRESS_QUEUE", DEFAULT_QUEUE)
    archive = setting(args.archive, "--archive", "EGRESS_ARCHIVE", DEFAULT_ARCHIVE)
    region = setting(args.region, "--region", "EGRESS_REGION")
    if (queue.value or "").startswith(("http://", "https://")):
        http_url(queue, "SQS queue URL")
    if args.endpoint_url is not None:
        http_url(Setting(args.endpoint_url, "--endpoint-url"), "AWS endpoint")
    keys = setting(None, None, "EGRESS_TRACKING_KEYS")
    ledger_secret, keys_secret = _secrets(args)
    args.sources = {"queue": queue.source, "archive": archive.source}
    return WorkerConfig(
        ledger=ledger_location(args) if args.verb != "enqueue" and not ledger_secret else None,
        ledger_secret=ledger_secret if args.verb != "enqueue" else None,
        tracking_keys_secret=keys_secret,
        queue=queue.value,
        archive=archive.value,
        health=None if health.value == "off" else health.value,
        health_source=health.source or "the default",
        region=region.value,
        endpoint_url=args.endpoint_url,
        settings=WorkerSettings(batch=batch),
        tracking_keys=keys.value if keys.value and keys.value.strip() else None,
    )


def _secrets(args) -> tuple[str | None, str | None]:
    """EGRESS_DB_SECRET and EGRESS_TRACKING_KEYS_SECRET (checked: secret ARNs or names); each refused next to the
    plain setting it replaces (which one would win is a guess nobody should have to make)."""
    from smtp_egress.errors import ConfigError
    from smtp_egress.worker.secrets import DB_SECRET_ENV, TRACKING_KEYS_SECRET_ENV, check_reference

    db, keys = setting(None, None, DB_SECRET_ENV).value, setting(None, None, TRACKING_KEYS_SECRET_ENV).value
    plain_db = "--db" if getattr(args, "db", None) else "EGRESS_DB" if setting(None, None, "EGRESS_DB").given else None
    plain_keys = "EGRESS_TRACKING_KEYS" if setting(None, None, "EGRESS_TRACKING_KEYS").given else None
    for secret, env, plain, what in ((db, DB_SECRET_ENV, plain_db, "ledger"),
                                     (keys, TRACKING_KEYS_SECRET_ENV, plain_keys, "tracking keys")):  # fmt: skip
        if secret and plain:
            raise ConfigError(
                f"both {plain} and {env} name the {what}: keep one ({env} on production workers, the value read "
                "from Secrets Manager) and unset the other"
            )
    return (db and check_reference(db, DB_SECRET_ENV)), (keys and check_reference(keys, TRACKING_KEYS_SECRET_ENV))


@contextlib.contextmanager
def _blamed(args) -> Iterator[None]:
    """A queue's or an archive's error names the flag or variable that chose it."""
    from smtp_egress.worker.archive import ArchiveError
    from smtp_egress.worker.queue import QueueError

    try:
        yield
    except QueueError as exc:
        raise blame(args.sources["queue"], exc) from None
    except ArchiveError as exc:
        raise blame(args.sources["archive"], exc) from None


def run(args) -> int:
    if args.verb == "report-unhealthy":
        return _report_unhealthy(args)
    return {"enqueue": _enqueue, "run": _run, "status": _status}[args.verb](args, _config(args))


def _read_message(path: str) -> bytes:
    from smtp_egress.worker.job import MAX_MESSAGE_BYTES, JobError

    try:
        if path == "-":
            return sys.stdin.buffer.read(MAX_MESSAGE_BYTES + 1)
        with open(path, "rb") as handle:
            return handle.read(MAX_MESSAGE_BYTES + 1)
    except OSError as exc:
        raise JobError(f"cannot read the message {path!r}: {exc.strerror or exc}; give a readable .eml file") from None


def _enqueue(args, config) -> int:
    from smtp_egress.jobs.worker import enqueue
    from smtp_egress.worker import job

    for flag, check, value in (
        ("--workspace", job.check_workspace, args.workspace),
        ("--campaign-type", job.check_campaign_type, args.campaign_type),
        ("--from", job.check_sender, args.sender),
        ("--to", job.check_recipients, args.recipients),
    ):
        with naming(flag):
            check(value)
    with naming(args.message):
        message = _read_message(args.message)
        job.message_problem(message)
    with _blamed(args):
        queued = enqueue(
            config.queue, workspace_id=args.workspace, sender=args.sender, recipients=args.recipients,
            message=message, campaign_type=args.campaign_type, endpoint_url=config.endpoint_url, region=config.region,
            archive=config.archive,
        )  # fmt: skip
    if args.json:
        print_json({"job_id": queued.job_id, "recipients": list(queued.recipients), "queue": config.queue})
    else:
        print(f"queued job {queued.job_id} for {len(queued.recipients)} recipient(s) on {config.queue}")
    return 0


def _run(args, config) -> int:
    from smtp_egress.errors import DELIVERY_INCOMPLETE, ConfigError
    from smtp_egress.jobs.worker import run as run_worker

    if args.wait_retries is not None and not args.once:
        raise ConfigError("--wait-retries goes with --once (a long-running worker retries by itself)")
    with _blamed(args):
        tally = run_worker(config, once=args.once, retry_seconds=args.wait_retries, say=_say)
    left = tally.left
    summary = {
        "jobs": tally.jobs, "delivered": tally.delivered, "deferred": tally.deferred, "failed": tally.failed,
        "dead_letters": tally.dead_letters, "returned": tally.returned,
        "left": None if left is None else {"ready": left.ready, "in_flight": left.in_flight, "delayed": left.delayed},
    }  # fmt: skip
    if args.json:
        print_json(summary)
    else:
        print(", ".join(f"{k} {v}" for k, v in summary.items() if k != "left"))
    if tally.failed or tally.dead_letters:
        return DELIVERY_INCOMPLETE
    if left is not None and left.ready + left.in_flight + left.delayed:
        return LEFT
    return 0


def _say(line: str) -> None:
    print(f"egress worker: {line}", file=sys.stderr, flush=True)


def _status(args, config) -> int:
    from smtp_egress.jobs.worker import status

    with _blamed(args):
        st = status(config)
    q = st.queue
    data = {
        "queue": {"ready": q.ready, "in_flight": q.in_flight, "delayed": q.delayed, "dead": q.dead},
        "recipients": {"delivered": st.delivered, "deferred": st.deferred, "failed": st.failed},
        "dead_letters": [{"job_id": j, "workspace": w, "reason": r} for j, w, r in st.dead_letters],
    }
    if args.json:
        print_json(data)
        return 0
    print(f"queue: {q.ready} ready, {q.in_flight} in flight, {q.delayed} delayed, {q.dead} dead")
    print(f"recipients: {st.delivered} delivered, {st.deferred} deferred, {st.failed} failed")
    for job_id, workspace, reason in st.dead_letters:
        print(f"dead letter {job_id} ({workspace}): {reason}")
    return 0


def _report_unhealthy(args) -> int:
    from smtp_egress.jobs.worker import report_unhealthy

    region = setting(args.region, "--region", "EGRESS_REGION")
    if args.endpoint_url is not None:
        http_url(Setting(args.endpoint_url, "--endpoint-url"), "AWS endpoint")
    report = report_unhealthy(region=region.value, endpoint_url=args.endpoint_url)
    if args.json:
        print_json(
            {"instance_id": report.instance_id, "group": report.group, "health_status": report.health_status,
             "accepted": report.accepted}
        )  # fmt: skip
    elif report.accepted:
        print(f"instance {report.instance_id} marked Unhealthy in {report.group}: the group replaces it")
    else:
        print(
            f"instance {report.instance_id} is still {report.health_status} in {report.group}: inside the group's "
            "health check grace period the report is ignored; run this again once it has passed"
        )
    return 0 if report.accepted else LEFT
