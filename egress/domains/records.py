"""Expected DNS records and the result of checking them: the interface between what a workspace must publish
(:mod:`smtp_egress.domains`) and the DNS checks (:mod:`smtp_egress.checks.domains`)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Literal

RecordType = Literal["CNAME", "MX"]
Status = Literal["verified", "failed", "unknown"]


@dataclasses.dataclass(frozen=True)
class ExpectedRecord:
    """``name`` and ``value`` are absolute A-label names, lowercase, with the trailing dot; an MX value is
    ``"<preference> <host>."``."""

    name: str
    type: RecordType
    value: str


@dataclasses.dataclass(frozen=True)
class RecordCheck:
    """One record: ``verified``, ``failed`` (NXDOMAIN, NODATA or wrong data: definite) or ``unknown`` (SERVFAIL,
    timeout, refused: never changes a stored state). ``diagnosis`` is in words a customer can act on."""

    expected: ExpectedRecord
    status: Status
    found: tuple[str, ...]
    diagnosis: str
    notes: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class DomainCheck:
    """A workspace's check: ``verified`` if every record is, ``unknown`` if any is unknown and none failed,
    ``failed`` otherwise."""

    workspace_id: str
    records: tuple[RecordCheck, ...]
    checked_at: dt.datetime

    @property
    def status(self) -> Status:
        states = {r.status for r in self.records}
        if "failed" in states:
            return "failed"
        if "unknown" in states or not states:
            return "unknown"
        return "verified"
