"""The rules of :mod:`smtp_egress.checks.policies` in pulumi-policy's ``validate(args, report_violation)`` shape.

Duck-typed (pulumi_policy is imported only when a value turns out to be unknown): ``args`` is a
``ResourceValidationArgs`` (one resource: ``resource_type``, ``props``, ``urn``, ``name``, ``opts.protect``) or a
``StackValidationArgs`` (``resources``, each a ``PolicyResource`` whose ``props`` are the resource's outputs and
whose ``property_dependencies`` name the resources each property is computed from). pulumi-policy does not
expose ``retainOnDelete``, so the pack checks ``protect`` only; ``egress synth`` checks both.

During a preview, pulumi-policy raises on the first read of an unknown value. :func:`plain` reads each value
once, catching that, and gives the rules plain values in which an unknown is an
:class:`~smtp_egress.checks.policy_findings.Unknown` (with the URNs it depends on), so a rule reads only what it
checks. A rule that could not decide something (its own input is unknown) still reports every violation it
found, then raises pulumi-policy's ``UnknownValueError``, which the analyzer reports as "can't run policy ...
during preview" (advisory); at ``pulumi up`` the values are known and the rule decides.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from .policies import RESOURCE_RULES, STACK_RULES, Violation
from .policy_findings import UNKNOWN, Undecided, Unknown


class _NeverRaised(Exception):
    """Without pulumi-policy no value is ever unknown: nothing to catch."""


def _unknown_error() -> type[Exception]:
    try:
        from pulumi_policy.proxy import UnknownValueError
    except ImportError:  # pragma: no cover - the pack and its tests always have pulumi-policy
        return _NeverRaised
    return UnknownValueError


def plain(value: Any, depends_on: Mapping[str, Sequence[str]] | None = None) -> Any:
    """A copy of pulumi-policy's (proxied) ``value`` with every unknown replaced by an :class:`Unknown`;
    ``depends_on`` (top-level property -> URNs) says what each unknown top-level property is computed from."""
    unknown_error = _unknown_error()

    def read(container: Any, key: Any, deps: Sequence[str] = ()) -> Any:
        try:
            item = container[key]
        except unknown_error:
            return Unknown(tuple(deps)) if deps else UNKNOWN
        return copy(item)

    def copy(item: Any) -> Any:
        if isinstance(item, Mapping):
            return {key: read(item, key) for key in item}
        if isinstance(item, Sequence) and not isinstance(item, str | bytes):
            return [read(item, i) for i in range(len(item))]
        return item

    if not isinstance(value, Mapping):
        return copy(value)
    return {key: read(value, key, (depends_on or {}).get(key, ())) for key in value}


def _urns(resource: Any) -> dict[str, list[str]]:
    deps = getattr(resource, "property_dependencies", None) or {}
    return {key: [getattr(d, "urn", d) for d in targets] for key, targets in deps.items()}


def _from_policy_resource(res: Any) -> dict:
    props = plain(res.props or {}, _urns(res))
    opts = getattr(res, "opts", None)
    return {
        "type": res.resource_type,
        "urn": res.urn,
        "name": res.name,
        "inputs": props,
        "id": props.get("id") or props.get("bucket"),
        "protect": bool(getattr(opts, "protect", False)),
        "retain_on_delete": None,
    }


def _report(findings: Iterable[Any], report: Callable[[Violation], None]) -> None:
    """Report every violation, then, if something could not be decided, say so the way pulumi-policy does."""
    undecided: list[Undecided] = []
    for finding in findings:
        if isinstance(finding, Undecided):
            undecided.append(finding)
        else:
            report(finding)
    if undecided:
        from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, UnknownValueError

        first = undecided[0]
        more = f" (and {len(undecided) - 1} more)" if len(undecided) > 1 else ""
        raise UnknownValueError(UNKNOWN_STRING_VALUE, [f"{first.urn}: {first.unknown}{more}"])


def resource_validator(name: str):
    rule = RESOURCE_RULES[name][1]

    def validate(args, report_violation) -> None:
        _report(rule(_from_policy_resource(args)), lambda v: report_violation(v.message))

    validate.__name__ = f"validate_{name.replace('-', '_')}"
    return validate


def stack_validator(name: str):
    rule = STACK_RULES[name][1]

    def validate(args, report_violation) -> None:
        resources = [_from_policy_resource(r) for r in args.resources]
        _report(rule(resources), lambda v: report_violation(v.message, v.urn))

    validate.__name__ = f"validate_{name.replace('-', '_')}"
    return validate
