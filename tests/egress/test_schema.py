"""The published document's JSON Schema is generated from the code; the committed file is its output.

After an intended change to :mod:`smtp_egress.schema`, regenerate the file with::

    EGRESS_UPDATE_GOLDEN=1 .venv/bin/pytest tests/egress/test_schema.py -q

and review its diff: it is what customers validate against.
"""

from __future__ import annotations

import ipaddress
import json
import random
import re
from pathlib import Path

import jsonschema
import pytest

from smtp_egress import schema
from smtp_egress.document import load_schema
from smtp_egress.plan import MIN_NOTICE_DAYS

COMMITTED = Path(schema.__file__).with_name(schema.SCHEMA_NAME)


def test_the_committed_schema_file_is_generated_from_the_code(golden):
    text = schema.schema_text()
    golden(COMMITTED, text.encode("utf-8"), "the schema smtp_egress.schema generates")
    assert json.loads(text) == load_schema() == schema.build_schema()


def test_notice_days_minimum_is_the_plan_floor(monkeypatch):
    assert load_schema()["properties"]["notice_days"]["minimum"] == MIN_NOTICE_DAYS
    monkeypatch.setattr("smtp_egress.plan.MIN_NOTICE_DAYS", MIN_NOTICE_DAYS + 2)
    assert load_schema()["properties"]["notice_days"]["minimum"] == MIN_NOTICE_DAYS + 2
    assert schema.schema_text() != COMMITTED.read_text(encoding="utf-8")  # the file would be regenerated


@pytest.mark.parametrize(
    "notice_days, valid", [(MIN_NOTICE_DAYS - 1, False), (MIN_NOTICE_DAYS, True), (MIN_NOTICE_DAYS + 3, True)]
)
def test_documents_below_the_floor_are_rejected(notice_days, valid):
    doc = {
        "ip_addresses": ["198.51.100.10"],
        "region": "us",
        "sync_token": "1",
        "created_at": "2026-11-26T09:30:00Z",
        "sha256": "0" * 64,
        "notice_days": notice_days,
        "upcoming": [],
    }
    validator = jsonschema.Draft202012Validator(load_schema())
    assert validator.is_valid(doc) == valid


def test_layout_keeps_leaf_objects_on_one_line():
    text = schema.schema_text({"a": {"b": {"c": 1, "d": [1, 2]}}, "e": True})
    assert text == '{\n  "a": {\n    "b": {"c": 1, "d": [1, 2]}\n  },\n  "e": true\n}\n'


# Entries are IP addresses -----------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [
    ROOT / "examples" / "published-us.json",
    ROOT / "examples" / "published-eu.json",
    ROOT / "tests" / "stacks" / "data" / "published-us-announced.json",
    ROOT / "tests" / "stacks" / "data" / "published-eu.json",
]
NOT_ADDRESSES = [
    "999.1.1.1",
    "198.51.100",
    "198.51.100.010",
    "198.51.100.10 ",
    "198.51.100.0/24",
    "hello",
    "<html>",
    "2001:db8:::1",
    "2001:db8::1::2",
    "2001:db8:0:0:0:0:0:0:1",
    "12345::1",
    "fe80::1%eth0",
]


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: p.name)
def test_the_documents_we_ship_and_test_with_stay_valid(path):
    jsonschema.Draft202012Validator(load_schema()).validate(json.loads(path.read_text()))


@pytest.mark.parametrize("bad", NOT_ADDRESSES)
def test_an_entry_that_is_not_an_ip_address_is_rejected(bad):
    doc = json.loads(DOCUMENTS[2].read_text())
    validator = jsonschema.Draft202012Validator(load_schema())
    assert doc["upcoming"], "the document needs an upcoming entry for this test"
    listed = {**doc, "ip_addresses": [*doc["ip_addresses"], bad]}
    upcoming = {**doc, "upcoming": [{**doc["upcoming"][0], "ip": bad}]}
    assert not validator.is_valid(listed) and not validator.is_valid(upcoming)
    error = next(validator.iter_errors(listed))
    assert list(error.path) == ["ip_addresses", len(doc["ip_addresses"])]


def test_the_address_pattern_agrees_with_the_ipaddress_module():
    """Random addresses in every text form (compressed, exploded, upper case, dotted IPv4 tails) match; the same
    strings with one character changed match exactly when Python's ipaddress still takes them."""
    item = load_schema()["properties"]["ip_addresses"]["items"]
    patterns = [re.compile(choice["pattern"]) for choice in item["anyOf"]]

    def matches(text: str) -> bool:
        return any(p.search(text) for p in patterns)

    def is_address(text: str) -> bool:
        try:
            ipaddress.ip_address(text)
        except ValueError:
            return False
        return True

    rnd = random.Random(10)
    forms: list[str] = ["::", "::1", "1::", "::ffff:192.0.2.1", "64:ff9b::192.0.2.33", "0.0.0.0", "255.255.255.255"]
    for _ in range(3000):
        v4 = ipaddress.IPv4Address(rnd.getrandbits(32))
        groups = [rnd.choice([0, 0, rnd.getrandbits(16)]) for _ in range(8)]
        v6 = ipaddress.IPv6Address(int("".join(f"{g:04x}" for g in groups), 16))
        head = v6.exploded.rsplit(":", 2)[0]
        forms += [str(v4), v6.compressed, v6.exploded, v6.compressed.upper(), f"{head}:{v4}"]
    assert all(matches(f) for f in forms), [f for f in forms if not matches(f)][:5]
    alphabet = "0123456789abcdef:."
    for form in forms:
        i = rnd.randrange(len(form))
        for mutant in (form[:i] + form[i + 1 :], form[:i] + rnd.choice(alphabet) + form[i:]):
            assert matches(mutant) == is_address(mutant), mutant
