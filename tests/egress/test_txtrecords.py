"""TXT values over one 255-character string: split between terms, joined back exactly; the SPF allowlist
gives a record over the limit as several quoted strings, and one at the limit as before."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest

from smtp_egress.allowlists import build
from smtp_egress.allowlists.lists import render_spf
from smtp_egress.dates import UTC, start_of
from smtp_egress.plan import parse_plan
from smtp_egress.txtrecords import TXT_STRING_MAX, txt_strings, zone_file_value

PLAN = (Path(__file__).resolve().parents[1] / "data" / "allowlist-plan.yaml").read_bytes()


def test_a_value_of_exactly_255_characters_is_one_string_and_256_are_two():
    at_limit = "v=spf1 " + "a" * 243 + " ~all"
    assert len(at_limit) == TXT_STRING_MAX and txt_strings(at_limit) == [at_limit]
    over = "v=spf1 " + "a" * 244 + " ~all"
    assert txt_strings(over) == ["v=spf1 " + "a" * 244, " ~all"]


def test_strings_are_cut_between_terms_and_join_back_exactly():
    value = " ".join(["v=spf1", *(f"ip4:198.51.100.{n}" for n in range(1, 60)), "~all"])
    strings = txt_strings(value)
    assert len(strings) == 5 and all(0 < len(s) <= TXT_STRING_MAX for s in strings)
    assert "".join(strings) == value
    assert all(s.startswith(("v=spf1", " ip4:")) for s in strings)


def test_a_single_term_longer_than_a_string_is_cut_inside_it():
    value = "x" * 600
    assert [len(s) for s in txt_strings(value)] == [255, 255, 90] and "".join(txt_strings(value)) == value


def test_the_zone_file_form_quotes_each_string_and_escapes_quotes():
    assert zone_file_value('say "hi"') == '"say \\"hi\\""'
    assert zone_file_value("v=spf1 " + "a" * 244 + " ~all") == '"v=spf1 ' + "a" * 244 + '" " ~all"'


def spf_for(addresses: list[str]) -> tuple[str, tuple[str, ...]]:
    """The SPF allowlist's last line and warnings for a region whose live list is ``addresses``."""
    plan = parse_plan(PLAN, "plan.yaml")
    base = build(plan, "us", {}, start_of(dt.date(2026, 11, 26)), dt.datetime(2027, 1, 1, tzinfo=UTC))
    al = dataclasses.replace(base, live=tuple(addresses), additions=(), aggregate=False)
    out = render_spf(al)
    return out.data.decode().splitlines()[-1], out.warnings


# 19 characters per 3-digit address ("ip4:198.51.100.100 "), 18 per 2-digit one, 11 for "v=spf1 " and " ~all".
AT_LIMIT = [f"198.51.100.{n}" for n in range(100, 110)] + [f"198.51.100.{n}" for n in range(10, 13)]
OVER = [f"198.51.100.{n}" for n in range(100, 111)] + [f"198.51.100.{n}" for n in range(10, 12)]


def test_an_spf_record_at_the_limit_stays_one_line_of_mechanisms():
    line, warnings = spf_for(AT_LIMIT)
    assert len(f"v=spf1 {line} ~all") == TXT_STRING_MAX and warnings == ()
    assert line.split()[0] == "ip4:198.51.100.10" and '"' not in line


def test_an_spf_record_over_the_limit_is_published_as_several_strings():
    line, warnings = spf_for(OVER)
    assert len(warnings) == 1 and "256 characters" in warnings[0] and "2 quoted strings" in warnings[0]
    assert line.startswith('"v=spf1 ip4:198.51.100.10 ') and line.endswith('" " ~all"')
    strings = [s.strip('"') for s in line.split('" "')]
    assert all(len(s) <= TXT_STRING_MAX for s in strings)
    assert "".join(strings).split() == ["v=spf1", *(f"ip4:{a}" for a in sorted(OVER, key=_key)), "~all"]


def _key(ip: str) -> tuple[int, ...]:
    return tuple(int(p) for p in ip.split("."))


@pytest.mark.parametrize("count", [1, 5, 40])
def test_every_spf_line_joins_back_to_the_mechanisms(count):
    addresses = [f"203.0.113.{n}" for n in range(1, count + 1)]
    line, _ = spf_for(addresses)
    text = "".join(s.strip('"') for s in line.split('" "')) if line.startswith('"') else f"v=spf1 {line} ~all"
    assert text == "v=spf1 " + " ".join(f"ip4:{a}" for a in addresses) + " ~all"
