"""A scripted DNS engine for the domains job's tests: answers from a table, no DNS at all (the 72-hour rule over
simulated days, time budgets, bounded concurrency). Tests against a real name server use the real engine of
smtp_egress.checks.domains and knotd. Never used by the product."""

from __future__ import annotations

import asyncio
import datetime as dt

from smtp_egress.domains.records import DomainCheck, RecordCheck
from smtp_egress.jobs.domains_engine import Engine


def scripted(outcomes):
    """An engine that answers from ``outcomes`` (workspace id -> status for every record), no DNS at all."""

    async def check(workspace_id, expected, resolver):
        status = outcomes[workspace_id]
        if status == "hang":
            await asyncio.sleep(3600)
        records = tuple(RecordCheck(e, status, (), f"scripted {status}") for e in expected)
        return DomainCheck(workspace_id, records, dt.datetime.now(dt.UTC))

    return Engine(check, lambda *a: None)
