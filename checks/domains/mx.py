"""The bounce name's MX: present and naming the region's MX host itself, or why not."""

from __future__ import annotations

import asyncio

from ...domains.records import ExpectedRecord, RecordCheck
from .cname import missing
from .lookups import failed, follow, unknown, verified
from .names import absolute, parent, shown, sibling
from .resolver import Ask


def _parse(value: str) -> tuple[int, str]:
    preference, host = value.split()
    return int(preference), absolute(host)


async def check_mx(ask: Ask, expected: ExpectedRecord) -> RecordCheck:
    name = absolute(expected.name)
    preference, host = _parse(expected.value)
    wanted = f"MX {preference} {host}"
    answer, beside = await asyncio.gather(ask(name, "MX"), ask(sibling(name), "MX"))
    if answer.kind == "unknown":
        return unknown(expected, answer)
    if answer.kind == "nxdomain":
        return await missing(ask, expected, answer, wanted)
    names, end = await follow(ask, answer)
    if end.kind == "unknown":
        return unknown(expected, end)
    values = end.at(names[-1], "MX")
    found = tuple(f"MX {v}" for v in values)
    notes: tuple[str, ...] = (
        (f"{shown(name)} is an alias (CNAME) of {names[-1]}, whose MX is used.",) if len(names) > 1 else ()
    )
    if not values:
        return failed(expected, found, f"{shown(name)} has no MX record: add the record {shown(name)} {wanted}.", notes)
    exchanges = dict(_parse(v)[::-1] for v in values)
    if "." in exchanges:
        return failed(
            expected,
            found,
            (
                f"{shown(name)} has a null MX ('0 .'), which says the name accepts no mail at all (RFC 7505), so "
                f"bounces cannot reach us. Replace it with {shown(name)} {wanted}."
            ),
            notes,
        )
    wildcard = beside.kind == "answer" and beside.at(beside.name, "MX") == values and len(names) == 1
    if host in exchanges:
        notes += (f"A wildcard *.{parent(name)} also answers every name with this MX.",) if wildcard else ()
        if exchanges[host] != preference:
            notes += (f"Preference {exchanges[host]} instead of {preference}: it works; {preference} is suggested.",)
        if len(exchanges) > 1:
            others = ", ".join(sorted(set(exchanges) - {host}))
            notes += (f"Other MX hosts ({others}) also receive this name's bounces: remove them.",)
        return verified(expected, found, f"{shown(name)} has MX {host}, as expected.", notes)
    for exchange in sorted(exchanges):
        chain, _ = await follow(ask, await ask(exchange, "CNAME"))
        if host in chain:
            return failed(
                expected,
                found,
                (
                    f"{shown(name)}'s MX names {exchange}, an alias (CNAME) of {host}: an MX must name the host "
                    f"itself, never an alias (RFC 2181 10.3), and many servers refuse it. Change it to {wanted}."
                ),
                notes,
            )
    if wildcard:
        return failed(
            expected,
            found,
            (
                f"{shown(name)} has no MX of its own: a wildcard *.{parent(name)} answers every name with "
                f"{', '.join(values)}. Add the record {shown(name)} {wanted}."
            ),
        )
    return failed(
        expected,
        found,
        (f"{shown(name)}'s MX names {', '.join(sorted(exchanges))}, not {host}: change it to {wanted}."),
        notes,
    )
