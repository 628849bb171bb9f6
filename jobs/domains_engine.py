"""How ``egress domains verify`` reaches the DNS engine (:mod:`smtp_egress.checks.domains`): a small Protocol, so
that the job can be run with another engine (tests), and the engine's time budget around each workspace.

The engine's interface: ``async check_records(workspace_id, expected, resolver) -> DomainCheck`` and
``Resolver(nameserver, authoritative, timeout, concurrency)``. Every lookup has its own time budget there; on top,
a workspace's whole check gets :func:`budget` seconds, after which each of its records is ``unknown`` (which never
changes a stored state): a bulk run always finishes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from smtp_egress.domains.records import DomainCheck, ExpectedRecord, RecordCheck

LOOKUPS_PER_WORKSPACE = 12  # a generous bound on one workspace's lookups (chains, NS, authoritative servers)


class CheckRecords(Protocol):
    def __call__(
        self, workspace_id: str, expected: Sequence[ExpectedRecord], resolver: Any
    ) -> Awaitable[DomainCheck]: ...


@dataclasses.dataclass(frozen=True)
class Engine:
    """``check_records`` and the resolver factory ``(nameserver, authoritative, timeout, concurrency)``."""

    check_records: CheckRecords
    resolver: Callable[[tuple[str, int] | None, bool, float, int], Any]


def default_engine() -> Engine:
    """The DNS engine of :mod:`smtp_egress.checks.domains`."""
    from smtp_egress.checks.domains import Resolver, check_records

    def make(ns: tuple[str, int] | None, auth: bool, timeout: float, conc: int) -> Any:
        return Resolver(nameserver=ns, authoritative=auth, timeout=timeout, concurrency=conc)

    return Engine(check_records, make)


def budget(timeout: float) -> float:
    """Seconds one workspace's check may take in all."""
    return timeout * LOOKUPS_PER_WORKSPACE


async def bounded_check(
    engine: Engine, resolver: Any, workspace_id: str, expected: Sequence[ExpectedRecord], timeout: float
) -> DomainCheck:
    """The engine's check of ``expected``, or every record ``unknown`` when it takes more than :func:`budget`
    or the network fails under it."""
    seconds = budget(timeout)
    try:
        return await asyncio.wait_for(engine.check_records(workspace_id, expected, resolver), seconds)
    except (TimeoutError, OSError) as exc:
        why = (
            f"the lookups did not finish within {seconds:g} s"
            if isinstance(exc, TimeoutError)
            else f"the lookups failed ({type(exc).__name__}: {str(exc)[:100]})"
        )
        said = f"{why}; DNS said nothing either way, so nothing changes. The next check tries again."
        records = tuple(RecordCheck(e, "unknown", (), said) for e in expected)
        return DomainCheck(workspace_id, records, dt.datetime.now(dt.UTC))
