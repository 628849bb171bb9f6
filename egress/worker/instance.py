"""The worker host marks itself unhealthy in its auto-scaling group, which then replaces it.

``egress worker report-unhealthy`` runs from ``smtp-egress-worker-unhealthy.service``, the worker unit's
``OnFailure=``: the worker unit enters "failed" only once it has hit its start limit (crashing, or killed by the
systemd watchdog because it hung, ``StartLimitBurst`` times within ``StartLimitIntervalSec``). Steps:

1. the instance ID from the instance metadata service, IMDSv2 only (a ``PUT`` for a session token, then a ``GET``
   with it; the launch template requires tokens, hop limit 1; the host firewall lets root and the worker's user
   reach it). The endpoint is ``AWS_EC2_METADATA_SERVICE_ENDPOINT`` when set, as for boto;
2. ``autoscaling:SetInstanceHealth`` (``Unhealthy``, ``ShouldRespectGracePeriod=True``): the role may call it on
   its own group only;
3. ``autoscaling:DescribeAutoScalingInstances``: the status the group now holds. Inside the group's health check
   grace period the call is ignored; the report says so (``accepted`` false) and the unit tries again later.
"""

from __future__ import annotations

import dataclasses
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

from ..errors import EgressError

IMDS = "http://169.254.169.254"
TOKEN_TTL_S = 60
TIMEOUT_S = 5.0
_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")


class InstanceMetadataError(EgressError):
    """The instance metadata service did not give this instance's ID (not on EC2, IMDS blocked or disabled)."""


class HealthReportError(EgressError):
    """The auto-scaling group refused or failed the health report."""


@dataclasses.dataclass(frozen=True)
class HealthReport:
    instance_id: str
    group: str | None  # the instance's auto-scaling group, as the group reports it
    health_status: str | None  # what the group holds now: "UNHEALTHY" once accepted
    accepted: bool


def imds_endpoint(environ: Mapping[str, str]) -> str:
    return (environ.get("AWS_EC2_METADATA_SERVICE_ENDPOINT") or IMDS).rstrip("/")


def instance_id(environ: Mapping[str, str]) -> str:
    """This instance's ID through IMDSv2."""
    endpoint = imds_endpoint(environ)
    where = f"the instance metadata service {endpoint[:100]}"
    if environ.get("AWS_EC2_METADATA_DISABLED", "").lower() == "true":
        raise InstanceMetadataError(f"{where} is disabled (AWS_EC2_METADATA_DISABLED=true): unset it on the worker")
    token = _imds(
        urllib.request.Request(
            f"{endpoint}/latest/api/token",
            method="PUT",
            headers={"X-aws-ec2-metadata-token-ttl-seconds": str(TOKEN_TTL_S)},
        ),
        where,
        "a session token (PUT /latest/api/token)",
    )
    found = _imds(
        urllib.request.Request(f"{endpoint}/latest/meta-data/instance-id", headers={"X-aws-ec2-metadata-token": token}),
        where,
        "the instance ID (GET /latest/meta-data/instance-id)",
    )
    if not (found.startswith("i-") and 3 <= len(found) <= 40 and set(found) <= _ID_CHARS):
        raise InstanceMetadataError(f"{where} answered {found[:60]!r}, not an instance ID (i-...)")
    return found


def _imds(request: urllib.request.Request, where: str, what: str) -> str:
    hint = (
        "run this on the worker instance, as root or the worker's user (the host firewall lets only those reach "
        "IMDS), with the launch template's metadata options (IMDSv2, hop limit 1)"
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as answer:  # http by design: IMDS
            return str(answer.read(4096).decode("ascii", "replace").strip())
    except urllib.error.HTTPError as exc:
        raise InstanceMetadataError(f"{where} refused {what}: HTTP {exc.code}; {hint}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise InstanceMetadataError(f"{where} did not give {what}: {str(reason)[:120]}; {hint}") from None


def report_unhealthy(instance: str, *, region: str | None = None, endpoint_url: str | None = None) -> HealthReport:
    """Mark ``instance`` Unhealthy in its group (respecting the group's grace period), then read the status back."""
    import boto3
    import botocore.exceptions
    from botocore.config import Config

    config = Config(connect_timeout=10, read_timeout=20, retries={"mode": "standard", "max_attempts": 4})
    try:
        client: Any = boto3.client("autoscaling", region_name=region, endpoint_url=endpoint_url, config=config)
        client.set_instance_health(InstanceId=instance, HealthStatus="Unhealthy", ShouldRespectGracePeriod=True)
        found = client.describe_auto_scaling_instances(InstanceIds=[instance])["AutoScalingInstances"]
    except botocore.exceptions.NoRegionError:
        raise HealthReportError("no AWS region for the auto-scaling group: set EGRESS_REGION or --region") from None
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError, ValueError) as exc:
        raise HealthReportError(
            f"marking instance {instance} unhealthy in its auto-scaling group failed: {str(exc)[:300]}; check the "
            "role's autoscaling:SetInstanceHealth permission on this group and the autoscaling VPC endpoint"
        ) from None
    if not found:
        raise HealthReportError(f"instance {instance} is in no auto-scaling group: nothing replaces it")
    group, status = found[0].get("AutoScalingGroupName"), str(found[0].get("HealthStatus", "")).upper()
    return HealthReport(instance, group, status or None, status == "UNHEALTHY")
