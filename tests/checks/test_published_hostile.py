"""The published-list fetch against a hostile or broken endpoint (a real HTTP server on 127.0.0.1): redirects to
non-public addresses, bodies that may hold credentials, credentials in the URL, deep nesting."""

from __future__ import annotations

import json
import time

import pytest

from smtp_egress.checks import published_errors as pe
from smtp_egress.checks.published import fetch_published
from smtp_egress.checks.published_classic import fetch_published_list
from smtp_egress.errors import PublishedUnusable
from smtp_egress.notices import outbound

from .conftest import Reply

PATH = "/v1/info/ip_addresses"
SECRET = "Zq8-s3cr3t"


def refused(cls, call) -> str:
    with pytest.raises(PublishedUnusable) as info:
        call()
    assert type(info.value) is cls, f"{type(info.value).__name__}: {info.value}"
    assert info.value.exit_code == 3
    return str(info.value)


def redirect(to: str, status: int = 302) -> Reply:
    return Reply(status, b"moved", "text/plain", {"Location": to})


def test_a_redirect_within_the_configured_host_is_followed(server, session, valid_bytes):
    url = server.on(PATH, redirect("/v1/info/ip_addresses/current"))
    server.on(PATH + "/current", redirect(server.base + PATH + "/final", 308))
    server.on(PATH + "/final", Reply(body=valid_bytes))
    assert fetch_published(url, "us", session=session).region == "us"
    assert [p for p, _ in server.seen] == [PATH, PATH + "/current", PATH + "/final"]


@pytest.mark.parametrize(
    "target",
    [
        "http://localhost:{port}/internal",  # another name for loopback
        "http://127.0.0.2:{port}/internal",
        "http://[::1]:{port}/internal",
        "http://[::ffff:127.0.0.1]:{port}/internal",
        "http://[64:ff9b::7f00:1]:{port}/internal",
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "http://[::ffff:a9fe:a9fe]/latest/meta-data/",
        "http://10.0.0.1/admin",
        "http://2130706433:{port}/",  # 127.0.0.1 as one number
    ],
)
def test_a_redirect_to_a_non_public_address_is_refused_without_connecting(server, session, sleeps, target):
    target = target.format(port=server.base.rsplit(":", 1)[1])
    url = server.on(PATH, redirect(target))
    server.on("/internal", Reply(body=b'{"secret": "' + SECRET.encode() + b'"}'))
    started = time.monotonic()
    said = refused(pe.RedirectRefused, lambda: fetch_published(url, "us", session=session, sleep=sleeps.append))
    assert time.monotonic() - started < 5
    assert "non-public address" in said and "--published" in said
    assert server.hits("/internal") == 0 and sleeps == []  # never fetched, and not retried


@pytest.mark.parametrize(
    "target, words",
    [
        ("file:///etc/passwd", "not an http(s) URL"),
        ("gopher://127.0.0.1:70/", "not an http(s) URL"),
        ("http://[oops/", "does not parse"),
    ],
)
def test_a_redirect_elsewhere_than_http_is_refused(server, session, target, words):
    url = server.on(PATH, redirect(target))
    assert words in refused(pe.RedirectRefused, lambda: fetch_published(url, "us", session=session))


def test_a_redirect_loop_stops(server, session):
    url = server.on(PATH, redirect(PATH))
    assert "more than 5 redirects" in refused(pe.RedirectRefused, lambda: fetch_published(url, "us", session=session))
    assert server.hits(PATH) == 6


def test_a_name_rebound_to_loopback_after_the_check_is_refused_at_connect(server, session, monkeypatch):
    url = server.on(PATH, redirect(server.base.replace("127.0.0.1", "localhost") + "/internal"))
    server.on("/internal", Reply(body=b"{}"))
    monkeypatch.setattr(outbound, "resolve", lambda host, port: {"93.184.215.14"})  # the check sees a public address
    said = refused(pe.RedirectRefused, lambda: fetch_published(url, "us", session=session))
    assert "non-public address 127.0.0.1" in said and server.hits("/internal") == 0


