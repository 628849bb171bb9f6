"""Checking a workspace's expected records (one diagnosis per record type), and many workspaces at once."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable, Iterable, Sequence

from ...dates import UTC
from ...domains.records import DomainCheck, ExpectedRecord, RecordCheck
from .authoritative import merge, unknown_servers, zone_servers
from .cname import check_cname
from .mx import check_mx
from .names import absolute
from .resolver import Ask, Resolver

Diagnosis = Callable[[Ask, ExpectedRecord], Awaitable[RecordCheck]]
DIAGNOSES: dict[str, Diagnosis] = {"CNAME": check_cname, "MX": check_mx}


async def check_record(expected: ExpectedRecord, resolver: Resolver) -> RecordCheck:
    diagnose = DIAGNOSES[expected.type]
    if not resolver.authoritative:
        return await diagnose(resolver.ask, expected)
    servers = await zone_servers(resolver, absolute(expected.name))
    if not servers.servers:
        return unknown_servers(expected, servers)
    checks = await asyncio.gather(*(diagnose(resolver.pinned(s, servers.zone), expected) for _, s in servers.servers))
    labels = [f"{ns} ({address})" for ns, (address, _) in servers.servers]
    return merge(expected, servers.zone, list(zip(labels, checks, strict=True)))


async def check_records(workspace_id: str, expected: Sequence[ExpectedRecord], resolver: Resolver) -> DomainCheck:
    """Every record of one workspace, concurrently; each lookup within ``resolver.timeout``."""
    records = await asyncio.gather(*(check_record(e, resolver) for e in expected))
    return DomainCheck(workspace_id, tuple(records), dt.datetime.now(UTC))


async def check_many(
    workspaces: Iterable[tuple[str, Sequence[ExpectedRecord]]],
    resolver: Resolver,
    *,
    on_result: Callable[[DomainCheck], None] | None = None,
) -> list[DomainCheck]:
    """Many workspaces, at most ``resolver.concurrency`` at a time, results in input order; ``on_result`` is called
    as each finishes (a progress bar). Always finishes: every lookup has a time budget and chains are bounded."""
    items = list(workspaces)
    results: list[DomainCheck | None] = [None] * len(items)
    queue = iter(enumerate(items))

    async def worker() -> None:
        for index, (workspace_id, expected) in queue:
            results[index] = result = await check_records(workspace_id, expected, resolver)
            if on_result is not None:
                on_result(result)

    await asyncio.gather(*(worker() for _ in range(min(resolver.concurrency, len(items)))))
    return [r for r in results if r is not None]
