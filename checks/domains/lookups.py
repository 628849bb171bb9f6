"""Lookups the diagnoses share: following a CNAME chain, a name's addresses, and the verdicts' constructors."""

from __future__ import annotations

import asyncio

from ...domains.records import ExpectedRecord, RecordCheck
from .answers import Answer
from .resolver import Ask

MAX_HOPS = 8  # CNAME hops followed before giving up (resolvers stop at about this many)
STATE_KEPT = "No definite answer, so the domain's state is unchanged; the next check retries."


async def follow(ask: Ask, answer: Answer) -> tuple[tuple[str, ...], Answer]:
    """The names of the CNAME chain starting at ``answer.name`` (itself first) and the answer at its end, asking
    again where a server stopped at a name outside its zone."""
    names = [answer.name]
    for _ in range(MAX_HOPS):
        while (target := answer.at(names[-1], "CNAME")) and target[0] not in names and len(names) <= MAX_HOPS:
            names.append(target[0])
        if answer.kind != "answer" or answer.at(names[-1], answer.type) or len(names) == 1:
            break
        answer = await ask(names[-1], answer.type)
    return tuple(names), answer


async def addresses(ask: Ask, name: str) -> tuple[tuple[str, ...], list[Answer]]:
    """A name's A and AAAA values at the end of its chain, and the two answers (to tell unknown from none)."""
    found: list[str] = []
    answers = []
    for answer in await asyncio.gather(ask(name, "A"), ask(name, "AAAA")):
        names, end = await follow(ask, answer)
        answers.append(end)
        found.extend(end.at(names[-1], answer.type))
    return tuple(sorted(found)), answers


def unknown(expected: ExpectedRecord, answer: Answer) -> RecordCheck:
    return RecordCheck(expected, "unknown", (), f"{answer.problem} for {answer.name} {answer.type}. {STATE_KEPT}")


def _tidy(text: str) -> str:
    """A sentence that ends with an absolute name ends with one dot, not two."""
    text = text.replace(".. ", ". ")
    return text[:-1] if text.endswith("..") else text


def failed(
    expected: ExpectedRecord, found: tuple[str, ...], diagnosis: str, notes: tuple[str, ...] = ()
) -> RecordCheck:
    return RecordCheck(expected, "failed", found, _tidy(diagnosis), tuple(_tidy(n) for n in notes))


def verified(
    expected: ExpectedRecord, found: tuple[str, ...], diagnosis: str, notes: tuple[str, ...] = ()
) -> RecordCheck:
    return RecordCheck(expected, "verified", found, _tidy(diagnosis), tuple(_tidy(n) for n in notes))
