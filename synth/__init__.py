"""The offline Pulumi engine: run the stack program or a component under recording mocks, no CLI, no cloud.

One engine for ``egress synth`` and for the tests:

* :mod:`.mocks` answers every registration and invoke with deterministic, realistic values (IDs, ARNs, URLs);
* :mod:`.recording` records every registration (components included) and every component's outputs;
* :mod:`.engine` starts a fresh root stack under both (:func:`~.engine.start`, what a component test needs)
  or runs the whole stack program with its stack file's config (:func:`~.engine.run_program`);
* :mod:`.inputs` is what a runner gives the stack program (:class:`~.inputs.ProgramInputs`): it imports
  nothing heavy, because the program itself imports it, under ``pulumi up`` too;
* :mod:`.terraform` turns a recorded plan into Terraform JSON, so the real AWS provider's own checks
  (``terraform validate``) run on every value the plan declares (tests/synth/test_terraform_validate.py).

Dependencies: ``smtp_egress.jobs`` and the tests use this package; it runs ``stacks/__main__.py`` by path
(nothing imports stacks) and imports ``smtp_egress.components.aws`` to load the provider's classes early.
"""
