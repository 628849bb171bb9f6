"""The tracking domain's CNAME: present and pointing at the region's tracking host, or why not."""

from __future__ import annotations

import asyncio

from ...domains.records import ExpectedRecord, RecordCheck
from . import cloudflare
from .answers import Answer
from .lookups import addresses, failed, follow, unknown, verified
from .names import absolute, child, parent, relative, shown, sibling
from .resolver import Ask


async def check_cname(ask: Ask, expected: ExpectedRecord) -> RecordCheck:
    name, target = absolute(expected.name), absolute(expected.value)
    answer = await ask(name, "CNAME")
    if answer.kind == "unknown":
        return unknown(expected, answer)
    if answer.kind == "nxdomain":
        return await missing(ask, expected, answer, f"CNAME {target}")
    if not answer.at(name, "CNAME"):
        return await _no_cname(ask, expected, name, target)
    return await _cname(ask, expected, answer, name, target)


async def missing(ask: Ask, expected: ExpectedRecord, answer: Answer, wanted: str) -> RecordCheck:
    """NXDOMAIN: the record is missing, unless it sits at the name with the zone appended twice."""
    name, zone = answer.name, answer.zone
    if zone and zone != "." and name.endswith("." + zone):
        doubled = await ask(name + zone, answer.type)
        if doubled.kind == "answer":
            found = tuple(f"{r.type} {r.value}" for r in doubled.records if r.owner == name + zone)
            return failed(
                expected,
                found,
                (
                    f"The record is at {name + zone}, not at {shown(name)}: the zone name was entered twice (your DNS "
                    f"provider adds {zone} to the name you type). Edit the record and enter only "
                    f"{relative(name, zone)!r} as its name."
                ),
            )
    return failed(expected, (), f"{shown(name)} does not exist in DNS: add the record {shown(name)} {wanted}.")


async def _cname(ask: Ask, expected: ExpectedRecord, answer: Answer, name: str, target: str) -> RecordCheck:
    first = answer.at(name, "CNAME")[0]
    found = (f"CNAME {first}",)
    below, beside, same = await asyncio.gather(ask(child(name), "SOA"), ask(sibling(name), "CNAME"), ask(name, "A"))
    if below.kind in ("nxdomain", "nodata") and below.zone == name:
        return failed(
            expected,
            found,
            (
                f"{shown(name)} is the apex of its own zone (where the SOA and NS records live): a CNAME cannot share "
                "a name with other records (RFC 1034 3.6.2), so resolvers may ignore it. Use a subdomain such as "
                f"links.{name} as the tracking domain and put the CNAME there."
            ),
        )
    others = tuple(t for t in same.owners_types(name) if t != "CNAME") if same.kind == "answer" else ()
    if others:
        return failed(
            expected,
            found + tuple(f"{r.type} {r.value}" for r in same.records if r.owner == name),
            (
                f"{shown(name)} has a CNAME and also {'/'.join(others)} records: a CNAME must be the only record "
                f"at its name (RFC 1034 3.6.2) and resolvers answer unpredictably. Delete the "
                f"{'/'.join(others)} records at {shown(name)}, keeping only CNAME {target}."
            ),
        )
    wildcard = beside.kind == "answer" and beside.at(beside.name, "CNAME") == (first,)
    notes = (f"A wildcard *.{parent(name)} also answers every name with CNAME {first}.",) if wildcard else ()
    if first == target:
        return verified(expected, found, f"{shown(name)} is a CNAME to {target}, as expected.", notes)
    names, end = await follow(ask, answer)
    lost = f"Where {names[-1]} leads could not be looked up: {end.problem}." if end.kind == "unknown" else ""
    if target in names:
        chain = " -> ".join(names[: names.index(target) + 1])
        note = f"Chain: {chain}. It works; a CNAME straight to {target} is one lookup less to break."
        return verified(expected, found, f"{shown(name)} reaches {target} through a CNAME chain.", (note, *notes))
    if wildcard:
        return failed(
            expected,
            found,
            (
                f"{shown(name)} has no record of its own: a wildcard *.{parent(name)} answers every name with CNAME "
                f"{first}. Add the record {shown(name)} CNAME {target}."
            ),
        )
    if first.startswith(target[:-1] + "."):
        return failed(
            expected,
            found,
            (
                f"{shown(name)} points to {first}: your zone's name was appended to the target. Enter the target "
                f"with a final dot ({target}) or as your DNS provider shows for names outside your zone."
            ),
        )
    chain = f" (which leads to {' -> '.join(names[1:])})" if len(names) > 2 else ""
    return failed(
        expected,
        found,
        (f"{shown(name)} is a CNAME to {first}{chain}, not to {target}: change the CNAME's target to {target}."),
        (lost,) if lost else (),  # the record's own data is wrong all the same
    )


async def _no_cname(ask: Ask, expected: ExpectedRecord, name: str, target: str) -> RecordCheck:
    (mine, answers), (theirs, their_answers), beside = await asyncio.gather(
        addresses(ask, name), addresses(ask, target), ask(sibling(name), "A")
    )
    for answer in answers + (their_answers if mine else []):
        if answer.kind == "unknown":
            return unknown(expected, answer)
    found = tuple(f"{'AAAA' if ':' in a else 'A'} {a}" for a in mine)
    if not mine:
        return failed(
            expected, found, f"{shown(name)} exists but has no CNAME: add the record {shown(name)} CNAME {target}."
        )
    if theirs and set(mine) <= set(theirs):
        note = (
            "No CNAME is visible: your DNS provider flattens it (CNAME flattening, ALIAS or ANAME), which is "
            f"accepted. It must keep following {target} if its addresses change."
        )
        return verified(expected, found, f"{shown(name)} answers with {target}'s own addresses.", (note,))
    v4 = tuple(a for a in mine if ":" not in a)
    if beside.kind == "answer" and v4 and beside.at(beside.name, "A") == v4:
        return failed(
            expected,
            found,
            (
                f"{shown(name)} has no record of its own: a wildcard *.{parent(name)} answers every name with "
                f"{', '.join(v4)}. Add the record {shown(name)} CNAME {target}."
            ),
        )
    if cloudflare.proxied(mine):
        return failed(
            expected,
            found,
            (
                f"{shown(name)} answers with Cloudflare's proxy addresses and hides its CNAME: the record is proxied "
                f"(orange cloud). In Cloudflare's DNS settings switch {shown(name)} to 'DNS only' (grey cloud), "
                f"keeping CNAME {target}."
            ),
        )
    return failed(
        expected,
        found,
        (
            f"{shown(name)} has address records ({', '.join(mine)}) instead of a CNAME: delete them and add the record "
            f"{shown(name)} CNAME {target}."
        ),
    )
