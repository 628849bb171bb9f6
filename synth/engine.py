"""The recording mock engine: a fresh root stack for a component test, or the whole stack program offline.

:func:`start` resets the root stack and sets :class:`~.mocks.SynthMocks` with a
:class:`~.recording.RecordingMonitor` (``preview=False``) and returns the :class:`~.recording.Recording`; a
test then declares resources inside a ``@pulumi.runtime.test`` function and calls :func:`reset` afterwards.

:func:`run_program` runs ``stacks/__main__.py`` in-process with the config of ``stacks/Pulumi.<stack>.yaml``
(:func:`stack_config`: ``secure:`` values become the secret ``"[secret]"``; :meth:`StackConfig.with_overrides`
replaces non-secret values for one run) and hands the program its :class:`~.inputs.ProgramInputs` as a global
(``runpy.run_path(init_globals=...)``): nothing is passed through the environment. It returns a
:class:`ProgramRun`: every resource sorted by URN, and the stack's exports, JSON-ready with secrets masked.
A user error of the program (the deploy guard, a bad setting) is raised as its
:class:`~smtp_egress.errors.EgressError`, unwrapped from what the Pulumi runtime re-raised.

Speed: the provider's classes are about 200,000 objects that live as long as the process. Python's cyclic
garbage collector would walk them several times while they are imported and the program runs, and once more
when the process exits, for nothing: that was a third of a synth's time. So the collector is paused for the
run, and the first run in a process imports the classes (:mod:`smtp_egress.components.aws`) up front and
moves them, with everything else alive at that moment, to the permanent generation (``gc.freeze``), which
later collections skip. Garbage made during a run is collected after it as usual.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import importlib
import json
import runpy
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pulumi
import pulumi.runtime

from smtp_egress.errors import ConfigError, EgressError

from .inputs import INPUTS_GLOBAL, ProgramInputs
from .mocks import SynthMocks
from .recording import SECRET, Recording, RecordingMonitor, Registration, plain

PROJECT = "smtp-egress"
STACKS = Path(__file__).resolve().parents[1] / "stacks"  # the stack program and its config (package data)
PROGRAM = STACKS / "__main__.py"
PROVIDER_CLASSES = "smtp_egress.components.aws"  # what the program imports that is worth loading early


def start(*, project: str = PROJECT, stack: str = "test", mocks: SynthMocks | None = None) -> Recording:
    """A fresh root stack under recording mocks (``preview=False``); call :func:`reset` when done."""
    pulumi.runtime.settings.ROOT.set(None)
    recording = Recording()
    mocks = mocks or SynthMocks()
    pulumi.runtime.set_mocks(
        mocks, project=project, stack=stack, preview=False, monitor=RecordingMonitor(mocks, recording)
    )
    return recording


def reset() -> None:
    """No root stack and no config: the state before :func:`start`."""
    pulumi.runtime.settings.ROOT.set(None)
    pulumi.runtime.set_all_config({}, [])


@dataclasses.dataclass(frozen=True)
class StackConfig:
    """A stack file's config as Pulumi's engine hands it to a program: ``project:key`` -> string."""

    values: Mapping[str, str]
    secret_keys: tuple[str, ...]

    def with_overrides(self, overrides: Mapping[str, str]) -> StackConfig:
        """These values replaced for one run; a secret cannot be, so a synth never handles a real secret."""
        values = dict(self.values)
        for name, value in overrides.items():
            key = name if ":" in name else f"{PROJECT}:{name}"
            if key in self.secret_keys:
                raise ConfigError(f"--config {key}: {key!r} is a secret; synth always masks secrets as {SECRET!r}")
            values[key] = value
        return StackConfig(values, self.secret_keys)


def stack_config(stack: str, stacks: Path = STACKS) -> StackConfig:
    """The config of ``stacks/Pulumi.<stack>.yaml``, secrets as ``"[secret]"``; ConfigError naming the stacks."""
    import yaml

    path = stacks / f"Pulumi.{stack}.yaml"
    try:
        doc = yaml.safe_load(path.read_text("utf-8")) or {}
    except OSError as exc:
        known = ", ".join(sorted(p.name[7:-5] for p in path.parent.glob("Pulumi.*.yaml"))) or "none"
        raise ConfigError(f"stack {stack!r}: cannot read {path}: {exc.strerror} (stacks: {known})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    values: dict[str, str] = {}
    secrets: list[str] = []
    for name, value in (doc.get("config") or {}).items():
        key = name if ":" in name else f"{PROJECT}:{name}"
        if isinstance(value, dict) and set(value) == {"secure"}:
            values[key] = SECRET
            secrets.append(key)
        elif isinstance(value, str):
            values[key] = value
        else:
            values[key] = json.dumps(value)
    return StackConfig(values, tuple(sorted(secrets)))


@dataclasses.dataclass(frozen=True)
class ProgramRun:
    """What one run of the stack program declared."""

    resources: tuple[Registration, ...]  # sorted by URN
    outputs: dict[str, Any]  # the stack's exports, JSON-ready, secrets masked
    component_outputs: dict[str, dict[str, Any]]  # component URN -> its registered outputs, JSON-ready

    def plan_resources(self) -> list[dict[str, Any]]:
        return [r.plan_entry() for r in self.resources]


def run_program(
    stack: str, inputs: ProgramInputs | None, config: StackConfig | None = None, program: Path = PROGRAM
) -> ProgramRun:
    """Run the stack program under the recording mocks with ``config`` (default: its stack file's).

    ``inputs`` None runs it as ``pulumi up`` would: with the program's own defaults.
    """
    config = config or stack_config(stack)
    exports: dict[str, Any] = {}
    with _collector_paused():
        _load_provider_classes()
        try:
            pulumi.runtime.set_all_config(dict(config.values), list(config.secret_keys))
            recording = start(stack=stack, mocks=SynthMocks(config.values.get("aws:region", "us-east-1")))

            @pulumi.runtime.test
            def program_run() -> pulumi.Output[None]:
                runpy.run_path(
                    str(program), init_globals={INPUTS_GLOBAL: inputs} if inputs else None, run_name="__main__"
                )
                return pulumi.Output.from_input(_resolve_exports(exports))

            _unwrapping_user_errors(program_run)
        finally:
            reset()
    return ProgramRun(
        tuple(recording.sorted()), exports, {urn: plain(out) for urn, out in recording.component_outputs.items()}
    )


async def _resolve_exports(into: dict[str, Any]) -> None:
    root = pulumi.runtime.get_root_resource()
    for key, value in sorted((getattr(root, "outputs", None) or {}).items()):
        out = pulumi.Output.from_input(value)
        into[key] = SECRET if await out.is_secret() else plain(await out.future())


def _unwrapping_user_errors(run: Callable[[], object]) -> None:
    """Call ``run``; re-raise the EgressError (or Pulumi RunError) behind whatever the runtime raised, if any."""
    try:
        run()
    except EgressError:
        raise
    except Exception as exc:
        seen: set[int] = set()
        cause: BaseException | None = exc
        while cause is not None and id(cause) not in seen:
            seen.add(id(cause))
            if isinstance(cause, EgressError):
                raise cause from None
            if isinstance(cause, pulumi.RunError):
                raise ConfigError(str(cause)) from None
            cause = cause.__cause__ or cause.__context__
        raise


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection inside (see the module docstring); as it was after."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _load_provider_classes() -> None:
    """The first time in a process: import the provider classes the program uses, then ``gc.freeze()``."""
    if PROVIDER_CLASSES not in sys.modules:
        importlib.import_module(PROVIDER_CLASSES)
        gc.freeze()
