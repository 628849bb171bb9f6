"""One lookup's outcome, classified: an answer, a definite negative (NXDOMAIN, NODATA) or unknown (SERVFAIL,
REFUSED, a timeout, a referral). Only ``answer``, ``nxdomain`` and ``nodata`` may ever fail a check."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Literal

import dns.rcode

if TYPE_CHECKING:
    from .parse import Reply

NOERROR, NXDOMAIN = 0, 3
Kind = Literal["answer", "nxdomain", "nodata", "unknown"]


@dataclasses.dataclass(frozen=True)
class Record:
    """A record of the answer section: absolute lowercase owner, type mnemonic, value as zone-file text
    (names absolute and lowercase)."""

    owner: str
    type: str
    value: str


@dataclasses.dataclass(frozen=True)
class Answer:
    """``zone`` is the owner of the SOA a negative answer carries (the zone the name falls in), if any;
    ``problem`` says why an ``unknown`` answer is not definite; ``server`` is ``host:port`` asked."""

    name: str
    type: str
    kind: Kind
    records: tuple[Record, ...] = ()
    zone: str | None = None
    problem: str = ""
    server: str = ""

    def at(self, owner: str, rdtype: str) -> tuple[str, ...]:
        """The values of the records of ``rdtype`` owned by ``owner``, sorted."""
        return tuple(sorted(r.value for r in self.records if r.owner == owner and r.type == rdtype))

    def owners_types(self, owner: str) -> tuple[str, ...]:
        return tuple(sorted({r.type for r in self.records if r.owner == owner}))


def unknown(name: str, rdtype: str, problem: str, server: str) -> Answer:
    return Answer(name, rdtype, "unknown", problem=problem, server=server)


def classify(name: str, rdtype: str, reply: Reply, server: str) -> Answer:
    """An :class:`Answer` from a reply whose question already matched."""
    records, zone = reply.answer, reply.soa_owner
    if reply.rcode == NXDOMAIN:
        return Answer(name, rdtype, "nxdomain", records, zone, server=server)
    if reply.rcode != NOERROR:
        return unknown(name, rdtype, f"{dns.rcode.to_text(dns.rcode.Rcode(reply.rcode))} from {server}", server)
    if records:
        return Answer(name, rdtype, "answer", records, zone, server=server)
    if reply.referral and not reply.authoritative:
        return unknown(name, rdtype, f"a referral from {server}, which is not authoritative for {name}", server)
    return Answer(name, rdtype, "nodata", records, zone, server=server)
