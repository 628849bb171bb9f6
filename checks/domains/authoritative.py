"""``--authoritative``: find the zone a name lives in and its name servers' addresses, ask each server directly
(no resolver cache, no negative caching in the way) and report when they disagree."""

from __future__ import annotations

import asyncio
import dataclasses

from ...domains.records import ExpectedRecord, RecordCheck, Status
from .lookups import STATE_KEPT, addresses
from .names import parent
from .resolver import Ask, Resolver
from .wire import Server


@dataclasses.dataclass(frozen=True)
class ZoneServers:
    """A zone's name servers as ``(ns name, (address, port))``; ``problem`` says why none could be found."""

    zone: str
    servers: tuple[tuple[str, Server], ...]
    problem: str = ""


async def find_zone(ask: Ask, name: str) -> tuple[str, str]:
    """The zone ``name`` falls in (walking up from it), or ``("", problem)``."""
    candidate = name
    for _ in range(name.count(".") + 1):
        answer = await ask(candidate, "SOA")
        if answer.kind == "unknown":
            return "", answer.problem
        if answer.at(candidate, "SOA"):
            return candidate, ""
        if answer.kind in ("nxdomain", "nodata") and answer.zone and not answer.records:
            return answer.zone, ""
        candidate = parent(candidate)
    return "", f"no zone found above {name}"


async def _servers(resolver: Resolver, zone: str) -> ZoneServers:
    answer = await resolver.ask(zone, "NS")
    if answer.kind != "answer":
        return ZoneServers(zone, (), answer.problem or f"{zone} has no NS records ({answer.kind})")
    found: list[tuple[str, Server]] = []
    for ns in answer.at(zone, "NS"):
        addrs, answers = await addresses(resolver.ask, ns)
        if not addrs and any(a.kind == "unknown" for a in answers):
            return ZoneServers(zone, (), f"the addresses of {ns} could not be looked up")
        found.extend((ns, (a, resolver.authoritative_port)) for a in addrs)
    return ZoneServers(zone, tuple(found), "" if found else f"no address for any name server of {zone}")


async def zone_servers(resolver: Resolver, name: str) -> ZoneServers:
    zone, problem = await find_zone(resolver.ask, name)
    if not zone:
        return ZoneServers("", (), problem)
    if zone not in resolver.zones:  # one discovery per zone and run, shared by concurrent checks
        resolver.zones[zone] = asyncio.ensure_future(_servers(resolver, zone))
    result = await resolver.zones[zone]
    assert isinstance(result, ZoneServers)
    return result


def merge(expected: ExpectedRecord, zone: str, checks: list[tuple[str, RecordCheck]]) -> RecordCheck:
    """One record's checks from each of a zone's servers: the common verdict, or the disagreement spelled out."""
    if len({(c.status, c.found, c.diagnosis) for _, c in checks}) == 1:
        check = checks[0][1]
        servers = ", ".join(label for label, _ in checks)
        agree = (
            f"All {len(checks)} name servers of {zone} agree ({servers})." if len(checks) > 1 else f"Asked {servers}."
        )
        return dataclasses.replace(check, notes=(*check.notes, agree))
    states = {c.status for _, c in checks}
    status: Status = "failed" if "failed" in states else "unknown" if "unknown" in states else "verified"
    each = "; ".join(f"{label}: {c.status}, {c.diagnosis}" for label, c in checks)
    return RecordCheck(
        expected,
        status,
        tuple(sorted({f for _, c in checks for f in c.found})),
        f"The name servers of {zone} disagree (a change that has not reached all of them, or a server left "
        f"behind): {each}",
        tuple(n for _, c in checks for n in c.notes),
    )


def unknown_servers(expected: ExpectedRecord, servers: ZoneServers) -> RecordCheck:
    return RecordCheck(
        expected, "unknown", (), f"The zone's name servers were not found: {servers.problem}. {STATE_KEPT}"
    )
