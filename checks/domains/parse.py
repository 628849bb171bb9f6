"""Reading a reply's bytes: the header, the answer section's records and the authority section's SOA and NS
owners. Only what the checks use is decoded (a general parser costs half the engine's time at bulk rates);
anything malformed raises :class:`Malformed`."""

from __future__ import annotations

import dataclasses
import ipaddress
import struct

import dns.rdatatype

from .answers import Record

A, NS, CNAME, SOA, MX, AAAA = 1, 2, 5, 6, 15, 28
_NAMED = {NS, CNAME, 12, 39}  # NS, CNAME, PTR, DNAME: the value is one name


class Malformed(ValueError):
    """The reply is not a well-formed DNS message."""


@dataclasses.dataclass(frozen=True)
class Reply:
    rcode: int
    authoritative: bool
    truncated: bool
    answer: tuple[Record, ...]
    soa_owner: str | None  # the authority section's SOA owner: the zone of a negative answer
    referral: bool  # the authority section has NS records and no SOA


def _label(raw: bytes) -> str:
    if all((0x2D <= b <= 0x7A and b not in b"./:;<=>?@[\\]^`") or b == 0x5F for b in raw):
        return raw.decode().lower()
    return "".join(chr(b).lower() if 0x21 <= b <= 0x7E and b not in b'."();\\' else f"\\{b:03d}" for b in raw)


def name_at(data: bytes, offset: int) -> tuple[str, int]:
    """The (lowercase, absolute) name at ``offset`` and the offset after it, following compression pointers."""
    labels, end, hops = [], -1, 0
    while True:
        length = data[offset]
        if length >= 0xC0:
            if hops > 64:
                raise Malformed("a compression loop")
            if end < 0:
                end = offset + 2
            offset, hops = ((length & 0x3F) << 8) | data[offset + 1], hops + 1
            continue
        if length > 63:
            raise Malformed("a label type this parser does not know")
        offset += 1
        if length == 0:
            break
        labels.append(_label(data[offset : offset + length]))
        offset += length
    return (".".join(labels) + ".") if labels else ".", end if end >= 0 else offset


def _value(data: bytes, rtype: int, start: int, length: int) -> str:
    rdata = data[start : start + length]
    if rtype == A and length == 4:
        return str(ipaddress.IPv4Address(rdata))
    if rtype == AAAA and length == 16:
        return ipaddress.IPv6Address(rdata).compressed
    if rtype in _NAMED:
        return name_at(data, start)[0]
    if rtype == MX:
        return f"{struct.unpack_from('!H', data, start)[0]} {name_at(data, start + 2)[0]}"
    if rtype == SOA:
        mname, at = name_at(data, start)
        rname, at = name_at(data, at)
        return " ".join([mname, rname, *map(str, struct.unpack_from("!IIIII", data, at))])
    return f"\\# {length} {rdata.hex()}"


def parse(data: bytes) -> Reply:
    try:
        _, flags, qdcount, ancount, nscount, _ = struct.unpack_from("!HHHHHH", data)
        offset = 12
        for _ in range(qdcount):
            offset = name_at(data, offset)[1] + 4
        answer, soa_owner, has_ns = [], None, False
        for index in range(ancount + nscount):
            owner, offset = name_at(data, offset)
            rtype, _, _, length = struct.unpack_from("!HHIH", data, offset)
            offset += 10
            if offset + length > len(data):
                raise Malformed("a record runs past the end")
            if index < ancount:
                answer.append(Record(owner, dns.rdatatype.to_text(rtype), _value(data, rtype, offset, length)))
            elif rtype == SOA and soa_owner is None:
                soa_owner = owner
            elif rtype == NS:
                has_ns = True
            offset += length
    except (IndexError, struct.error, ipaddress.AddressValueError) as exc:
        raise Malformed(str(exc)) from None
    return Reply(
        rcode=flags & 0x0F,
        authoritative=bool(flags & 0x0400),
        truncated=bool(flags & 0x0200),
        answer=tuple(answer),
        soa_owner=soa_owner,
        referral=has_ns and soa_owner is None,
    )
