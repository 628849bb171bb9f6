"""The synth job: run a regional stack offline and return the deterministic plan of what it declares.

No Pulumi CLI and no cloud credentials: ``stacks/__main__.py`` runs in-process under the recording mock
engine (:mod:`smtp_egress.synth.engine`) with the config of ``stacks/Pulumi.<stack>.yaml`` (secrets masked
as "[secret]"), given its inputs as arguments (:class:`~smtp_egress.synth.inputs.ProgramInputs`). The deploy
guard runs exactly as in ``pulumi up``: a change customers were not told about in time raises the guard's
:class:`~smtp_egress.errors.EgressError`, and so does a bad plan, setting or published document.

What customers were told comes from (:func:`told_source`): the published document given, else the ledger given
(``--db``/``EGRESS_DB``: it must exist), else the project's default ledger when it exists, else the stack's
``smtp-egress:publishedUrl``, fetched by the program. When that is unset or an example placeholder (a reserved
``example.com``-style name) the job says so (:class:`NoToldSource`) instead of trying the network. A plan made
from a simulation ledger (or a simulated published document) says so: output ``simulated``, and
:attr:`SynthSummary.simulated`.

The plan document lists every resource sorted by URN (type, name, parent, provider, protect,
retain_on_delete, inputs) and the stack outputs; two runs with the same inputs give the same bytes
(:meth:`SynthResult.plan_bytes`). The summary counts resources per type and names the egress addresses with
their state, the workers' open ports and the guard overrides; ``violations`` are the policy checks'
(:mod:`smtp_egress.checks.policies`) findings on the plan. The job writes nothing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from smtp_egress.checks.policies import Finding, validate_plan
from smtp_egress.dates import start_of, utc_now
from smtp_egress.errors import ConfigError
from smtp_egress.ledger_location import LedgerLocation, sqlite_file
from smtp_egress.plan import load_plan

PUBLISHED_URL = "smtp-egress:publishedUrl"
# Names reserved for documentation (RFC 2606, RFC 6761): a publishedUrl there is a placeholder, never an endpoint.
RESERVED_DOMAINS = ("example", "invalid", "test", "example.com", "example.net", "example.org")


class NoToldSource(ConfigError):
    """``egress synth`` has nowhere to read what customers were told from (nothing fetched)."""


@dataclasses.dataclass(frozen=True)
class SynthInputs:
    stack: str  # us | eu: stacks/Pulumi.<stack>.yaml
    plan_path: Path
    today: dt.date | None = None  # run as of midnight UTC of this day; None: now
    published: str | None = None  # what customers were told: this document (file or URL), not the ledger
    ledger_url: LedgerLocation | str | None = None  # the ledger to read it from (it must exist)
    config: Mapping[str, str] = dataclasses.field(default_factory=dict)  # non-secret overrides, project:key
    default_ledger: LedgerLocation | None = None  # the project's default ledger: read when it exists


@dataclasses.dataclass(frozen=True)
class SynthSummary:
    stack: str
    today: str | None
    plan_sha256: str
    resources: int
    by_type: dict[str, int]
    egress_addresses: dict[str, dict[str, Any]]  # ip -> state, attached, allocation_id
    worker_ports: dict[str, dict[str, list[str]]]  # security group -> ingress/egress -> 'tcp/465 to 0.0.0.0/0'
    guard_overrides: list[dict[str, str]]
    policy_violations: tuple[Finding, ...]
    simulated: bool = False  # what customers were told comes from a simulation ledger (or simulated document)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (``--json``): violations as their sentences."""
        out = dataclasses.asdict(self)
        out["policy_violations"] = [str(v) for v in self.policy_violations]
        return out


@dataclasses.dataclass(frozen=True)
class SynthResult:
    document: dict[str, Any]  # the plan: stack, project, plan_sha256, today, resources, outputs
    summary: SynthSummary

    @property
    def violations(self) -> tuple[Finding, ...]:
        return self.summary.policy_violations

    def plan_bytes(self) -> bytes:
        """The plan as written to a file: JSON, sorted keys, indented, one newline at the end."""
        return (json.dumps(self.document, indent=2, sort_keys=True) + "\n").encode()


