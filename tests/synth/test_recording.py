"""What the recording monitor keeps of each registration, and the plan view of it."""

from __future__ import annotations

import pulumi
import pytest

from smtp_egress.synth import engine
from smtp_egress.synth.mocks import SynthMocks

THING = "test:index:Thing"


class Thing(pulumi.CustomResource):
    def __init__(self, name: str, props: dict, opts: pulumi.ResourceOptions | None = None):
        super().__init__(THING, name, props, opts)


class Box(pulumi.ComponentResource):
    def __init__(self, name: str):
        super().__init__("test:index:Box", name)
        self.thing = Thing(
            f"{name}-thing",
            {"size": 3},
            pulumi.ResourceOptions(
                parent=self, aliases=[pulumi.Alias(name="old-thing")], protect=True, retain_on_delete=True
            ),
        )
        self.register_outputs({"thing_id": self.thing.id, "token": pulumi.Output.secret("s3cr3t")})


@pytest.fixture
def rec():
    yield engine.start(mocks=SynthMocks("eu-west-1"))
    engine.reset()


def run(fn) -> None:
    @pulumi.runtime.test
    def program():
        return fn()

    program()


def test_every_registration_with_its_options_inputs_outputs_and_aliases(rec):
    run(lambda: Box("b").thing.id)
    box, thing = rec.one("test:index:Box", "b"), rec.one(THING, "b-thing")
    stack = "urn:pulumi:test::smtp-egress::pulumi:pulumi:Stack::smtp-egress-test"
    assert (box.custom, box.id, box.outputs, box.parent) == (False, None, {}, stack)
    assert (thing.custom, thing.parent, thing.protect, thing.retain_on_delete) == (True, box.urn, True, True)
    assert thing.inputs == {"size": 3.0}  # as the engine hands numbers back
    assert thing.outputs["id"] == thing.id and ":eu-west-1:123456789012:" in thing.outputs["arn"]  # the mocks' region
    assert len(thing.aliases) == 1 and "old-thing" in thing.aliases[0]
    assert thing.import_id is None
    assert rec.name_of(thing.id) == "b-thing"
    outputs = rec.component_outputs[box.urn]
    assert outputs["thing_id"] == thing.id and outputs["token"]["value"] == "s3cr3t"  # kept marked as a secret


def test_an_imported_resource_keeps_its_import_id(rec):
    run(lambda: Thing("adopted", {}, pulumi.ResourceOptions(import_="thing-0123")).id)
    thing = rec.one(THING, "adopted")
    assert (thing.import_id, thing.id) == ("thing-0123", "thing-0123")


def test_secrets_stay_marked_in_the_recording_and_are_masked_in_the_plan(rec):
    run(lambda: Thing("t", {"password": pulumi.Output.secret("hunter2"), "url": "https://x"}).id)
    thing = rec.one(THING, "t")
    assert thing.inputs["password"]["value"] == "hunter2"
    entry = thing.plan_entry()
    assert entry["inputs"] == {"password": "[secret]", "url": "https://x"}
    assert set(entry) == {
        "urn",
        "type",
        "name",
        "parent",
        "provider",
        "protect",
        "retain_on_delete",
        "custom",
        "id",
        "inputs",
    }
    assert "hunter2" not in str(entry)


def test_lookups_name_what_there_is(rec):
    run(lambda: pulumi.Output.all(Thing("a", {}).id, Thing("c", {}).id))
    assert [r.name for r in rec.by_type(THING)] == ["a", "c"]
    assert [r.name for r in rec.sorted()] == ["a", "c"]
    with pytest.raises(LookupError, match=r"expected one test:index:Thing 'b', found 0; that type has: \['a', 'c'\]"):
        rec.one(THING, "b")
    with pytest.raises(LookupError, match="no-such-id"):
        rec.name_of("no-such-id")
