"""The deploy job's :class:`~smtp_egress.jobs.deploy.StackDriver` over the Pulumi Automation API.

``pulumi.automation`` drives the Pulumi CLI (``pulumi`` on PATH) as a subprocess: ``select_stack`` on the
project folder (the one holding ``Pulumi.yaml``: ``main: stacks/``) runs ``pulumi version`` and
``pulumi stack select --stack S``; :meth:`AutomationStack.outputs` runs ``pulumi stack output --json`` (masked,
then ``--show-secrets``); :meth:`AutomationStack.up` runs ``pulumi up --yes --skip-preview --policy-pack PACK``
(PACK: a copy of the policy pack written for this process's Python, :mod:`smtp_egress.jobs.policy_pack`, so it
runs from an installed wheel too) and then reads the outputs and ``pulumi stack history --json`` for the update's
summary. The backend, its credentials and the secrets passphrase (``PULUMI_BACKEND_URL``, ``AWS_*``,
``PULUMI_CONFIG_PASSPHRASE``) come from the process's environment, as for any Pulumi CLI run; ``EGRESS_DB`` is
given to the program, whose deploy guard reads what customers were told from the ledger.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from smtp_egress import errors

from .deploy import DeployFailed, UpSummary
from .policy_pack import write_policy_pack

MAX_SHOWN = 2000  # characters of the CLI's stderr quoted in an error


@dataclasses.dataclass
class AutomationStack:
    stack: str
    project_dir: Path
    env: Mapping[str, str] = dataclasses.field(default_factory=dict)  # added to the CLI's environment
    on_output: Callable[[str], object] | None = None  # each line ``pulumi up`` prints
    _selected: Any = dataclasses.field(default=None, init=False, repr=False)

    def check_project(self) -> None:
        """ConfigError unless ``project_dir`` is a Pulumi project (it holds Pulumi.yaml)."""
        shown = str(self.project_dir)[:200]
        try:
            found = (self.project_dir / "Pulumi.yaml").is_file()
        except (OSError, ValueError) as exc:  # a name too long, a NUL
            raise errors.ConfigError(f"--project-dir {shown!r}: {getattr(exc, 'strerror', None) or exc}") from None
        if not found:
            raise errors.ConfigError(
                f"--project-dir {shown!r} holds no Pulumi.yaml: give the folder of the smtp-egress Pulumi project "
                "(the one with Pulumi.yaml and stacks/)"
            )

    def _stack(self) -> Any:
        if self._selected is not None:
            return self._selected
        self.check_project()
        from pulumi import automation as auto

        try:
            self._selected = auto.select_stack(
                stack_name=self.stack,
                work_dir=str(self.project_dir),
                opts=auto.LocalWorkspaceOptions(env_vars=dict(self.env)),
            )
        except FileNotFoundError:
            raise errors.ConfigError(
                "the Pulumi CLI is not installed (no `pulumi` on PATH): egress deploy drives it to run `pulumi up`; "
                "install it (see README, 'Operations')"
            ) from None
        except auto.errors.CommandError as exc:
            raise errors.ConfigError(f"cannot select stack {self.stack!r}: {_said(exc)}") from None
        return self._selected

    def outputs(self) -> dict[str, Any]:
        from pulumi import automation as auto

        stack = self._stack()
        try:
            return {key: out.value for key, out in stack.outputs().items()}
        except auto.errors.CommandError as exc:
            raise errors.ConfigError(f"cannot read the outputs of stack {self.stack!r}: {_said(exc)}") from None

    def up(self, targets: Sequence[str]) -> UpSummary:
        from pulumi import automation as auto

        stack = self._stack()
        try:
            with tempfile.TemporaryDirectory(prefix="smtp-egress-policy-") as scratch:
                result = stack.up(
                    target=list(targets),
                    policy_packs=[str(write_policy_pack(Path(scratch)))],
                    message="egress deploy: the gateways follow the day's published list",
                    on_output=self.on_output,
                    color="never",
                )
        except auto.errors.CommandError as exc:
            raise DeployFailed(
                f"pulumi up of stack {self.stack!r} failed: {_said(exc)}; the published list keeps every address "
                "that may still send"
            ) from None
        return UpSummary(str(result.summary.result), dict(result.summary.resource_changes or {}))


def _said(exc: Exception) -> str:
    """The CLI's own words (the command, its exit code, stdout and stderr), the end of them."""
    text = " ".join(str(exc).split())
    return text[-MAX_SHOWN:]
