"""The pulumi-policy pack wrapping :mod:`checks.policies` (every policy mandatory).

Run by the Pulumi CLI: ``pulumi preview --policy-pack checks/policy_pack``. ``PolicyPack(...)`` starts
a gRPC server and never returns, so it lives only here; tests exercise the plain functions in
:mod:`checks.policies` and their adapters instead of importing this file.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root, for `checks`

from pulumi_policy import (  # noqa: E402
    EnforcementLevel, PolicyPack, ResourceValidationPolicy, StackValidationPolicy,
)

from checks.policies import RESOURCE_RULES, STACK_RULES  # noqa: E402
from checks.policy_adapters import resource_validator, stack_validator  # noqa: E402

policies = [
    ResourceValidationPolicy(name=name, description=description, validate=resource_validator(name),
                             enforcement_level=EnforcementLevel.MANDATORY)
    for name, (description, _) in RESOURCE_RULES.items()
] + [
    StackValidationPolicy(name=name, description=description, validate=stack_validator(name),
                          enforcement_level=EnforcementLevel.MANDATORY)
    for name, (description, _) in STACK_RULES.items()
]

PolicyPack(name="smtp-egress", enforcement_level=EnforcementLevel.MANDATORY, policies=policies)
