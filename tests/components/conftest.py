"""A recording Pulumi mock engine for component tests (the Pulumi engine is the one thing mocked).

Usage::

    def test_something(pulumi_mocks):
        rec = pulumi_mocks()                      # fresh root stack + mocks, preview=False

        @pulumi.runtime.test
        def run():
            comp = RegionalEgress("us", args)
            return comp.vpc_id.apply(lambda _: check(rec))   # return the Output so asserts run
        run()

``rec.resources`` lists every registered resource as a dict (type, name, urn, parent, inputs, protect,
retain_on_delete, provider), sorted by URN by ``rec.sorted()``. Mocks return realistic IDs and, for
EIPs, the ``publicIp`` given in their tags or inputs.
"""

from __future__ import annotations

import hashlib

import pulumi
import pytest


class RecordingMocks(pulumi.runtime.Mocks):
    def __init__(self):
        self.resources: list[dict] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        digest = hashlib.sha256(f"{args.typ}::{args.name}".encode()).hexdigest()
        outputs = dict(args.inputs)
        rid = f"{args.name}-{digest[:8]}"
        if args.typ == "aws:ec2/eip:Eip":
            tags = args.inputs.get("tags") or {}
            ip = tags.get("smtp-egress:address") or args.inputs.get("address") or "198.51.100.250"
            outputs.update(publicIp=ip, allocationId=f"eipalloc-{digest[:17]}")
            rid = outputs["allocationId"]
        if "arn" not in outputs:
            service = args.typ.split(":")[1].split("/")[0]
            outputs["arn"] = f"arn:aws:{service}:us-east-1:123456789012:{args.name}"
        return rid, outputs

    def call(self, args: pulumi.runtime.MockCallArgs):
        if args.token == "aws:index/getAvailabilityZones:getAvailabilityZones":
            return {"names": ["us-east-1a", "us-east-1b"], "zoneIds": ["use1-az1", "use1-az2"]}
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {"accountId": "123456789012", "arn": "arn:aws:iam::123456789012:user/test", "userId": "AIDATEST"}
        if args.token == "aws:index/getRegion:getRegion":
            return {"name": "us-east-1", "region": "us-east-1"}
        return {}

    def sorted(self) -> list[dict]:
        return sorted(self.resources, key=lambda r: r["urn"])

    def inputs_of(self, typ: str, name: str) -> dict:
        """The inputs of the one resource of ``typ`` named ``name`` (fails if there is not exactly one)."""
        found = [r for r in self.sorted() if r["type"] == typ and r["name"] == name]
        assert len(found) == 1, f"expected one {typ} {name}, found {[r['name'] for r in self.by_type(typ)]}"
        return found[0]["inputs"]

    def by_type(self, typ: str) -> list[dict]:
        return sorted((r for r in self.resources if r["type"] == typ), key=lambda r: r["name"])


class RecordingMonitor(pulumi.runtime.mocks.MockMonitor):
    """Records every registration, components included, with parent, protect and retain_on_delete."""

    def __init__(self, mocks: RecordingMocks):
        super().__init__(mocks)
        self.recorder = mocks

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            from pulumi.runtime import rpc

            inputs = rpc.deserialize_properties(request.object)
            self.recorder.resources.append({
                "type": request.type, "name": request.name, "urn": response.urn, "parent": request.parent,
                "custom": bool(request.custom), "protect": bool(request.protect),
                "retain_on_delete": bool(request.retainOnDelete), "provider": request.provider,
                "inputs": dict(inputs), "aliases": list(request.aliases) if request.aliases else [],
                "import_id": request.importId or None,
            })
        return response


@pytest.fixture
def pulumi_mocks():
    def start(project: str = "smtp-egress", stack: str = "test") -> RecordingMocks:
        pulumi.runtime.settings.ROOT.set(None)
        mocks = RecordingMocks()
        pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=False, monitor=RecordingMonitor(mocks))
        return mocks

    yield start
    pulumi.runtime.settings.ROOT.set(None)
