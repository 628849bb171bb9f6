"""The classic shape ``{"ip_addresses": [...]}`` (and our document) as ``egress ledger adopt`` reads it: the same
strict, bounded fetch as the daily job, against a real HTTP server on 127.0.0.1 and real files."""

from __future__ import annotations

import hashlib
import ipaddress
import json

import pytest

from smtp_egress.checks import published_errors as pe
from smtp_egress.checks.published import fetch_published
from smtp_egress.checks.published_classic import CLASSIC, DOCUMENT, fetch_published_list
from smtp_egress.errors import PublishedUnusable

from .conftest import Reply

PATH = "/v1/info/ip_addresses"
CLASSIC_BODY = b'{"ip_addresses": ["198.51.100.11", "2001:DB8::10", "198.51.100.10"]}'


def test_the_classic_shape_is_read_with_retries_and_the_sha256_of_its_bytes(server, session, sleeps):
    url = server.on(PATH, Reply(503, b"busy", "text/plain"), Reply(body=CLASSIC_BODY))
    listed = fetch_published_list(url, "us", session=session, sleep=sleeps.append)
    assert (listed.shape, listed.region, listed.source, listed.document) == (CLASSIC, "us", url, None)
    assert listed.addresses == tuple(
        ipaddress.ip_address(a) for a in ("198.51.100.11", "2001:db8::10", "198.51.100.10")
    )
    assert listed.sha256 == hashlib.sha256(CLASSIC_BODY).hexdigest()
    assert server.hits(PATH) == 2 and sleeps == [0.5]


def test_our_document_is_read_whole_and_checked_as_the_daily_job_checks_it(server, session, valid_bytes, document):
    url = server.on(PATH, Reply(body=valid_bytes))
    listed = fetch_published_list(url, "us", session=session)
    assert listed.shape == DOCUMENT and listed.document == fetch_published(url, "us", session=session)
    assert listed.addresses == listed.document.addresses
    url = server.on("/bad", Reply(body=json.dumps(document(sha256="0" * 64)).encode()))
    with pytest.raises(pe.ChecksumMismatch):
        fetch_published_list(url, "us", session=session)


@pytest.mark.parametrize(
    ("doc", "cls", "needle"),
    [
        ({"ip_addresses": ["2001:db8::10", "2001:DB8:0::10"]}, pe.DuplicateAddress, "duplicates ip_addresses[0]"),
        ({"ip_addresses": ["198.51.100.10", "x" * 5000]}, pe.InvalidAddress, "'" + "x" * 64 + "'"),
        ({"ip_addresses": ["169.254.169.254"]}, pe.InvalidAddress, "'169.254.169.254'"),
        ({"ip_addresses": [None]}, pe.SchemaViolation, "ip_addresses[0] is a JSON null, not a string"),
        ({"ip_addresses": {"us": []}}, pe.SchemaViolation, "'ip_addresses' is a JSON object, not a list"),
        ({"ip_addresses": [], "note": "x"}, pe.SchemaViolation, "keys besides 'ip_addresses' ('note')"),
        ({}, pe.SchemaViolation, "no 'ip_addresses' (its keys: none)"),
        ("198.51.100.10", pe.SchemaViolation, "the body is a JSON string, not an object"),
    ],
)
def test_anything_but_a_clean_classic_list_is_unusable(tmp_path, doc, cls, needle):
    path = tmp_path / "list.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(PublishedUnusable) as info:
        fetch_published_list(str(path), "us")
    assert type(info.value) is cls and info.value.exit_code == 3
    assert needle in str(info.value) and len(str(info.value)) < 1000, str(info.value)


def test_the_daily_job_names_the_classic_shape_and_what_to_do(tmp_path):
    path = tmp_path / "list.json"
    path.write_bytes(CLASSIC_BODY)
    assert fetch_published_list(f"file://{path}", "us").shape == CLASSIC
    with pytest.raises(pe.SchemaViolation) as info:
        fetch_published(str(path), "us")
    assert "this is the classic shape" in str(info.value) and "egress ledger adopt" in str(info.value)