def run(inputs: SynthInputs) -> SynthResult:
    """Run the stack program on ``inputs``; raise EgressError for a refused or failed run."""
    plan = load_plan(inputs.plan_path)  # a bad plan fails here, with file:line, before the engine starts
    from smtp_egress.synth import engine
    from smtp_egress.synth.inputs import ProgramInputs

    config = engine.stack_config(inputs.stack).with_overrides(inputs.config)
    moment = start_of(inputs.today) if inputs.today else utc_now()
    ledger = told_source(inputs, config.values.get(PUBLISHED_URL, ""))
    program = ProgramInputs(plan=plan, moment=moment, published=inputs.published, ledger_url=ledger)
    ran = engine.run_program(inputs.stack, program, config)
    document = {
        "stack": inputs.stack,
        "project": engine.PROJECT,
        "plan_sha256": plan.sha256,
        "today": inputs.today.isoformat() if inputs.today else None,
        "resources": ran.plan_resources(),
        "outputs": ran.outputs,
    }
    return SynthResult(document, summarize(document))


def summarize(document: dict[str, Any]) -> SynthSummary:
    resources = document["resources"]
    outputs = document["outputs"]
    return SynthSummary(
        stack=document["stack"],
        today=document["today"],
        plan_sha256=document["plan_sha256"],
        resources=len(resources),
        by_type=dict(sorted(Counter(r["type"] for r in resources).items())),
        egress_addresses=outputs.get("egress_addresses", {}),
        worker_ports=worker_ports(resources),
        guard_overrides=outputs.get("guard_overrides", []),
        policy_violations=tuple(validate_plan(document)),
        simulated=outputs.get("simulated", False) is True,
    )


def told_source(inputs: SynthInputs, published_url: str) -> LedgerLocation | str | None:
    """The ledger the program reads what customers were told from; None: the published document (given, else
    the stack's publishedUrl). NoToldSource when there is none but an unset or placeholder publishedUrl."""
    if inputs.published:
        return None
    if inputs.ledger_url:
        return inputs.ledger_url
    default = inputs.default_ledger
    path = sqlite_file(default.url) if default is not None else None
    if default is not None and path is not None and path.is_file():
        return default
    if is_placeholder(published_url):
        looked = f"no ledger at {default.describe(default.url)}, " if default is not None else ""
        raise NoToldSource(
            f"stack {inputs.stack!r}: nothing says what customers were told, so the deploy guard cannot run: no "
            f"--published (or EGRESS_PUBLISHED), no --db (or EGRESS_DB), {looked}and the stack's {PUBLISHED_URL} is "
            f"{published_url.strip()!r}, {'unset' if not published_url.strip() else 'an example placeholder'} "
            f"(stacks/Pulumi.{inputs.stack}.yaml); nothing was fetched. Pass --published FILE_OR_URL or --db URL, "
            f"create the ledger (egress ledger init, egress workspaces import), or set {PUBLISHED_URL} to the "
            "region's real published list"
        )
    return None


def is_placeholder(url: str) -> bool:
    """An unset URL, or one whose host is a name reserved for documentation (``us.ips.example.com``)."""
    import urllib.parse

    host = (urllib.parse.urlsplit(url.strip()).hostname or "").rstrip(".").lower()
    return not host or any(host == d or host.endswith(f".{d}") for d in RESERVED_DOMAINS)


def worker_ports(resources: list[dict[str, Any]]) -> dict[str, dict[str, list[str]]]:
    """The security groups the launch templates use: their ingress and egress rules, as 'tcp/465 to 0.0.0.0/0'."""
    used: set[str] = set()
    for r in resources:
        if r["type"] == "aws:ec2/launchTemplate:LaunchTemplate":
            i = r["inputs"]
            used.update(i.get("vpcSecurityGroupIds") or [])
            for ni in i.get("networkInterfaces") or []:
                used.update(ni.get("securityGroups") or [])
    out = {}
    for r in resources:
        if r["type"] == "aws:ec2/securityGroup:SecurityGroup" and r.get("id") in used:
            out[r["name"]] = {
                d: sorted(_rule_text(rule, d) for rule in r["inputs"].get(d) or []) for d in ("ingress", "egress")
            }
    return out


def _rule_text(rule: dict[str, Any], direction: str) -> str:
    proto, lo, hi = rule.get("protocol"), rule.get("fromPort"), rule.get("toPort")
    ports = "all" if str(proto) == "-1" else (f"{lo}" if lo == hi else f"{lo}-{hi}")
    where = [
        *(rule.get("cidrBlocks") or []),
        *(rule.get("ipv6CidrBlocks") or []),
        *(rule.get("prefixListIds") or []),
        *(rule.get("securityGroups") or []),
        *(["self"] if rule.get("self") else []),
    ]
    return f"{proto}/{ports} {'from' if direction == 'ingress' else 'to'} {', '.join(where) or 'nowhere'}"
