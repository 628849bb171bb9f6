"""What the deploy policies find (:class:`Violation`, :class:`Undecided`) and the values a first ``pulumi preview``
cannot know yet (:class:`Unknown`).

During a preview, an input computed from another resource that does not exist yet (a ``vpcId``, a bucket's
``id``) is unknown. pulumi-policy raises on the first read of such a value, so a rule that read every property
could never decide. The adapters (:mod:`smtp_egress.checks.policy_adapters`) instead hand the rules plain values
in which each unknown is an :class:`Unknown`, carrying the URNs of the resources it comes from (the engine's
property dependencies), and each rule reads only what it checks:

* a value the rule does not check being unknown changes nothing: the rule decides;
* a resource referenced through an unknown ID (a public access block's ``bucket``) is still matched, by URN;
* a value the rule checks being unknown (the ports of an egress rule) makes that item :class:`Undecided`:
  the rule still reports every violation it can decide, and the pack reports the rule as not run at preview
  (pulumi-policy's advisory "can't run policy ... during preview"); at ``pulumi up`` the value is known and
  the rule, mandatory, decides before the resource is created.
"""

from __future__ import annotations

import dataclasses
from typing import Any


@dataclasses.dataclass(frozen=True)
class Unknown:
    """A value not known during preview; ``depends_on``: the URNs of the resources it is computed from."""

    depends_on: tuple[str, ...] = ()

    def __str__(self) -> str:
        return "<unknown during preview>"


UNKNOWN = Unknown()


@dataclasses.dataclass(frozen=True)
class Violation:
    policy: str
    urn: str
    message: str

    def __str__(self) -> str:
        return f"{self.policy}: {self.urn}: {self.message}"


@dataclasses.dataclass(frozen=True)
class Undecided:
    """A rule could not decide one resource (or rule of it) because a value it checks is unknown."""

    policy: str
    urn: str
    unknown: str  # which value, e.g. "egress[0].fromPort"

    def __str__(self) -> str:
        return f"{self.policy}: {self.urn}: undecided at preview: {self.unknown} is not known yet"


Finding = Violation | Undecided


def inputs(r: dict) -> dict:
    return r.get("inputs") or {}


def is_unknown(value: Any) -> bool:
    return isinstance(value, Unknown)


def first_unknown(values: dict[str, Any]) -> str | None:
    """The name of the first value that is unknown, or None when all are known."""
    return next((name for name, value in values.items() if is_unknown(value)), None)


def references(value: Any) -> set[Any]:
    """What a reference to another resource may point at: the ID itself, or for an unknown ID the URNs it is
    computed from (empty when the engine gave none: then nothing can be matched)."""
    if is_unknown(value):
        return set(value.depends_on)
    return {value}
