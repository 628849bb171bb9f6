"""The heartbeat of a successful daily run: recorded in the ledger, put as a CloudWatch metric.

:func:`record_heartbeat` is called once a run of the daily job has succeeded (``egress notify`` exiting 0,
not a dry run; the daily command that also publishes and deploys calls it the same way once every step
succeeded). It records the run in the ledger (``heartbeats``), then, when a CloudWatch namespace is given,
puts one data point of :data:`smtp_egress.heartbeats.METRIC_NAME` (value 1, dimension ``Region``) that the
stack's silence alarm watches. The metric is best effort: CloudWatch unreachable, no credentials, no AWS
region, or access denied does not change the run's verdict (what it checked and sent stands); the result
says why the metric was not put, and the alarm fires within 26 hours unless a later run succeeds. A
simulation ledger records its heartbeat at the simulated moment and puts no metric.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import TYPE_CHECKING

from smtp_egress.dates import utc_now
from smtp_egress.errors import ConfigError
from smtp_egress.heartbeats import DIMENSION, METRIC_NAME, Heartbeat, namespace_problem

if TYPE_CHECKING:
    from smtp_egress.ledger_location import LedgerLocation

TIMEOUT_S = 5.0  # connect and read timeouts of each CloudWatch attempt (3 attempts at most)


@dataclasses.dataclass(frozen=True)
class CloudWatchTarget:
    """Where the metric goes: ``namespace``; ``endpoint_url`` None is CloudWatch's own; ``aws_region`` None is
    boto3's usual lookup (AWS_REGION / AWS_DEFAULT_REGION, the profile; a Fargate task has AWS_REGION set)."""

    namespace: str
    endpoint_url: str | None = None
    aws_region: str | None = None


@dataclasses.dataclass(frozen=True)
class HeartbeatInputs:
    region: str
    db_url: LedgerLocation | str
    started_at: dt.datetime  # the run's moment (aware UTC)
    job: str = "notify"
    cloudwatch: CloudWatchTarget | None = None  # None: the ledger only


@dataclasses.dataclass(frozen=True)
class HeartbeatResult:
    beat: Heartbeat
    metric: str  # "put" | "not configured" | "simulation" | "failed"
    metric_error: str | None = None  # why the metric was not put ("failed")
    namespace: str | None = None


def check_namespace(namespace: str, source: str) -> str:
    """``namespace`` if CloudWatch accepts it; ConfigError naming ``source`` (a flag or variable) if not."""
    problem = namespace_problem(namespace)
    if problem:
        shown = namespace if len(namespace) <= 60 else namespace[:57] + "..."
        raise ConfigError(f"{source} {shown!r} {problem}")
    return namespace


def record_heartbeat(inputs: HeartbeatInputs) -> HeartbeatResult:
    """Record a successful run in the ledger, then put the metric (best effort: see the module)."""
    from smtp_egress.ledger import Ledger

    ledger = Ledger(inputs.db_url)
    try:
        simulated = ledger.simulation
        finished = inputs.started_at if simulated else max(utc_now(), inputs.started_at)
        beat = Heartbeat(inputs.region, inputs.job, inputs.started_at, finished)
        ledger.record_heartbeat(beat)
    finally:
        ledger.close()
    target = inputs.cloudwatch
    if target is None:
        return HeartbeatResult(beat, "not configured")
    if simulated:
        return HeartbeatResult(beat, "simulation", namespace=target.namespace)
    error = put_metric(target, inputs.region, beat.finished_at)
    return HeartbeatResult(beat, "failed" if error else "put", error, target.namespace)


def put_metric(target: CloudWatchTarget, region: str, at: dt.datetime) -> str | None:
    """Put one data point (value 1 at ``at``) for ``region``; None when CloudWatch took it, else why not."""
    import boto3
    import botocore.config
    import botocore.exceptions

    config = botocore.config.Config(
        connect_timeout=TIMEOUT_S, read_timeout=TIMEOUT_S, retries={"mode": "standard", "max_attempts": 3}
    )
    try:
        client = boto3.client(
            "cloudwatch", endpoint_url=target.endpoint_url, region_name=target.aws_region, config=config
        )
        client.put_metric_data(
            Namespace=target.namespace,
            MetricData=[
                {
                    "MetricName": METRIC_NAME,
                    "Dimensions": [{"Name": DIMENSION, "Value": region}],
                    "Timestamp": at,
                    "Value": 1.0,
                    "Unit": "Count",
                }
            ],
        )
    except botocore.exceptions.ClientError as exc:
        err = exc.response.get("Error", {})
        return f"CloudWatch refused it: {err.get('Code', '?')}: {' '.join(str(err.get('Message', '')).split())[:300]}"
    except botocore.exceptions.NoRegionError:
        return "no AWS region is set (set AWS_REGION or AWS_DEFAULT_REGION)"
    except botocore.exceptions.NoCredentialsError:
        return "no AWS credentials were found (the task role, or the usual AWS_* variables and profiles)"
    except (botocore.exceptions.BotoCoreError, ValueError) as exc:
        from smtp_egress.masking import mask_url, scrub

        said = " ".join(str(exc).split())[:300]
        if target.endpoint_url:  # botocore quotes the URL: never its password
            where, said = mask_url(target.endpoint_url), scrub(said, target.endpoint_url)
            return f"CloudWatch at {where} could not be reached: {said}"
        return f"CloudWatch could not be reached: {said}"
    return None
