"""The published document's JSON Schema is generated from the code; the committed file is its output.

After an intended change to :mod:`smtp_egress.schema`, regenerate the file with::

    EGRESS_UPDATE_GOLDEN=1 .venv/bin/pytest tests/egress/test_schema.py -q

and review its diff: it is what customers validate against.
"""

from __future__ import annotations

import json
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
