"""``egress domains expected``: the records one workspace must add, for its region."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING

from smtp_egress.domains.expected import BrandedDomains, expected_records

from .domains_verify import Selection, check_regions, select

if TYPE_CHECKING:
    from smtp_egress.domains.records import ExpectedRecord
    from smtp_egress.ledger_location import LedgerLocation


@dataclasses.dataclass(frozen=True)
class Expected:
    domains: BrandedDomains
    records: tuple[ExpectedRecord, ...]


def run_expected(db: LedgerLocation | str, workspace_id: str, platform_domains: Mapping[str, str]) -> Expected:
    """The CNAME and MX ``workspace_id`` must publish (its bounce label is assigned now if it had none)."""
    from smtp_egress.ledger import Ledger

    ledger = Ledger(db)
    try:
        (domains,) = select(ledger, Selection(workspace_id=workspace_id))
    finally:
        ledger.close()
    check_regions([domains], platform_domains)
    return Expected(domains, expected_records(domains, platform_domains[domains.region]))
