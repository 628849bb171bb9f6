"""``egress deploy``: bring a stack's NAT gateways to the day's state, and only when they must change.

1. Synthesize the stack as of the run (:func:`smtp_egress.jobs.synth.run`: the plan, what customers were told,
   the deploy guard and the policy checks, offline). A guard refusal or a policy violation stops here.
2. Read the deployed stack's outputs (``egress_addresses``: which addresses are attached; ``nat_gateways``: each
   zone's gateway and its primary address) and compare them with the synthesized ones (:func:`decide`).
3. When they are equal, do nothing and say so. When a gateway would be replaced (its primary address changes:
   AWS cannot change a NAT gateway's primary address in place), refuse (:class:`GatewayReplacement`): that
   interrupts the mail through it, and needs a person's ``pulumi up``. Otherwise run ``pulumi up`` for the stack
   (:class:`StackDriver`: the Automation API, with the policy pack and the deploy guard active), targeting its
   NAT gateways only (``--target``: the task role may change nothing else), then read its outputs again and
   check that the gateways hold what the day needs (:class:`DeployFailed` if not).

The decision is pure (:func:`decide`), and the driver is a parameter: :mod:`smtp_egress.jobs.pulumi_stack`
drives the Pulumi CLI through ``pulumi.automation``; a test gives a stand-in.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from smtp_egress import errors
from smtp_egress.wording import count

if TYPE_CHECKING:
    from smtp_egress.ledger_location import LedgerLocation

    from .daily import GatewayChange

ADDRESSES = "egress_addresses"
GATEWAYS = "nat_gateways"
NAT_GATEWAY = "aws:ec2/natGateway:NatGateway"


class GatewaysOutOfStep(errors.EgressError):
    """The gateways are not at the day's state and this run did not bring them there (exit 5, drift)."""

    exit_code = errors.DRIFT


class GatewayReplacement(GatewaysOutOfStep):
    """The day's change would replace a NAT gateway: a person runs ``pulumi up``."""


class DeployFailed(GatewaysOutOfStep):
    """``pulumi up`` failed, or left the gateways other than the day needs."""


class UnknownDeployment(errors.ConfigError):
    """The deployed stack has no outputs this job can compare (never deployed, or by an older version)."""


@dataclasses.dataclass(frozen=True)
class Decision:
    stack: str
    desired: frozenset[str]  # attached, as today's synthesized stack declares
    deployed: frozenset[str]  # attached, as the deployed stack's outputs say
    replaced: tuple[str, ...] = ()  # zones whose NAT gateway would be replaced (primary address changes)

    @property
    def attach(self) -> tuple[str, ...]:
        return tuple(sorted(self.desired - self.deployed))

    @property
    def detach(self) -> tuple[str, ...]:
        return tuple(sorted(self.deployed - self.desired))

    @property
    def must_change(self) -> bool:
        return self.desired != self.deployed

    def describe(self) -> str:
        if not self.must_change:
            held = count(len(self.desired), "address")
            return f"stack {self.stack}: the gateways already hold the day's {held}; no change"
        parts = [f"{verb} {', '.join(ips)}" for verb, ips in (("attach", self.attach), ("detach", self.detach)) if ips]
        return f"stack {self.stack}: " + "; ".join(parts)


def attached(outputs: Mapping[str, Any], where: str) -> frozenset[str]:
    """The attached addresses of a stack's ``egress_addresses`` output."""
    addresses = outputs.get(ADDRESSES)
    if not isinstance(addresses, Mapping) or not all(isinstance(a, Mapping) for a in addresses.values()):
        raise UnknownDeployment(
            f"{where} has no {ADDRESSES!r} output to compare with; deploy it once by hand (pulumi up), see README "
            "'Operations'"
        )
    return frozenset(ip for ip, a in addresses.items() if a.get("attached") is True)


def primaries(outputs: Mapping[str, Any], where: str) -> dict[str, str]:
    """Each zone's NAT gateway primary address, from a stack's ``nat_gateways`` output."""
    gateways = outputs.get(GATEWAYS)
    if not isinstance(gateways, Mapping) or not all(isinstance(g, Mapping) for g in gateways.values()):
        raise UnknownDeployment(
            f"{where} has no {GATEWAYS!r} output (deployed by an older version); deploy it once by hand "
            "(pulumi up), see README 'Operations'"
        )
    return {zone: str(g.get("primary")) for zone, g in gateways.items()}


