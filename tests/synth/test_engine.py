"""The engine runs the real stack program: inputs as arguments (never the environment), a deploy's defaults
without them, user errors unwrapped, and the garbage collector left as it was found."""

from __future__ import annotations

import datetime as dt
import gc
import json
import os
from pathlib import Path

import pytest

from smtp_egress.dates import start_of, utc_now
from smtp_egress.plan import load_plan
from smtp_egress.synth import engine
from smtp_egress.synth.inputs import ProgramInputs

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "stacks" / "data"
GOLDEN_DAY = dt.date(2026, 11, 26)


@pytest.fixture
def garbage_in_the_old_variables(monkeypatch, tmp_path):
    """The variables the program used to read, set to values that would break or change a run that read them."""
    bad_plan = tmp_path / "not-a-plan.yaml"
    bad_plan.write_text("regions: [this is not a plan\n")
    monkeypatch.setenv("EGRESS_PLAN", str(bad_plan))
    monkeypatch.setenv("EGRESS_TODAY", "yesterday")
    monkeypatch.setenv("EGRESS_PUBLISHED", str(tmp_path / "missing.json"))
    monkeypatch.delenv("EGRESS_DB", raising=False)


def golden_inputs(stack: str = "us") -> ProgramInputs:
    published = {"us": "published-us-announced.json", "eu": "published-eu.json"}[stack]
    return ProgramInputs(
        plan=load_plan(DATA / "egress-ips.yaml"), moment=start_of(GOLDEN_DAY), published=str(DATA / published)
    )


def test_inputs_are_arguments_the_environment_is_neither_read_nor_written(garbage_in_the_old_variables):
    environment = dict(os.environ)
    ran = engine.run_program("us", golden_inputs())
    assert dict(os.environ) == environment
    golden = json.loads((ROOT / "tests" / "golden" / "synth-us.json").read_text())
    assert ran.plan_resources() == golden["resources"] and ran.outputs == golden["outputs"]


def test_without_inputs_the_program_runs_as_a_deploy_plan_beside_it_real_time_ledger_from_egress_db(
    garbage_in_the_old_variables, monkeypatch, tmp_path
):
    from smtp_egress.addresses import address_states
    from smtp_egress.ledger import Ledger

    plan = load_plan(ROOT / "stacks" / "egress-ips.yaml")
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    ledger = Ledger(url, create=True)
    for change in plan.changes("us"):  # every change told long before it takes effect
        ledger.announce(change, start_of(dt.date(2026, 11, 1)), plan.notice_days, plan.sha256, [])
    anns = ledger.announcements("us")
    ledger.close()
    monkeypatch.setenv("EGRESS_DB", url)

    before = utc_now().date()
    ran = engine.run_program("us", None)
    after = utc_now().date()
    states = {ip: a["state"] for ip, a in ran.outputs["egress_addresses"].items()}
    assert set(states) == {str(e.ip) for e in plan.region("us")}, "the plan beside the program"
    expected = [{s.ip: s.state for s in address_states(plan, "us", anns, day)} for day in (before, after)]
    assert states in expected, "the states of today's date (the real time), from the ledger's announcements"


def test_a_user_error_of_the_program_is_raised_as_itself(tmp_path):
    from smtp_egress.errors import EgressError

    inputs = golden_inputs()
    told_nothing = tmp_path / "empty.json"
    told_nothing.write_text("")
    with pytest.raises(EgressError, match="empty") as info:
        engine.run_program("us", ProgramInputs(inputs.plan, inputs.moment, published=str(told_nothing)))
    assert info.value.exit_code == 3


def test_a_bad_setting_is_a_config_error_naming_the_key():
    from smtp_egress.errors import ConfigError

    config = engine.stack_config("us").with_overrides({"workerDesiredSize": "9"})
    with pytest.raises(ConfigError, match=r"'smtp-egress:workerDesiredSize' .stacks/Pulumi.us.yaml. is 9"):
        engine.run_program("us", golden_inputs(), config)


def test_overriding_a_secret_is_refused():
    from smtp_egress.errors import ConfigError

    with pytest.raises(ConfigError, match="'smtp-egress:ledgerUrl' is a secret"):
        engine.stack_config("us").with_overrides({"ledgerUrl": "sqlite:///x.db"})


@pytest.mark.parametrize("enabled", [True, False])
def test_the_garbage_collector_is_left_as_it_was(enabled):
    was = gc.isenabled()
    (gc.enable if enabled else gc.disable)()
    try:
        engine.run_program("eu", golden_inputs("eu"))
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()


def test_the_root_stack_and_config_are_reset_after_a_run():
    import pulumi

    engine.run_program("eu", golden_inputs("eu"))
    assert pulumi.runtime.settings.get_root_resource() is None
    assert pulumi.runtime.config.get_config("aws:region") is None


def test_the_moment_must_be_timezone_aware():
    with pytest.raises(ValueError, match="must be timezone-aware"):
        ProgramInputs(plan=load_plan(DATA / "egress-ips.yaml"), moment=dt.datetime(2026, 11, 26))
