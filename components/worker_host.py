"""The delivery worker host's cloud-init document: its user, configuration, firewall and units (the worker under
systemd's watchdog, and the unit that reports the instance unhealthy when the worker keeps failing).

:func:`render_user_data` renders ``templates/worker-user-data.yaml.j2`` (the launch template's user data); the
worker AMI build (:mod:`~smtp_egress.components.worker_unit`) and the CI host (``scripts/dev/provision-worker``)
apply the same document. Every value is checked before it goes in, so none can break out of the configuration
file, the unit or the YAML, and none may carry a password: the file is on disk (root:smtp-egress 0640).

Secrets reach production workers as references only: ``ledger_secret`` and ``tracking_keys_secret`` are Secrets
Manager ARNs, written as ``EGRESS_DB_SECRET`` and ``EGRESS_TRACKING_KEYS_SECRET``; the worker reads their values at
start (:mod:`smtp_egress.worker.secrets`) and keeps them in memory. A plain ``ledger_url`` (no password) is for
hosts without Secrets Manager, such as the CI's; giving both is refused.
"""

from __future__ import annotations

import re

import jinja2

from smtp_egress.worker.secrets import SECRET_ARN

from .worker_firewall import ruleset

CONFIG_PATH = "/etc/smtp-egress/worker.env"
HEALTH = "127.0.0.1:9464"  # the worker's health and /metrics endpoint (loopback only)
# The systemd watchdog (WatchdogSec): the worker pings every third of it while its loop lives, the loop ticks at
# least every TICK (5 s) during a batch and after each receive (at most 20 s of long polling), /healthz counts it
# stale after 60 s, and a batch older than its lease (300 s, longer than the longest delivery) counts as stuck. 30 s
# kills a worker whose event loop is blocked within 30 s, one whose loop stopped ticking within 90 s, a stuck
# batch within 330 s, while three pings in a row must be missed first.
WATCHDOG_S = 30
# 5 starts in 10 minutes: a worker crashing at once fails the unit within a minute (RestartSec=10), one hanging
# (killed after WatchdogSec, restarted 10 s later) within about 5 minutes; then OnFailure= reports the instance.
START_LIMIT_INTERVAL_S = 600
START_LIMIT_BURST = 5
_REGION = re.compile(r"[a-z][a-z0-9-]{0,30}")
_SAFE_VALUE = re.compile(r"[A-Za-z0-9._\-:/]{1,1024}")  # what may go into the unit and the config unquoted
_URL = re.compile(r"[A-Za-z0-9._\-:/@?=&+%]{1,1024}")  # a ledger URL (SQLAlchemy form)
_ARCHIVE = re.compile(r"(s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[A-Za-z0-9._\-/]{0,900})?|/[A-Za-z0-9._\-/]{1,900})")
_USERINFO_PASSWORD = re.compile(r"://[^/@]*:[^/@]*@")


def _checked(what: str, value: object, pattern: re.Pattern[str]) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        shown = repr(value)[:80] if value is not None else "None"
        raise ValueError(f"{what} {shown} cannot go into the worker's cloud-init (unexpected characters)")
    return value


def _aws_region(queue_url: str) -> str | None:
    """The AWS region of an SQS queue URL (boto3 on EC2 does not take it from the instance by itself)."""
    found = re.fullmatch(r"https://sqs\.([a-z0-9-]+)\.amazonaws\.com/.*", queue_url)
    return found.group(1) if found else None


def render_user_data(
    *,
    region: str,
    queue: str,
    archive: str,
    vpc_cidr: str,
    smtp_kms_key: str | None = None,
    ledger_url: str | None = None,
    stop_timeout: int = 150,
    watchdog_seconds: int = WATCHDOG_S,
    ledger_secret: str | None = None,
    tracking_keys_secret: str | None = None,
) -> str:
    """The cloud-init document (text, not yet base64). ``queue``: the SQS queue URL (or, on a test host, the
    embedded queue's directory); ``archive``: ``s3://bucket/prefix`` (or a directory); ``ledger_url`` must not
    carry a password; ``ledger_secret`` / ``tracking_keys_secret``: the ARNs of the secrets holding the ledger URL
    and the tracking keyring."""
    if ledger_url and ledger_secret:
        raise ValueError("give ledger_url or ledger_secret, not both: the worker would not know which ledger to use")
    values = {
        "region": _checked("region", region, _REGION),
        "queue": _checked("queue", queue, _SAFE_VALUE),
        "archive": _checked("archive", archive, _ARCHIVE),
        "smtp_kms_key": smtp_kms_key and _checked("smtp_kms_key", smtp_kms_key, _SAFE_VALUE),
        "ledger_url": ledger_url and _checked("ledger_url", ledger_url, _URL),
        "ledger_secret": ledger_secret and _checked("ledger_secret", ledger_secret, SECRET_ARN),
        "tracking_keys_secret": tracking_keys_secret
        and _checked("tracking_keys_secret", tracking_keys_secret, SECRET_ARN),
        "aws_region": _aws_region(queue),
        "health": HEALTH,
        "stop_timeout": int(stop_timeout),
        "watchdog": _watchdog(watchdog_seconds),
        "start_limit_interval": START_LIMIT_INTERVAL_S,
        "start_limit_burst": START_LIMIT_BURST,
        "firewall": ruleset(vpc_cidr),
    }
    if ledger_url and _USERINFO_PASSWORD.search(ledger_url):
        raise ValueError(
            "ledger_url carries a password: it would be written in the launch template's user data and on the "
            "host's disk; give a URL without one (e.g. PostgreSQL with IAM authentication or a client certificate)"
        )
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("smtp_egress.components", "templates"),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
    )
    return env.get_template("worker-user-data.yaml.j2").render(**values)


def _watchdog(seconds: object) -> int:
    if isinstance(seconds, bool) or not isinstance(seconds, int) or not 3 <= seconds <= 600:
        raise ValueError(f"watchdog_seconds {str(seconds)[:40]!r} must be a whole number of seconds from 3 to 600")
    return seconds
