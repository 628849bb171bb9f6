"""What the mock engine records: every registration (components included) and every component's outputs.

:class:`RecordingMonitor` (a ``pulumi.runtime.mocks.MockMonitor``) appends one :class:`Registration` per
resource to a :class:`Recording`, in registration order (which is not deterministic: sort by URN). A
registration keeps its inputs as the engine received them, secrets still marked as Pulumi secrets, so a test
can see that a value is stored as a secret; :meth:`Registration.plan_entry` is the JSON-ready view of an
``egress synth`` plan, in which :func:`plain` masks every secret as ``"[secret]"``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pulumi
from pulumi.runtime import mocks as _mocks
from pulumi.runtime import rpc

SECRET = "[secret]"


def plain(value: Any) -> Any:
    """A JSON-ready copy: secrets (and any string containing the placeholder) -> "[secret]", integral
    floats -> int (the engine hands every number back as a float), anything else -> a plain value."""
    if rpc.is_rpc_secret(value):
        return SECRET
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, float):
        return int(value) if value.is_integer() else value
    if isinstance(value, str):
        return SECRET if SECRET in value else value
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, pulumi.Resource):
        return f"<resource {type(value).__name__}>"
    if isinstance(value, pulumi.Asset | pulumi.Archive):
        return {
            "asset": type(value).__name__,
            **{k: getattr(value, k) for k in ("path", "text", "uri") if hasattr(value, k)},
        }
    return str(value)


@dataclasses.dataclass(frozen=True)
class Registration:
    """One registered resource, as the engine saw it."""

    urn: str
    type: str
    name: str
    parent: str | None
    provider: str | None
    protect: bool
    retain_on_delete: bool
    custom: bool  # False for a component
    id: str | None  # a custom resource's ID (the mocks' answer); None for a component
    inputs: dict[str, Any]  # as received: numbers as floats, secrets still marked (see plain())
    outputs: dict[str, Any]  # the mocks' answer for a custom resource (what AWS would return); {} for a component
    aliases: tuple[str, ...] = ()  # each alias as its URN, or its spec as "name=...,type=...,parentUrn=..."
    import_id: str | None = None  # the existing resource adopted with ``import_``

    def plan_entry(self) -> dict[str, Any]:
        """This resource in an ``egress synth`` plan: JSON-ready, secrets masked."""
        return {
            "urn": self.urn,
            "type": self.type,
            "name": self.name,
            "parent": self.parent,
            "provider": self.provider,
            "protect": self.protect,
            "retain_on_delete": self.retain_on_delete,
            "custom": self.custom,
            "id": self.id,
            "inputs": plain(self.inputs),
        }


class Recording:
    """Every registration of one run, and lookups for tests."""

    def __init__(self) -> None:
        self.resources: list[Registration] = []  # in registration order
        self.component_outputs: dict[str, dict[str, Any]] = {}  # component URN -> registered outputs (raw)

    def sorted(self) -> list[Registration]:
        """Every registration, sorted by URN."""
        return sorted(self.resources, key=lambda r: r.urn)

    def by_type(self, typ: str) -> list[Registration]:
        """The registrations of one type, sorted by name."""
        return sorted((r for r in self.resources if r.type == typ), key=lambda r: r.name)

    def one(self, typ: str, name: str) -> Registration:
        """The one resource of ``typ`` named ``name``; LookupError naming what there is otherwise."""
        found = [r for r in self.resources if r.type == typ and r.name == name]
        if len(found) != 1:
            raise LookupError(
                f"expected one {typ} {name!r}, found {len(found)}; that type has: {[r.name for r in self.by_type(typ)]}"
            )
        return found[0]

    def inputs_of(self, typ: str, name: str) -> dict[str, Any]:
        return self.one(typ, name).inputs

    def outputs_of(self, typ: str, name: str) -> dict[str, Any]:
        return self.one(typ, name).outputs

    def name_of(self, resource_id: str) -> str:
        """The name of the custom resource with this ID (how a test follows an ID to its resource)."""
        names = [r.name for r in self.resources if r.custom and r.id == resource_id]
        if len(names) != 1:
            raise LookupError(f"expected one resource with ID {resource_id!r}, found {names}")
        return names[0]


def _alias(alias: Any) -> str:
    if isinstance(alias, str):
        return alias
    if alias.WhichOneof("alias") == "urn":
        return alias.urn
    spec = alias.spec
    return ",".join(f"{f.name}={v}" for f, v in spec.ListFields())


class RecordingMonitor(_mocks.MockMonitor):
    """A MockMonitor that records every registration (components included) and component outputs."""

    def __init__(self, mocks: pulumi.runtime.Mocks, recording: Recording):
        super().__init__(mocks)
        self.recording = recording

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            reg = self.resources.get(response.urn)
            custom = bool(request.custom)
            self.recording.resources.append(
                Registration(
                    urn=response.urn,
                    type=request.type,
                    name=request.name,
                    parent=request.parent or None,
                    provider=request.provider or None,
                    protect=bool(request.protect),
                    retain_on_delete=bool(request.retainOnDelete),
                    custom=custom,
                    id=reg.id if reg and custom else None,
                    inputs=rpc.deserialize_properties(request.object),
                    outputs=dict(reg.state) if reg and custom else {},
                    aliases=tuple(_alias(a) for a in request.aliases),
                    import_id=request.importId or None,
                )
            )
        return response

    def RegisterResourceOutputs(self, request: Any) -> Any:
        self.recording.component_outputs[request.urn] = rpc.deserialize_properties(request.outputs)
        return super().RegisterResourceOutputs(request)
