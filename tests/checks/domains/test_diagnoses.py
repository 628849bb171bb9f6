"""Every diagnosis against knotd on loopback: one name per case in zones.py, the verdict and the words the
customer reads."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from smtp_egress.checks.domains import Resolver, check_records
from smtp_egress.domains.records import ExpectedRecord, RecordCheck

from .aio import run
from .zones import MX, TRACK


def check(resolver: Resolver, name: str, rtype: str = "CNAME", value: str | None = None) -> RecordCheck:
    if value is None:
        value = TRACK if rtype == "CNAME" else f"10 {MX}"
    expected = ExpectedRecord(name, rtype, value)  # type: ignore[arg-type]
    result = run(check_records("ws-1", [expected], resolver))
    assert result.workspace_id == "ws-1" and result.records[0].expected == expected
    return result.records[0]


CASES = [
    # (name, type, status, words in the diagnosis, found)
    ("ok.cust.test.", "CNAME", "verified", "is a CNAME to track.us.platform.test., as expected", ("CNAME " + TRACK,)),
    ("nothing.cust.test.", "CNAME", "failed", "nothing.cust.test. does not exist in DNS: add the record", ()),
    ("text.cust.test.", "CNAME", "failed", "exists but has no CNAME", ()),
    (
        "elsewhere.cust.test.",
        "CNAME",
        "failed",
        "is a CNAME to landing.other.test., not to track.us.platform.test.",
        None,
    ),
    (
        "links.cust.test.",
        "CNAME",
        "failed",
        "The record is at links.cust.test.cust.test., not at links.cust.test.",
        None,
    ),
    ("proxied.cust.test.", "CNAME", "failed", "switch proxied.cust.test. to 'DNS only'", None),
    ("flat.cust.test.", "CNAME", "verified", "answers with track.us.platform.test.'s own addresses", None),
    ("plain.cust.test.", "CNAME", "failed", "has address records (198.51.100.7) instead of a CNAME", None),
    ("chain.cust.test.", "CNAME", "verified", "reaches track.us.platform.test. through a CNAME chain", None),
    ("appended.cust.test.", "CNAME", "failed", "your zone's name was appended to the target", None),
    ("apex.test.", "CNAME", "failed", "is the apex of its own zone", None),
    (
        "links.wild.test.",
        "CNAME",
        "failed",
        "a wildcard *.wild.test. answers every name with CNAME landing.other",
        None,
    ),
    ("links.wilda.test.", "CNAME", "failed", "a wildcard *.wilda.test. answers every name with 198.51.100.9", None),
    ("b1.mail.cust.test.", "MX", "verified", "has MX mx.us.platform.test., as expected", ("MX 10 " + MX,)),
    ("b2.mail.cust.test.", "MX", "failed", "has a null MX ('0 .')", ("MX 0 .",)),
    ("b3.mail.cust.test.", "MX", "failed", "an alias (CNAME) of mx.us.platform.test.: an MX must name the host", None),
    ("b4.mail.cust.test.", "MX", "failed", "MX names mail.other.test., not mx.us.platform.test.", None),
    ("b5.mail.cust.test.", "MX", "failed", "b5.mail.cust.test. does not exist in DNS", ()),
    ("mail.cust.test.", "MX", "failed", "mail.cust.test. has no MX record", ()),
    ("b6.mail.cust.test.", "MX", "verified", "has MX mx.us.platform.test.", None),
    ("b7.mail.cust.test.", "MX", "verified", "has MX mx.us.platform.test.", None),
    ("b1.mail.wild.test.", "MX", "verified", "has MX mx.us.platform.test.", None),
]


@pytest.mark.parametrize(("name", "rtype", "status", "words", "found"), CASES, ids=[c[0] for c in CASES])
def test_diagnosis(
    resolver: Callable[..., Resolver], name: str, rtype: str, status: str, words: str, found: tuple[str, ...] | None
) -> None:
    result = check(resolver(), name, rtype)
    assert (result.status, words in result.diagnosis) == (status, True), result.diagnosis
    if found is not None:
        assert result.found == found


def test_found_says_where_a_cname_points(resolver: Callable[..., Resolver]) -> None:
    assert check(resolver(), "elsewhere.cust.test.").found == ("CNAME landing.other.test.",)
    doubled = check(resolver(), "links.cust.test.")
    assert doubled.found == ("CNAME " + TRACK,)
    assert "enter only 'links' as its name" in doubled.diagnosis


def test_flattening_is_accepted_with_a_note(resolver: Callable[..., Resolver]) -> None:
    result = check(resolver(), "flat.cust.test.")
    assert result.found == ("A 192.0.2.10", "AAAA 2001:db8::10")
    assert any("flattens it" in note for note in result.notes)


def test_cloudflare_addresses_are_named_as_a_proxy(resolver: Callable[..., Resolver]) -> None:
    result = check(resolver(), "proxied.cust.test.")
    assert "Cloudflare's proxy addresses" in result.diagnosis
    assert result.found == ("A 104.16.1.1", "AAAA 2606:4700::6810:101")


def test_a_cname_chain_is_spelled_out(resolver: Callable[..., Resolver]) -> None:
    result = check(resolver(), "chain.cust.test.")
    assert result.notes[0].startswith(
        "Chain: chain.cust.test. -> hop1.cust.test. -> hop2.cust.test. -> track.us.platform.test."
    )


def test_a_wildcard_pointing_at_the_platform_verifies_with_a_note(resolver: Callable[..., Resolver]) -> None:
    result = check(resolver(), "links.tracked.wild.test.")
    assert result.status == "verified"
    assert result.notes == ("A wildcard *.tracked.wild.test. also answers every name with CNAME " + TRACK,)
    mx = check(resolver(), "b1.mail.wild.test.", "MX")
    assert mx.notes == ("A wildcard *.mail.wild.test. also answers every name with this MX.",)


def test_an_explicit_record_is_not_taken_for_a_wildcard(resolver: Callable[..., Resolver]) -> None:
    assert check(resolver(), "ok.cust.test.").notes == ()


def test_mx_notes_preference_other_hosts_and_alias(resolver: Callable[..., Resolver]) -> None:
    assert check(resolver(), "b6.mail.cust.test.", "MX").notes == (
        "Preference 20 instead of 10: it works; 10 is suggested.",
        "Other MX hosts (backup.other.test.) also receive this name's bounces: remove them.",
    )
    assert check(resolver(), "b7.mail.cust.test.", "MX").notes == (
        "b7.mail.cust.test. is an alias (CNAME) of b1.mail.cust.test., whose MX is used.",
    )


@pytest.mark.parametrize("name", ["OK.Cust.Test", "ok.cust.test.", "oK.cUST.test."])
def test_names_are_absolute_and_case_insensitive(resolver: Callable[..., Resolver], name: str) -> None:
    assert check(resolver(), name, value="TRACK.us.platform.test").status == "verified"
    # the record itself is written in mixed case in the zone
    assert check(resolver(), "case.cust.test.").status == "verified"


@pytest.mark.parametrize("name", ["links.xn--bcher-kva.test.", "links.bücher.test", "LINKS.BÜCHER.TEST."])
def test_internationalized_names_as_a_labels(resolver: Callable[..., Resolver], name: str) -> None:
    result = check(resolver(), name)
    assert result.status == "verified"
    assert "links.xn--bcher-kva.test. (links.bücher.test.)" in result.diagnosis


def test_cname_beside_other_data(scripted_server: Callable[..., tuple[str, int]]) -> None:
    """knotd and nsd refuse such a zone (knotd's soft checks load it but answer the CNAME for every type), so a
    scripted server plays a provider that serves both."""
    name = "both.cust.test."
    server = scripted_server({
        (name, "CNAME"): [f"{name} 300 IN CNAME {TRACK}"],
        (name, "A"): [f"{name} 300 IN A 198.51.100.5"],
    })  # fmt: skip
    result = check(Resolver(server, False, 2.0, 10), name)
    assert result.status == "failed"
    assert "has a CNAME and also A records: a CNAME must be the only record" in result.diagnosis
    assert result.found == ("CNAME " + TRACK, "A 198.51.100.5")
