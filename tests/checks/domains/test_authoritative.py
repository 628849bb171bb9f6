"""``--authoritative``: the zone's name servers (names resolving to 127.0.0.x, served by two knotd) are asked
directly, and a disagreement between them is reported."""

from __future__ import annotations

from collections.abc import Callable

from smtp_egress.checks.domains import Resolver, check_records
from smtp_egress.checks.domains.authoritative import zone_servers
from smtp_egress.domains.records import ExpectedRecord

from .aio import run
from .zones import MX, TRACK


def test_the_zones_name_servers_are_found(resolver: Callable[..., Resolver], knot_port: int) -> None:
    servers = run(zone_servers(resolver(authoritative=True), "links.multi.test."))
    assert servers.zone == "multi.test."
    assert servers.servers == (
        ("ns1.multi.test.", ("127.0.0.21", knot_port)),
        ("ns2.multi.test.", ("127.0.0.22", knot_port)),
    )


def test_disagreeing_servers_are_reported(resolver: Callable[..., Resolver]) -> None:
    expected = [
        ExpectedRecord("links.multi.test.", "CNAME", TRACK),
        ExpectedRecord("b1.mail.multi.test.", "MX", f"10 {MX}"),
    ]
    cname, mx = run(check_records("ws", expected, resolver(authoritative=True))).records
    assert cname.status == "failed"
    assert cname.diagnosis.startswith("The name servers of multi.test. disagree")
    assert "ns1.multi.test. (127.0.0.21): verified, links.multi.test. is a CNAME to" in cname.diagnosis
    assert "ns2.multi.test. (127.0.0.22): failed, links.multi.test. does not exist in DNS" in cname.diagnosis
    assert mx.status == "verified"
    assert mx.notes == (
        "All 2 name servers of multi.test. agree (ns1.multi.test. (127.0.0.21), ns2.multi.test. (127.0.0.22)).",
    )


def test_without_authoritative_the_configured_server_answers(resolver: Callable[..., Resolver]) -> None:
    expected = [ExpectedRecord("links.multi.test.", "CNAME", TRACK)]
    assert run(check_records("ws", expected, resolver())).status == "verified"


def test_the_zone_servers_are_asked_without_recursion(resolver: Callable[..., Resolver]) -> None:
    r = resolver(authoritative=True)
    r.record_queries = True
    expected = [ExpectedRecord("ok.cust.test.", "CNAME", TRACK)]
    result = run(check_records("ws", expected, r))
    assert result.status == "verified"
    assert result.records[0].notes == ("Asked ns.cust.test. (127.0.0.1).",)
    assert ("cust.test.", "NS") in r.sent
