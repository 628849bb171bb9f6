"""The rules of :mod:`smtp_egress.checks.policies` in pulumi-policy's ``validate(args, report_violation)`` shape.

Duck-typed (this module never imports pulumi_policy): ``args`` is a ``ResourceValidationArgs`` (one
resource: ``resource_type``, ``props``, ``urn``, ``name``, ``opts.protect``) or a ``StackValidationArgs``
(``resources``, each a ``PolicyResource`` whose ``props`` are the resource's outputs). pulumi-policy does
not expose ``retainOnDelete``, so the pack checks ``protect`` only; ``egress synth`` checks both.
"""

from __future__ import annotations

from .policies import RESOURCE_RULES, STACK_RULES


def _from_policy_resource(res) -> dict:
    props = dict(res.props or {})
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


def resource_validator(name: str):
    rule = RESOURCE_RULES[name][1]

    def validate(args, report_violation) -> None:
        for v in rule(_from_policy_resource(args)):
            report_violation(v.message)

    validate.__name__ = f"validate_{name.replace('-', '_')}"
    return validate


def stack_validator(name: str):
    rule = STACK_RULES[name][1]

    def validate(args, report_violation) -> None:
        for v in rule([_from_policy_resource(r) for r in args.resources]):
            report_violation(v.message, v.urn)

    validate.__name__ = f"validate_{name.replace('-', '_')}"
    return validate
