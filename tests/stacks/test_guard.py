"""The deploy guard, through the real stack program: what is allocated, what is on the NAT gateways,
and what the stack refuses to do, given what customers were told and when (make before break)."""

from __future__ import annotations

import datetime as dt

import pytest

ADD = "198.51.100.11"  # active_from 2026-12-10
REMOVE = "198.51.100.12"  # retire_on 2026-12-20


def refused(run, *needles: str) -> None:
    assert run.code == 2, run.out + run.err
    assert run.plan is None, "a refused synth must not write a plan"
    assert "Traceback" not in run.err
    assert "the deploy guard refused (nothing was created or changed)" in run.err
    for needle in needles:
        assert needle in run.err, (needle, run.err)


def test_addition_announced_in_time_is_allocated_early_and_attached_on_its_day(synth, plan_file, published):
    told = [("add", ADD, "2026-11-26")]
    before = synth("us", today="2026-12-09", plan=plan_file, published=published("us", "2026-12-09", told))
    assert before.code == 0, before.err
    assert before.plan["outputs"]["egress_addresses"][ADD] == {
        "state": "announced",
        "attached": False,
        "allocation_id": before.eips()[ADD]["id"],
    }
    assert ADD in before.eips() and ADD not in before.on_gateways()

    on_day = synth("us", today="2026-12-10", plan=plan_file, published=published("us", "2026-12-10", told))
    assert on_day.code == 0, on_day.err
    assert on_day.plan["outputs"]["egress_addresses"][ADD]["state"] == "live"
    assert on_day.on_gateways() == {"198.51.100.10", ADD, REMOVE}
    assert on_day.plan["outputs"]["guard_overrides"] == []
    # the same EIP resource (same URN, same allocation) before and on the day: attaching replaces nothing
    assert on_day.eips()[ADD]["urn"] == before.eips()[ADD]["urn"]
    assert on_day.eips()[ADD]["id"] == before.eips()[ADD]["id"]


def test_unannounced_addition_due_today_is_refused_naming_address_and_dates(synth, plan_file, published):
    run = synth("us", today="2026-12-10", plan=plan_file, published=published("us", "2026-12-10"))
    refused(
        run,
        ADD,
        "planned to send from 2026-12-10",
        "never announced",
        "may be attached from 2026-12-17",
        "smtp-egress:emergencyOverride",
    )


def test_early_addition_is_allocated_protected_and_not_attached(synth, plan_file, published):
    run = synth("us", today="2026-12-01", plan=plan_file, published=published("us", "2026-12-01"))
    assert run.code == 0, run.err
    eip = run.eips()[ADD]
    assert (eip["protect"], eip["retain_on_delete"]) == (True, True)
    assert eip["inputs"]["tags"]["smtp-egress:state"] == "planned"
    assert ADD not in run.on_gateways()
    assert run.plan["outputs"]["egress_addresses"][ADD]["attached"] is False
    txt = next(r for r in run.plan["resources"] if r["name"] == "us-dns-egress-txt")
    assert txt["inputs"]["records"] == ["v=egress1 ip4:198.51.100.10 ip4:198.51.100.12"]


def test_late_announcement_waits_for_the_full_notice(synth, plan_file, published):
    told = [("add", ADD, "2026-12-08")]  # 2 days before active_from: effective 2026-12-15
    for today in ("2026-12-10", "2026-12-14"):
        run = synth("us", today=today, plan=plan_file, published=published("us", today, told))
        refused(run, ADD, "announced 2026-12-08", "may be attached from 2026-12-15")
    run = synth("us", today="2026-12-15", plan=plan_file, published=published("us", "2026-12-14", told))
    assert run.code == 0, run.err
    assert ADD in run.on_gateways()


@pytest.mark.parametrize(
    "told, needles",
    [
        ([("remove", REMOVE, "2026-12-18")], ("announced 2026-12-18", "customers may rely on it until 2026-12-25")),
        ([], ("never announced",)),
    ],
    ids=["announced-late", "never-announced"],
)
def test_retirement_before_its_announced_date_is_refused(synth, plan_file, published, told, needles):
    run = synth("us", today="2026-12-20", plan=plan_file, published=published("us", "2026-12-19", told))
    refused(run, REMOVE, "planned to stop sending on 2026-12-20", *needles)


def test_retirement_in_effect_detaches_but_keeps_the_eip(synth, plan_file, published):
    told = [("add", ADD, "2026-11-26"), ("remove", REMOVE, "2026-11-26")]
    run = synth("us", today="2026-12-20", plan=plan_file, published=published("us", "2026-12-20", told))
    assert run.code == 0, run.err
    assert run.plan["outputs"]["egress_addresses"][REMOVE]["state"] == "retired"
    assert REMOVE not in run.on_gateways()
    eip = run.eips()[REMOVE]
    assert (eip["protect"], eip["retain_on_delete"]) == (True, True)


def test_emergency_override_attaches_and_is_recorded_in_the_outputs(synth, plan_file, published):
    reason = "INC-4711: gateway address blocklisted, replacement approved by on-call"
    run = synth(
        "us",
        today="2026-12-10",
        plan=plan_file,
        published=published("us", "2026-12-10"),
        config={"smtp-egress:emergencyOverride": reason},
    )
    assert run.code == 0, run.err
    (override,) = run.plan["outputs"]["guard_overrides"]
    assert override["ip"] == ADD and override["reason"] == reason
    assert "never announced" in override["violation"]
    assert ADD in run.on_gateways()
    assert "deploy guard OVERRIDDEN" in run.out


def test_guard_reads_the_ledger_when_one_is_configured(synth, plan_file, monkeypatch, tmp_path):
    from smtp_egress.dates import start_of
    from smtp_egress.ledger import Ledger
    from smtp_egress.plan import load_plan

    plan = load_plan(plan_file)
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    monkeypatch.setenv("EGRESS_DB", url)
    Ledger(url, create=True).close()
    refused(synth("us", today="2026-12-10", plan=plan_file), ADD, "never announced")

    ledger = Ledger(url)
    change = next(c for c in plan.changes("us") if c.ip == ADD)
    ledger.announce(change, start_of(dt.date(2026, 11, 26)), plan.notice_days, plan.sha256, [])
    ledger.close()
    run = synth("us", today="2026-12-10", plan=plan_file)
    assert run.code == 0, run.err
    assert ADD in run.on_gateways()


@pytest.mark.parametrize(
    "key, value, needle",
    [
        ("smtp-egress:workerDesiredSize", "9", "'smtp-egress:workerDesiredSize' (stacks/Pulumi.us.yaml) is 9"),
        ("smtp-egress:zoneId", "", "'smtp-egress:zoneId' (stacks/Pulumi.us.yaml) is missing"),
        ("smtp-egress:availabilityZones", '["eu-west-1a"]', "zone 'eu-west-1a' is not in aws:region 'us-east-1'"),
        ("smtp-egress:planRegion", "ap", "region 'ap' is not in the plan"),
    ],
)
def test_bad_settings_are_clean_errors_naming_the_key(synth, plan_file, published, key, value, needle):
    run = synth("us", today="2026-11-26", plan=plan_file, published=published("us", "2026-11-26"), config={key: value})
    assert run.code == 2 and run.plan is None
    assert needle in run.err and "Traceback" not in run.err
