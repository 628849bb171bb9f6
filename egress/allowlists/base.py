"""What every renderer shares: the output type, the provenance header in a comment syntax, limits."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Sequence

from ..jsontypes import JSON, JSONObject
from .content import Allowlist, Network, Provenance


@dataclasses.dataclass(frozen=True)
class Output:
    data: bytes
    warnings: tuple[str, ...] = ()


def header(
    al: Allowlist, fmt: str, prefix: str, warnings: Sequence[str] = (), usage: list[str] | None = None
) -> list[str]:
    """The provenance lines, then how to use the file, each behind ``prefix`` (the comment marker)."""
    lines = al.provenance_lines(fmt, warnings)
    if usage:
        lines += ["", *usage]
    return [f"{prefix} {line}".rstrip() if line else prefix for line in lines]


def text(lines: list[str], warnings: Iterable[str] = ()) -> Output:
    return Output(("\n".join(lines) + "\n").encode(), tuple(warnings))


def json_output(
    al: Allowlist, fmt: str, body: JSONObject, warnings: Sequence[str] = (), usage: str | None = None
) -> Output:
    """A JSON object whose first key is ``_provenance`` (JSON has no comments)."""
    prov = al.provenance(fmt, warnings)
    if usage:
        prov["usage"] = usage
    doc: dict[str, JSON | Provenance] = {"_provenance": prov, **body}
    return Output((json.dumps(doc, indent=2) + "\n").encode(), tuple(warnings))


def split(nets: list[Network]) -> tuple[list[Network], list[Network]]:
    """(IPv4 blocks, IPv6 blocks)."""
    return [n for n in nets if n.version == 4], [n for n in nets if n.version == 6]


def over_limit(count: int, limit: int, what: str, advice: str) -> list[str]:
    """A warning when ``count`` exceeds a target's documented default ``limit``."""
    if count <= limit:
        return []
    return [f"{count} {what} exceeds the default limit of {limit}; {advice}"]
