"""The reply reader against dnspython's own encoding of the same messages, and malformed bytes."""

from __future__ import annotations

import dns.message
import dns.rrset
import pytest

from smtp_egress.checks.domains.answers import Record
from smtp_egress.checks.domains.parse import Malformed, parse
from smtp_egress.checks.domains.wire import question


def reply(*answer: str, authority: tuple[str, ...] = (), rcode: int = 0) -> bytes:
    query = dns.message.make_query("Links.Example.test.", "CNAME")
    message = dns.message.make_response(query)
    message.set_rcode(rcode)
    for line in answer:
        message.answer.append(dns.rrset.from_text(*line.split(maxsplit=4)))
    for line in authority:
        message.authority.append(dns.rrset.from_text(*line.split(maxsplit=4)))
    return message.to_wire()  # compressed, as servers send it


def test_every_record_type_the_checks_read() -> None:
    parsed = parse(reply(
        "Links.Example.test. 60 IN CNAME Track.US.platform.test.",
        "track.us.platform.test. 60 IN A 192.0.2.10",
        "track.us.platform.test. 60 IN AAAA 2001:DB8::10",
        "b.example.test. 60 IN MX 10 MX.example.test.",
        "example.test. 60 IN NS ns1.example.test.",
        "example.test. 60 IN SOA ns1.example.test. h.example.test. 7 3600 600 86400 300",
        'example.test. 60 IN TXT "hi"',
    ))  # fmt: skip
    assert parsed.answer == (
        Record("links.example.test.", "CNAME", "track.us.platform.test."),
        Record("track.us.platform.test.", "A", "192.0.2.10"),
        Record("track.us.platform.test.", "AAAA", "2001:db8::10"),
        Record("b.example.test.", "MX", "10 mx.example.test."),
        Record("example.test.", "NS", "ns1.example.test."),
        Record("example.test.", "SOA", "ns1.example.test. h.example.test. 7 3600 600 86400 300"),
        Record("example.test.", "TXT", "\\# 3 026869"),
    )
    assert (parsed.rcode, parsed.truncated, parsed.soa_owner, parsed.referral) == (0, False, None, False)


def test_negative_answers_and_referrals() -> None:
    negative = parse(reply(authority=("Example.test. 60 IN SOA ns1.example.test. h. 1 2 3 4 5",), rcode=3))
    assert (negative.rcode, negative.soa_owner, negative.referral) == (3, "example.test.", False)
    referral = parse(reply(authority=("example.test. 60 IN NS ns1.example.test.",)))
    assert (referral.referral, referral.authoritative) == (True, False)


def test_odd_labels_are_escaped() -> None:
    parsed = parse(reply("a\\.b\\032c.example.test. 60 IN A 192.0.2.1"))
    assert parsed.answer[0].owner == "a\\046b\\032c.example.test."


@pytest.mark.parametrize(
    "data",
    [
        b"\x00" * 5,
        reply("links.example.test. 60 IN A 192.0.2.1")[:-2],  # cut short
        b"\x00\x01\x81\x80\x00\x01\x00\x00\x00\x00\x00\x00\xc0\x0c\x00\x01\x00\x01",  # a pointer to itself
        b"\x00\x01\x81\x80\x00\x01\x00\x00\x00\x00\x00\x00\x40abc\x00\x00\x01\x00\x01",  # label type 01
    ],
)
def test_malformed_replies_raise(data: bytes) -> None:
    with pytest.raises(Malformed):
        parse(data)


def test_questions_match_dnspython() -> None:
    for name in ("links.example.test.", "xn--bcher-kva.test.", "_dmarc.example.test.", "."):
        wire = dns.message.make_query(name, "MX").to_wire()
        assert wire[12:] == question(name, "MX")
