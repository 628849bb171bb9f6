"""STAND-IN DNS engine for the domains job's tests, until the real one (smtp_egress.checks.domains) is merged.

It has the engine's interface (``check_records(workspace_id, expected, resolver)`` and
``Resolver(nameserver, authoritative, timeout, concurrency)``) and a minimal real lookup path (dnspython, one UDP
query per record to the given server): NXDOMAIN or NODATA or wrong data -> failed, SERVFAIL/REFUSED/timeout ->
unknown. No diagnoses beyond "missing" / "points elsewhere": those are the engine's. Never used by the product.
"""

from __future__ import annotations

import asyncio
import datetime as dt

import dns.asyncquery
import dns.exception
import dns.message
import dns.rcode
import dns.rdatatype

from smtp_egress.domains.records import DomainCheck, RecordCheck
from smtp_egress.jobs.domains_engine import Engine


class StandInResolver:
    def __init__(self, *, nameserver, authoritative, timeout, concurrency):
        self.nameserver, self.timeout = nameserver, timeout
        self.slots = asyncio.Semaphore(concurrency)


async def standin_check_records(workspace_id, expected, resolver):
    records = [await _one(e, resolver) for e in expected]
    return DomainCheck(workspace_id, tuple(records), dt.datetime.now(dt.UTC))


async def _one(e, resolver):
    host, port = resolver.nameserver
    query = dns.message.make_query(e.name, e.type)
    try:
        async with resolver.slots:
            reply = await dns.asyncquery.udp(query, host, port=port, timeout=resolver.timeout)
    except (dns.exception.Timeout, OSError):
        return RecordCheck(e, "unknown", (), "no answer in time")
    rcode = reply.rcode()
    if rcode == dns.rcode.NXDOMAIN:
        return RecordCheck(e, "failed", (), f"{e.name} does not exist: add the {e.type} record")
    if rcode != dns.rcode.NOERROR:
        return RecordCheck(e, "unknown", (), f"the server answered {dns.rcode.to_text(rcode)}")
    found = tuple(
        rd.to_text().lower()
        for rrset in reply.answer
        if rrset.rdtype == dns.rdatatype.from_text(e.type)
        for rd in rrset
    )
    if not found:
        return RecordCheck(e, "failed", (), f"{e.name} has no {e.type} record: add it")
    if e.value in found:
        return RecordCheck(e, "verified", found, "in place")
    return RecordCheck(e, "failed", found, f"points to {', '.join(found)} instead of {e.value}")


STANDIN = Engine(
    standin_check_records,
    lambda ns, auth, timeout, conc: StandInResolver(
        nameserver=ns, authoritative=auth, timeout=timeout, concurrency=conc
    ),
)


def scripted(outcomes):
    """An engine that answers from ``outcomes`` (workspace id -> status for every record), no DNS at all."""

    async def check(workspace_id, expected, resolver):
        status = outcomes[workspace_id]
        if status == "hang":
            await asyncio.sleep(3600)
        records = tuple(RecordCheck(e, status, (), f"scripted {status}") for e in expected)
        return DomainCheck(workspace_id, records, dt.datetime.now(dt.UTC))

    return Engine(check, lambda *a: None)
