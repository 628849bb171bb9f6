"""The two records a workspace must add for branded tracking, for its region.

* a CNAME at the tracking domain: ``links.customer.com.`` -> ``track.<region>.<platform domain>.``
* an MX at the bounce name under the sending domain: ``<bounce_label>.customer.com.`` ->
  ``10 mx.<region>.<platform domain>.``

The platform's hosts are those the TrackingDns component publishes for the region (``track.`` is a CNAME to the
tracking service, ``mx.`` has address records only, as an MX target must). The platform domain is the stack's
``trackingDomain``. Names are absolute (trailing dot), A-labels, lowercase (:mod:`.names`).
"""

from __future__ import annotations

import dataclasses

from .records import ExpectedRecord

MX_PREFERENCE = 10


@dataclasses.dataclass(frozen=True)
class BrandedDomains:
    """A workspace's branded tracking names, as stored (A-labels, no trailing dot)."""

    workspace_id: str
    region: str
    sending_domain: str
    tracking_domain: str
    bounce_label: str

    @property
    def bounce_name(self) -> str:
        return f"{self.bounce_label}.{self.sending_domain}"


def tracking_host(region: str, platform_domain: str) -> str:
    """What customers' CNAMEs point to (TrackingDns ``track.<region>.<domain>``), absolute."""
    return f"track.{region}.{platform_domain.rstrip('.').lower()}."


def mx_host(region: str, platform_domain: str) -> str:
    """What customers' MX records name (TrackingDns ``mx.<region>.<domain>``), absolute."""
    return f"mx.{region}.{platform_domain.rstrip('.').lower()}."


def expected_records(domains: BrandedDomains, platform_domain: str) -> tuple[ExpectedRecord, ExpectedRecord]:
    """The CNAME, then the MX, that ``domains``' workspace must publish."""
    return (
        ExpectedRecord(f"{domains.tracking_domain}.", "CNAME", tracking_host(domains.region, platform_domain)),
        ExpectedRecord(f"{domains.bounce_name}.", "MX", f"{MX_PREFERENCE} {mx_host(domains.region, platform_domain)}"),
    )


def zone_line(record: ExpectedRecord, ttl: int = 3600) -> str:
    """The record as one zone-file line: ``name TTL IN TYPE value``."""
    return f"{record.name}\t{ttl}\tIN\t{record.type}\t{record.value}"
