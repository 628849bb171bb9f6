"""TrackingDns: the regional tracking CNAME, the MX host's address records and the egress TXT."""

from __future__ import annotations

import pulumi
import pytest

from smtp_egress.components.tracking_dns import (
    ArgsError,
    TrackingDns,
    TrackingDnsArgs,
    is_hostname,
    mx_records,
    txt_record,
    txt_strings,
    txt_value,
    validate,
)

RECORD, COMPONENT = "aws:route53/record:Record", "smtp-egress:dns:TrackingDns"
LB = "egress-lb-123456.us-east-1.elb.amazonaws.com"


def args(**over) -> TrackingDnsArgs:
    kw = dict(
        zone_id="Z0123456789ABC",
        domain="egress.example.com",
        region="us",
        tracking_target=LB,
        mx_addresses=["203.0.113.25", "2001:db8::25"],
        live_addresses=["198.51.100.11", "2001:db8::1", "198.51.100.9", "198.51.100.10"],
    )
    kw.update(over)
    return TrackingDnsArgs(**kw)


def build(pulumi_mocks, a: TrackingDnsArgs):
    rec = pulumi_mocks()
    resolved: dict = {}

    @pulumi.runtime.test
    def run():
        comp = TrackingDns("us-dns", a)
        resolved.update(track=comp.tracking_host, mx=comp.mx_host, txt_name=comp.txt_name, txt=comp.txt_value)
        return pulumi.Output.from_input(a.zone_id).apply(lambda z: resolved.update(zone=z))

    run()
    assert "zone" in resolved, "the outputs never resolved: asserts would not have run"
    return rec, resolved


# -- pure ---------------------------------------------------------------------------------------


def test_txt_value_is_canonical():
    assert (
        txt_value(args().live_addresses)
        == "v=egress1 ip4:198.51.100.9 ip4:198.51.100.10 ip4:198.51.100.11 ip6:2001:db8::1"
    )


def test_long_txt_values_split_between_terms_into_255_character_strings():
    live = [f"198.51.100.{n}" for n in range(1, 40)]
    value = txt_value(live)
    assert len(value) > 255
    strings = txt_strings(value)
    assert len(strings) > 1 and all(len(s) <= 255 for s in strings)
    assert "".join(strings) == value
    assert all(s.startswith(("v=egress1", " ip4:")) for s in strings)
    assert txt_record(value) == '""'.join(strings)
    assert txt_strings("v=egress1 ip4:198.51.100.9") == ["v=egress1 ip4:198.51.100.9"]


def test_mx_records_by_version():
    assert mx_records(["2001:db8::25", "203.0.113.26", "203.0.113.25"]) == {
        "A": ["203.0.113.25", "203.0.113.26"],
        "AAAA": ["2001:db8::25"],
    }
    assert mx_records(["203.0.113.25"]) == {"A": ["203.0.113.25"]}


@pytest.mark.parametrize(
    "name, ok",
    [
        ("egress.example.com", True),
        ("a-b.example.co.uk", True),
        ("example", False),
        ("Egress.example.com", False),
        ("egress.example.com.", False),
        ("-x.example.com", False),
        ("x_y.example.com", False),
        ("1.2.3.4", False),
        ("a" * 64 + ".example.com", False),
    ],
)
def test_hostnames(name, ok):
    assert is_hostname(name) is ok


@pytest.mark.parametrize(
    "over, fragment",
    [
        (dict(domain="egress.example.com."), "domain 'egress.example.com.'"),
        (dict(domain="bad domain"), "domain 'bad domain'"),
        (dict(region="US"), "region 'US'"),
        (dict(live_addresses=[]), "live_addresses is empty"),
        (dict(live_addresses=["198.51.100.9", "198.51.100.9"]), "lists an address twice"),
        (dict(live_addresses=["10.0.0.1"]), "live_addresses entry '10.0.0.1' is not a global unicast address"),
        (dict(mx_addresses=["mx.example.com"]), "mx_addresses entry 'mx.example.com' is not an IPv4 or IPv6 address"),
        (dict(mx_addresses=[]), "mx_addresses is empty"),
        (dict(tracking_target="203.0.113.7"), "tracking_target '203.0.113.7' is an IP address"),
        (dict(tracking_target="not a host"), "tracking_target 'not a host' is not a host name"),
        (dict(ttl=0), "ttl 0"),
    ],
)
def test_bad_arguments_are_named(over, fragment):
    with pytest.raises(ArgsError, match="TrackingDns") as info:
        validate(args(**over))
    assert fragment in str(info.value)
    assert isinstance(info.value, ValueError)


# -- the recorded resources ---------------------------------------------------------------------


def test_records(pulumi_mocks):
    rec, resolved = build(pulumi_mocks, args())
    comp = rec.by_type(COMPONENT)
    assert [c.name for c in comp] == ["us-dns"]
    records = {r.name: r for r in rec.by_type(RECORD)}
    assert sorted(records) == ["us-dns-egress-txt", "us-dns-mx-a", "us-dns-mx-aaaa", "us-dns-track"]
    assert all(r.parent == comp[0].urn and not r.protect for r in records.values())
    view = {
        n: (r.inputs["name"], r.inputs["type"], r.inputs["records"], r.inputs["ttl"], r.inputs["zoneId"])
        for n, r in records.items()
    }
    txt = "v=egress1 ip4:198.51.100.9 ip4:198.51.100.10 ip4:198.51.100.11 ip6:2001:db8::1"
    assert view == {
        "us-dns-track": ("track.us.egress.example.com", "CNAME", [LB], 300.0, "Z0123456789ABC"),
        "us-dns-mx-a": ("mx.us.egress.example.com", "A", ["203.0.113.25"], 300.0, "Z0123456789ABC"),
        "us-dns-mx-aaaa": ("mx.us.egress.example.com", "AAAA", ["2001:db8::25"], 300.0, "Z0123456789ABC"),
        "us-dns-egress-txt": ("_egress.us.egress.example.com", "TXT", [txt], 300.0, "Z0123456789ABC"),
    }
    assert not any("aliases" in r.inputs for r in records.values()), "the MX host is never an alias"
    assert resolved == {
        "track": "track.us.egress.example.com",
        "mx": "mx.us.egress.example.com",
        "txt_name": "_egress.us.egress.example.com",
        "txt": txt,
        "zone": "Z0123456789ABC",
    }


def test_ipv4_only_mx_host_and_an_output_zone(pulumi_mocks):
    zone = pulumi.Output.from_input("Z0SECONDZONE")
    rec, _ = build(pulumi_mocks, args(mx_addresses=["203.0.113.25"], zone_id=zone, ttl=60))
    records = {r.name: r.inputs for r in rec.by_type(RECORD)}
    assert sorted(records) == ["us-dns-egress-txt", "us-dns-mx-a", "us-dns-track"]
    assert {r["zoneId"] for r in records.values()} == {"Z0SECONDZONE"}
    assert {r["ttl"] for r in records.values()} == {60.0}


def test_a_long_list_is_one_record_of_several_strings(pulumi_mocks):
    live = [f"198.51.100.{n}" for n in range(1, 40)]
    rec, resolved = build(pulumi_mocks, args(live_addresses=live))
    txt = next(r for r in rec.by_type(RECORD) if r.name == "us-dns-egress-txt").inputs["records"]
    assert len(txt) == 1 and txt[0].count('""') == len(txt_strings(resolved["txt"])) - 1
    assert txt[0].replace('""', "") == resolved["txt"]
