"""Component tests run under the one recording mock engine of ``egress synth`` (smtp_egress.synth).

Usage::

    def test_something(pulumi_mocks):
        rec = pulumi_mocks()                      # fresh root stack + SynthMocks, preview=False

        @pulumi.runtime.test
        def run():
            comp = RegionalEgress("us", args)
            return comp.vpc_id.apply(lambda _: check(rec))   # return the Output so asserts run
        run()

``rec`` is a :class:`smtp_egress.synth.recording.Recording`: ``rec.resources`` lists every registration
(components included) as a ``Registration`` (type, name, urn, parent, inputs, outputs, id, protect,
retain_on_delete, provider, aliases, import_id); ``rec.sorted()``, ``rec.by_type(t)``, ``rec.one(t, name)``,
``rec.inputs_of(t, name)``, ``rec.outputs_of(t, name)`` and ``rec.name_of(id)`` look them up. The mocks give
realistic, deterministic IDs, names and ARNs (see smtp_egress.synth.mocks); a test that needs another answer
passes ``pulumi_mocks(mocks=SubclassOfSynthMocks())``.
"""

from __future__ import annotations

import pytest

from smtp_egress.synth import engine


@pytest.fixture
def pulumi_mocks():
    yield engine.start
    engine.reset()