def decide(stack: str, synthesized: Mapping[str, Any], deployed: Mapping[str, Any]) -> Decision:
    """Compare today's synthesized stack outputs with the deployed stack's."""
    want, have = primaries(synthesized, f"the synthesized stack {stack}"), primaries(deployed, f"stack {stack}")
    replaced = tuple(sorted(z for z in want.keys() | have.keys() if want.get(z) != have.get(z)))
    return Decision(
        stack,
        attached(synthesized, f"the synthesized stack {stack}"),
        attached(deployed, f"stack {stack}"),
        replaced,
    )


@dataclasses.dataclass(frozen=True)
class UpSummary:
    result: str  # succeeded | failed ... as the Pulumi CLI's history says
    changes: dict[str, int]  # resource changes by kind (create, update, same...)


class StackDriver(Protocol):
    def outputs(self) -> dict[str, Any]: ...

    def up(self, targets: Sequence[str]) -> UpSummary: ...


@dataclasses.dataclass(frozen=True)
class DeployInputs:
    stack: str
    plan_path: Path
    ledger_url: LedgerLocation | str | None  # what customers were told (the program reads EGRESS_DB too)
    today: dt.date | None = None  # synthesize as of this day; None: now (a deploy always acts as of now)
    dry_run: bool = False  # decide and say; never run pulumi up


@dataclasses.dataclass(frozen=True)
class DeployResult:
    decision: Decision
    ran_up: bool
    attached: frozenset[str]  # what the gateways hold after the run
    up: UpSummary | None = None

    @property
    def message(self) -> str:
        if not self.ran_up:
            d = self.decision
            replaced = f"; replaces the NAT gateway of {', '.join(d.replaced)}" if d.replaced else ""
            return d.describe() + ("" if not d.must_change else f"{replaced} (dry run: not deployed)")
        changes = ", ".join(f"{k} {v}" for k, v in sorted(self.up.changes.items())) if self.up else ""
        return f"{self.decision.describe()}: pulumi up {self.up.result if self.up else ''} ({changes})"


def synthesize(inputs: DeployInputs) -> dict[str, Any]:
    """Today's plan of the stack (resources and outputs), synthesized offline, guard and policy checks included."""
    from . import synth

    result = synth.run(
        synth.SynthInputs(
            stack=inputs.stack, plan_path=inputs.plan_path, today=inputs.today, ledger_url=inputs.ledger_url
        )
    )
    if result.violations:
        raise errors.ConfigError(
            f"stack {inputs.stack}: today's plan breaks {count(len(result.violations), 'policy check')} "
            f"({'; '.join(str(v) for v in result.violations[:3])}); nothing was deployed"
        )
    return result.document


def synthesized_outputs(inputs: DeployInputs) -> dict[str, Any]:
    return dict(synthesize(inputs)["outputs"])


def gateway_targets(document: Mapping[str, Any]) -> tuple[str, ...]:
    """The URNs ``pulumi up --target`` names: the stack's NAT gateways, and nothing else."""
    return tuple(sorted(r["urn"] for r in document["resources"] if r["type"] == NAT_GATEWAY))


def run_deploy(inputs: DeployInputs, driver: StackDriver) -> DeployResult:
    document = synthesize(inputs)
    decision = decide(inputs.stack, document["outputs"], driver.outputs())
    if not decision.must_change or inputs.dry_run:
        return DeployResult(decision, False, decision.deployed)
    if decision.replaced:
        raise GatewayReplacement(
            f"{decision.describe()}: this replaces the NAT gateway of {', '.join(decision.replaced)} (its primary "
            "address changes), which interrupts the mail through it; the daily task does not do that. Run "
            f"`pulumi up --stack {inputs.stack} --policy-pack checks/policy_pack` as a person, at a quiet hour"
        )
    summary = driver.up(gateway_targets(document))
    after = attached(driver.outputs(), f"stack {inputs.stack}")
    if summary.result != "succeeded" or after != decision.desired:
        raise DeployFailed(
            f"{decision.describe()}: pulumi up {summary.result}, and the gateways now hold "
            f"{', '.join(sorted(after)) or 'nothing'} instead of {', '.join(sorted(decision.desired))}; the published "
            "list keeps every address that may still send. Look at the stack's last update (pulumi stack history)"
        )
    return DeployResult(decision, True, after, summary)


@dataclasses.dataclass(frozen=True)
class StackGateways:
    """The daily task's gateways step (:class:`smtp_egress.jobs.daily.Gateways`) over this job and a driver."""

    inputs: DeployInputs
    driver: StackDriver

    def attached(self) -> frozenset[str]:
        return attached(self.driver.outputs(), f"stack {self.inputs.stack}")

    def bring_to_day(self) -> GatewayChange:
        from .daily import GatewayChange

        result = run_deploy(self.inputs, self.driver)
        return GatewayChange(result.ran_up, result.attached, result.message)
