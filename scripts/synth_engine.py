"""A recording mock Pulumi engine: runs ``stacks/__main__.py`` in-process and returns a deterministic plan.

No Pulumi CLI, no cloud: the stack's config is read from ``stacks/Pulumi.<stack>.yaml`` (``secure:``
values become the secret ``"[secret]"``), the root stack is reset, and the program runs under
``pulumi.runtime.set_mocks`` inside a ``@pulumi.runtime.test`` function. :class:`SynthMocks` answers
every registration with realistic, deterministic values (a hash of type and name): allocation ids
``eipalloc-<17 hex>``, ``vpc-``/``subnet-``/``sg-``... ids, ARNs, SQS queue URLs, CloudFront domains,
and for an Elastic IP the plan address from its ``smtp-egress:address`` tag. :class:`RecordingMonitor`
records every resource (components included) with its parent, provider, protect, retain_on_delete and
inputs; anything secret is masked as ``"[secret]"``. The mocks live in :mod:`smtp_egress.scripts.synth_mocks`.
"""

from __future__ import annotations

import json
import os
import runpy
from pathlib import Path
from typing import Any

import pulumi
import pulumi.runtime
from pulumi.runtime import mocks as _mocks
from pulumi.runtime import rpc

from .synth_mocks import SynthMocks

SECRET = "[secret]"
PROJECT = "smtp-egress"
STACKS = Path(__file__).resolve().parents[1] / "stacks"  # the stack program and its config (package data)
PROGRAM = STACKS / "__main__.py"


def _plain(value: Any) -> Any:
    """A JSON-ready copy: secrets (and any string containing the placeholder) -> "[secret]", integral
    floats -> int (the engine hands every number back as a float), anything else -> a plain value."""
    if rpc.is_rpc_secret(value):
        return SECRET
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, float):
        return int(value) if value.is_integer() else value
    if isinstance(value, str):
        return SECRET if SECRET in value else value
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, pulumi.Resource):
        return f"<resource {type(value).__name__}>"
    if isinstance(value, pulumi.Asset | pulumi.Archive):
        return {"asset": type(value).__name__, **{k: getattr(value, k) for k in ("path", "text", "uri") if hasattr(value, k)}}
    return str(value)


class RecordingMonitor(_mocks.MockMonitor):
    """Records every registration (components included) and every component's registered outputs."""

    def __init__(self, mocks: SynthMocks):
        super().__init__(mocks)
        self.records: list[dict] = []
        self.component_outputs: dict[str, dict] = {}

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            inputs = rpc.deserialize_properties(request.object)
            reg = self.resources.get(response.urn)
            self.records.append({
                "urn": response.urn, "type": request.type, "name": request.name,
                "parent": request.parent or None, "provider": request.provider or None,
                "protect": bool(request.protect), "retain_on_delete": bool(request.retainOnDelete),
                "custom": bool(request.custom), "id": reg.id if reg and request.custom else None,
                "inputs": _plain(inputs),
            })
        return response

    def RegisterResourceOutputs(self, request):
        self.component_outputs[request.urn] = _plain(rpc.deserialize_properties(request.outputs))
        return super().RegisterResourceOutputs(request)


def stack_config(stack: str, stacks: Path = STACKS) -> tuple[dict[str, str], list[str]]:
    """The stack file's config as Pulumi's engine hands it to a program: strings, with the secret keys."""
    import yaml

    from smtp_egress.errors import ConfigError

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
    for key, value in (doc.get("config") or {}).items():
        key = key if ":" in key else f"{PROJECT}:{key}"
        if isinstance(value, dict) and set(value) == {"secure"}:
            values[key] = SECRET
            secrets.append(key)
        elif isinstance(value, str):
            values[key] = value
        else:
            values[key] = json.dumps(value)
    return values, sorted(secrets)


def run_program(stack: str, env: dict[str, str], overrides: dict[str, str] | None = None,
                program: Path = PROGRAM, stacks: Path = STACKS) -> dict:
    """Run the stack program under the recording mocks; return resources (sorted by URN) and exports.

    ``overrides`` replaces config values for this run (``project:key`` -> string); secrets cannot be
    overridden, so a synth never handles a real secret.
    """
    from smtp_egress.errors import ConfigError

    values, secret_keys = stack_config(stack, stacks)
    for key, value in (overrides or {}).items():
        key = key if ":" in key else f"{PROJECT}:{key}"
        if key in secret_keys:
            raise ConfigError(f"--config {key}: {key!r} is a secret; synth always masks secrets as {SECRET!r}")
        values[key] = value
    mocks = SynthMocks(values.get("aws:region", "us-east-1"))
    monitor = RecordingMonitor(mocks)
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    result: dict[str, Any] = {}
    try:
        pulumi.runtime.set_all_config(values, secret_keys)
        pulumi.runtime.settings.ROOT.set(None)
        pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=False, monitor=monitor)

        @pulumi.runtime.test
        def program_run():
            runpy.run_path(str(program), run_name="__main__")
            return pulumi.Output.from_input(_resolve_exports(result))

        program_run()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        pulumi.runtime.settings.ROOT.set(None)
        pulumi.runtime.set_all_config({}, [])
    return {"resources": sorted(monitor.records, key=lambda r: r["urn"]), "outputs": result.get("outputs", {}),
            "component_outputs": monitor.component_outputs}


async def _resolve_exports(into: dict) -> None:
    root = pulumi.runtime.get_root_resource()
    exports = dict(getattr(root, "outputs", {}) or {})
    resolved = {}
    for key, value in sorted(exports.items()):
        out = pulumi.Output.from_input(value)
        secret = await out.is_secret()
        resolved[key] = SECRET if secret else _plain(await out.future())
    into["outputs"] = resolved
