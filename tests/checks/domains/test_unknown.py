"""SERVFAIL, REFUSED and silence give ``unknown`` (never ``failed``), within the lookup's time budget."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from smtp_egress.checks.domains import Resolver, check_records
from smtp_egress.domains.records import ExpectedRecord

from .aio import run
from .zones import MX, TRACK

RECORDS = [ExpectedRecord("links.{}.", "CNAME", TRACK), ExpectedRecord("b1.mail.{}.", "MX", f"10 {MX}")]


def records(zone: str) -> list[ExpectedRecord]:
    return [ExpectedRecord(r.name.format(zone), r.type, r.value) for r in RECORDS]


@pytest.mark.parametrize(("zone", "problem"), [("broken.test", "SERVFAIL"), ("nowhere.test", "REFUSED")])
def test_a_server_error_is_unknown(resolver: Callable[..., Resolver], zone: str, problem: str) -> None:
    result = run(check_records("ws", records(zone), resolver()))
    assert result.status == "unknown"
    for record in result.records:
        assert record.status == "unknown"
        assert record.diagnosis.startswith(f"{problem} from 127.0.0.1:")
        assert "the domain's state is unchanged" in record.diagnosis


def test_silence_is_unknown_within_the_budget(silent_server: tuple[str, int]) -> None:
    started = time.monotonic()
    result = run(check_records("ws", records("cust.test"), Resolver(silent_server, False, 0.6, 10)))
    elapsed = time.monotonic() - started
    assert [r.status for r in result.records] == ["unknown", "unknown"]
    assert result.records[0].diagnosis.startswith(f"no answer from 127.0.0.1:{silent_server[1]} within 0.6 s")
    assert 0.55 < elapsed < 1.5


def test_one_unknown_record_makes_the_workspace_unknown_not_failed(resolver: Callable[..., Resolver]) -> None:
    expected = [
        ExpectedRecord("ok.cust.test.", "CNAME", TRACK),
        ExpectedRecord("b1.mail.broken.test.", "MX", f"10 {MX}"),
    ]
    result = run(check_records("ws", expected, resolver()))
    assert [r.status for r in result.records] == ["verified", "unknown"]
    assert result.status == "unknown"


def test_authoritative_without_reachable_servers_is_unknown(silent_server: tuple[str, int]) -> None:
    result = run(check_records("ws", records("cust.test"), Resolver(silent_server, True, 0.3, 10)))
    assert [r.status for r in result.records] == ["unknown", "unknown"]
    assert result.records[0].diagnosis.startswith("The zone's name servers were not found: no answer from")


def test_a_wrong_target_fails_even_when_its_chain_cannot_be_followed(resolver: Callable[..., Resolver]) -> None:
    """The record's own data is wrong whatever the target's zone answers."""
    (record,) = run(check_records("ws", [ExpectedRecord("tobroken.cust.test.", "CNAME", TRACK)], resolver())).records
    assert (record.status, record.found) == ("failed", ("CNAME x.broken.test.",))
    assert record.notes[0].startswith("Where x.broken.test. leads could not be looked up: SERVFAIL from 127.0.0.1:")


def test_addresses_not_comparable_with_the_tracking_host_are_unknown(resolver: Callable[..., Resolver]) -> None:
    """Flattening can only be told from other addresses when the tracking host's own addresses are known."""
    expected = ExpectedRecord("flat.cust.test.", "CNAME", "track.broken.test.")
    (record,) = run(check_records("ws", [expected], resolver())).records
    assert record.status == "unknown"
    assert record.diagnosis.startswith("SERVFAIL from 127.0.0.1:")