@pytest.mark.parametrize(
    "reply",
    [
        Reply(401, f"<html><body>token {SECRET} expired</body></html>".encode(), "text/html"),
        Reply(500, f"Traceback ... DATABASE_URL=postgres://app:{SECRET}@db/app".encode(), "text/plain"),
        Reply(403, json.dumps({"error": "forbidden", "api_key": SECRET}).encode(), "application/json"),
        Reply(200, f"password={SECRET}".encode(), "text/plain"),
        Reply(200, f"<!doctype html><p>{SECRET}</p>".encode(), None),
    ],
    ids=["401-html", "500-text", "403-json", "200-text", "200-html"],
)
def test_an_unexpected_body_is_described_never_quoted(server, session, sleeps, reply):
    url = server.on(PATH, reply)
    with pytest.raises(PublishedUnusable) as info:
        fetch_published(url, "us", session=session, sleep=sleeps.append)
    said = str(info.value)
    assert SECRET not in said and "bytes" in said and "not quoted" in said, said


def test_an_error_page_with_a_json_body_names_its_keys_only(server, session):
    url = server.on(PATH, Reply(404, json.dumps({"error": SECRET, "status": 404}).encode(), "application/json"))
    said = refused(pe.HTTPStatusError, lambda: fetch_published(url, "us", session=session))
    assert "a JSON object with the keys 'error', 'status' (values not quoted)" in said and SECRET not in said


@pytest.mark.parametrize(
    "userinfo",
    [f"job:{SECRET}", f"job:{SECRET.replace('-', '/')}", f"job:{SECRET.replace('-', '#')}", f"job:{SECRET}%"],
)
def test_credentials_in_the_published_url_never_reach_a_message(server, session, userinfo):
    server.on(PATH, Reply(500, b"oops", "text/plain"))
    url = server.base.replace("http://", f"http://{userinfo}@") + PATH + f"?region=us&token={SECRET}"
    with pytest.raises(PublishedUnusable) as info:
        fetch_published(url, "us", session=session, attempts=1, sleep=lambda s: None)
    said = str(info.value)
    for piece in ("Zq8", "s3cr3t", "job"):
        assert piece not in said, said


@pytest.mark.parametrize(
    "source",
    [
        f"https://job:{SECRET}@[ips.example/v1",
        f"https://job:{SECRET}@ips.example:99999/v1",
        f"https://job:{SECRET}@ips.example:port/v1",
        f"file://job:{SECRET}@ips.example/v1",
        f"ftp://job:{SECRET}@ips.example/v1",
        f"https://job:{SECRET}@/v1",
    ],
)
def test_a_url_that_cannot_be_fetched_is_named_without_its_credentials(source, session):
    with pytest.raises(PublishedUnusable) as info:
        fetch_published(source, "us", session=session, attempts=1, sleep=lambda s: None)
    assert "Zq8" not in str(info.value) and "s3cr3t" not in str(info.value), str(info.value)


@pytest.mark.parametrize("where", ["ip_addresses", "upcoming", "top"])
@pytest.mark.parametrize("depth", [20, 900, 100_000])
def test_deep_nesting_is_malformed_json_not_a_recursion_error(server, session, document, where, depth):
    nested = "[" * depth + "]" * depth
    doc = document()
    text = json.dumps(doc)
    if where == "ip_addresses":
        text = text.replace('"ip_addresses": [', f'"ip_addresses": [{nested}, ', 1)
    elif where == "upcoming":
        text = text.replace('"upcoming": []', f'"upcoming": [{nested}]', 1)
    else:
        text = nested
    url = server.on(PATH, Reply(body=text.encode()))
    for fetch in (fetch_published, fetch_published_list):
        said = refused(pe.MalformedJSON, lambda f=fetch: f(url, "us", session=session))
        assert "nested deeper than 16 levels" in said and len(said) < 400
