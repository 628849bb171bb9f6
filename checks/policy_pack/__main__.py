"""The pulumi-policy pack wrapping :mod:`smtp_egress.checks.policies` (every policy mandatory).

Run by the Pulumi CLI: ``pulumi preview --policy-pack checks/policy_pack``. ``PolicyPack(...)`` starts
a gRPC server and never returns, so it lives only here; tests exercise the plain functions in
:mod:`smtp_egress.checks.policies` and their adapters instead of importing this file.
"""

from pulumi_policy import EnforcementLevel, Policy, PolicyPack, ResourceValidationPolicy, StackValidationPolicy

from smtp_egress.checks.policies import RESOURCE_RULES, STACK_RULES
from smtp_egress.checks.policy_adapters import resource_validator, stack_validator

policies: list[Policy] = [
    ResourceValidationPolicy(
        name=name,
        description=description,
        validate=resource_validator(name),
        enforcement_level=EnforcementLevel.MANDATORY,
    )
    for name, (description, _) in RESOURCE_RULES.items()
] + [
    StackValidationPolicy(
        name=name, description=description, validate=stack_validator(name), enforcement_level=EnforcementLevel.MANDATORY
    )
    for name, (description, _) in STACK_RULES.items()
]

PolicyPack(name="smtp-egress", enforcement_level=EnforcementLevel.MANDATORY, policies=policies)
