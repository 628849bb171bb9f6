"""fetch_published against a real HTTP server on 127.0.0.1 (fault matrix) and real files."""

from __future__ import annotations

import datetime as dt
import email.utils
import ipaddress
import json
import time

import pytest

import smtp_egress
from smtp_egress.checks import published_errors as pe
from smtp_egress.checks.published import PublishedDocument, fetch_published
from smtp_egress.dates import UTC
from smtp_egress.errors import PUBLISHED_UNUSABLE, PublishedUnusable

from .conftest import Reply

PATH = "/v1/info/ip_addresses"
US = [ipaddress.ip_address(a) for a in ("198.51.100.10", "198.51.100.11", "2001:db8::10")]


def body(doc) -> bytes:
    return json.dumps(doc, indent=2).encode()


def fails(cls, source: str, *words: str, call=None):
    """Run ``call``; assert it raised exactly ``cls`` (a PublishedUnusable, exit 3) naming the source and ``words``."""
    with pytest.raises(PublishedUnusable) as info:
        call()
    exc = info.value
    assert type(exc) is cls, f"expected {cls.__name__}, got {type(exc).__name__}: {exc}"
    assert exc.exit_code == PUBLISHED_UNUSABLE == 3
    message = str(exc)
    assert message.startswith(f"published list {source}: "), message
    assert "the document was not used" in message and "sent" not in message, message  # no notice is its business
    assert "--published FILE" in message, message
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"
    return message


# --- success ---------------------------------------------------------------------------------------------


def test_valid_document_is_parsed(server, session, sleeps, valid_bytes):
    url = server.on(PATH, Reply(body=valid_bytes))
    doc = fetch_published(url, "us", session=session, sleep=sleeps.append)
    assert isinstance(doc, PublishedDocument)
    assert (doc.source, doc.region, doc.addresses) == (url, "us", tuple(US))
    assert doc.created_at.tzinfo is not None and doc.created_at.utcoffset() == dt.timedelta(0)
    assert doc.created_at == dt.datetime(2020, 1, 1, tzinfo=UTC)  # nothing announced: the epoch
    assert doc.sync_token == str(int(doc.created_at.timestamp()))
    assert doc.notice_days == 7 and doc.upcoming == () and doc.raw == json.loads(valid_bytes)
    assert doc.sha256 == json.loads(valid_bytes)["sha256"]
    assert sleeps == [] and server.hits(PATH) == 1
    headers = server.seen[0][1]
    assert headers["Accept"] == "application/json"
    assert headers["User-Agent"] == f"smtp-egress/{smtp_egress.__version__}"


def test_upcoming_changes_are_kept(server, session, document):
    url = server.on(PATH, Reply(body=body(document(announced=True))))
    doc = fetch_published(url, "us", session=session)
    assert doc.addresses == tuple(US)
    assert doc.upcoming == (
        {"ip": "203.0.113.7", "action": "add", "effective": "2026-12-10", "announced_at": "2026-11-20T08:00:00Z"},
    )
    assert doc.created_at == dt.datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def test_default_session_and_document_order(server, document, monkeypatch):
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    # Not in canonical order: accepted, kept in document order (sha256 covers document order).
    url = server.on(PATH, Reply(body=body(document(ip_addresses=["2001:db8::10", "198.51.100.10"]))))
    doc = fetch_published(url, "us")
    assert doc.addresses == (US[2], US[0])


# --- retries ---------------------------------------------------------------------------------------------


def test_500_then_success_is_retried(server, session, sleeps, valid_bytes):
    url = server.on(PATH, Reply(500, b"oops", "text/plain"), Reply(body=valid_bytes))
    assert fetch_published(url, "us", session=session, sleep=sleeps.append).addresses == tuple(US)
    assert sleeps == [0.5] and server.hits(PATH) == 2


def test_500_forever_fails_with_status_and_a_description_of_the_body(server, session, sleeps):
    url = server.on(PATH, Reply(503, b"<h1>Service   Unavailable</h1>\n" + b"x" * 5000, "text/html"))
    msg = fails(
        pe.HTTPStatusError,
        url,
        "HTTP 503 Service Unavailable, body: 5031 bytes served as 'text/html', an HTML page (not quoted",
        "gave up after 4 attempts",
        call=lambda: fetch_published(url, "us", session=session, sleep=sleeps.append),
    )
    assert "<h1>" not in msg and "xxx" not in msg  # an error page may hold credentials: never quoted
    assert sleeps == [0.5, 1.0, 2.0] and server.hits(PATH) == 4


def test_404_is_not_retried(server, session, sleeps):
    url = server.on(PATH, Reply(404, b"no such region", "text/plain"))
    fails(
        pe.HTTPStatusError,
        url,
        "HTTP 404",
        "not retried",
        "body: 14 bytes served as 'text/plain', text (not quoted",
        call=lambda: fetch_published(url, "us", session=session, sleep=sleeps.append),
    )
    assert sleeps == [] and server.hits(PATH) == 1


def test_429_honours_retry_after_seconds(server, session, sleeps, valid_bytes):
    url = server.on(PATH, Reply(429, b"slow down", "text/plain", {"Retry-After": "2"}), Reply(body=valid_bytes))
    assert fetch_published(url, "us", session=session, sleep=sleeps.append).region == "us"
    assert sleeps == [2.0]


def test_429_retry_after_past_http_date_waits_zero(server, session, sleeps, valid_bytes):
    past = email.utils.format_datetime(dt.datetime(2001, 1, 1, tzinfo=dt.UTC), usegmt=True)
    url = server.on(PATH, Reply(429, b"", "text/plain", {"Retry-After": past}), Reply(body=valid_bytes))
    fetch_published(url, "us", session=session, sleep=sleeps.append)
    assert sleeps == [0.0]


@pytest.mark.parametrize("retry_after", ["120", "http-date"])
def test_429_retry_after_beyond_cap_fails_without_waiting(server, session, sleeps, valid_bytes, retry_after):
    if retry_after == "http-date":
        later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
        retry_after = email.utils.format_datetime(later, usegmt=True)
    url = server.on(
        PATH, Reply(429, b"rate limited", "text/plain", {"Retry-After": retry_after}), Reply(body=valid_bytes)
    )
    fails(
        pe.RetryAfterTooLong,
        url,
        "HTTP 429",
        f"Retry-After {retry_after!r}",
        "longer than the 60s cap",
        call=lambda: fetch_published(url, "us", session=session, sleep=sleeps.append),
    )
    assert sleeps == [] and server.hits(PATH) == 1


def test_429_forever_without_retry_after_backs_off(server, session, sleeps):
    url = server.on(PATH, Reply(429, b"rate limited", "text/plain"))
    fails(
        pe.HTTPStatusError,
        url,
        "HTTP 429",
        "gave up after 3 attempts: 429, 429, 429",
        call=lambda: fetch_published(url, "us", session=session, sleep=sleeps.append, attempts=3),
    )
    assert sleeps == [0.5, 1.0]


def test_read_timeout_on_every_attempt(server, session, sleeps):
    url = server.on(PATH, Reply(body=b"{}", delay=5))
    start = time.monotonic()
    fails(
        pe.FetchTimeout,
        url,
        "timed out waiting for the response",
        "0.3s",
        "gave up after 2 attempts: timeout, timeout",
        call=lambda: fetch_published(url, "us", session=session, sleep=sleeps.append, timeout=0.3, attempts=2),
    )
    assert time.monotonic() - start < 3
    assert sleeps == [0.5]


def test_timeout_then_success(server, session, sleeps, valid_bytes):
    url = server.on(PATH, Reply(delay=5), Reply(body=valid_bytes))
    assert fetch_published(url, "us", session=session, sleep=sleeps.append, timeout=0.3).addresses == tuple(US)
    assert sleeps == [0.5]


def test_connection_reset_on_every_attempt(server, session, sleeps):
    url = server.on(PATH, Reply(reset=True))
    fails(
        pe.ConnectionFailed,
        url,
        "reset or closed without a response",
        "connection reset, connection reset",
        call=lambda: fetch_published(url, "us", session=session, sleep=sleeps.append, attempts=2),
    )
    assert sleeps == [0.5] and server.hits(PATH) == 2


def test_connection_reset_then_success(server, session, sleeps, valid_bytes):
    url = server.on(PATH, Reply(reset=True), Reply(body=valid_bytes))
    assert fetch_published(url, "us", session=session, sleep=sleeps.append).region == "us"
    assert sleeps == [0.5]


def test_connection_refused(session, sleeps, refused_url):
    fails(
        pe.ConnectionFailed,
        refused_url,
        "the connection was refused",
        "gave up after 4 attempts: connection refused, connection refused, connection refused, connection refused",
        call=lambda: fetch_published(refused_url, "us", session=session, sleep=sleeps.append),
    )
    assert sleeps == [0.5, 1.0, 2.0]


def test_body_cut_short_of_content_length(server, session, sleeps, valid_bytes):
    url = server.on(PATH, Reply(body=valid_bytes[:40], content_length=len(valid_bytes)))
    fails(
        pe.TruncatedBody,
        url,
        "truncated body",
        f"closed after 40 bytes of the {len(valid_bytes)} announced",
        call=lambda: fetch_published(url, "us", session=session, sleep=sleeps.append, attempts=2),
    )
    assert sleeps == [0.5]


def test_huge_body_stops_at_max_bytes(server, session):
    url = server.on(PATH, Reply(body=b"[" + b"1," * 2_000_000 + b"1]", content_length=-1))  # no Content-Length
    fails(
        pe.BodyTooLarge,
        url,
        "larger than the 1000-byte limit",
        "stopped reading",
        call=lambda: fetch_published(url, "us", session=session, max_bytes=1000),
    )


def test_huge_content_length_is_not_read(server, session, valid_bytes):
    url = server.on(PATH, Reply(body=valid_bytes))
    fails(
        pe.BodyTooLarge,
        url,
        f"Content-Length {len(valid_bytes)}",
        "100-byte limit",
        "not read",
        call=lambda: fetch_published(url, "us", session=session, max_bytes=100),
    )


# --- what was served -------------------------------------------------------------------------------------

HTML = b"<!DOCTYPE html>\n<html><head><title>Sign in</title></head><body>Please sign in</body></html>"


@pytest.mark.parametrize(
    "reply, cls, words",
    [
        (
            Reply(body=HTML, content_type="text/html; charset=utf-8"),
            pe.WrongContentType,
            ["'text/html; charset=utf-8'", "instead of application/json", "91 bytes with status 200, an HTML page"],
        ),
        (
            Reply(body=HTML, content_type=None),
            pe.WrongContentType,
            ["'no Content-Type'", "with status 200, an HTML page"],
        ),
        (
            Reply(body=b'{"ip_addresses": ["198.51.100.10"]}', content_type="text/plain"),
            pe.WrongContentType,
            ["'text/plain'", "instead of application/json", "35 bytes with status 200, a JSON object with the keys"],
        ),
        (Reply(body=b""), pe.EmptyBody, ["the document is empty: 0 bytes", "'application/json'"]),
        (Reply(body=b" \n", content_type="text/html"), pe.EmptyBody, ["empty: 2 bytes", "'text/html'"]),
        (
            Reply(body=b'{"ip_addresses": ["198.51.100.10", "198.5'),
            pe.MalformedJSON,
            ["truncated or malformed JSON at byte 35 of 41"],
        ),
        (Reply(body=b'{"region": "us", "region": "eu"}'), pe.MalformedJSON, ["'region' appears twice"]),
        (Reply(body=b'{"ip_addresses": ["\xff"]}'), pe.MalformedJSON, ["not UTF-8", "at byte 19 of 23"]),
        (Reply(body=b'["198.51.100.10"]'), pe.SchemaViolation, ["a JSON list, not an object"]),
    ],
    ids=["html", "html-no-type", "text-plain", "empty", "blank", "cut-json", "dup-key", "not-utf8", "not-object"],
)
def test_served_body_is_rejected(server, session, sleeps, reply, cls, words):
    url = server.on(PATH, reply)
    said = fails(cls, url, *words, call=lambda: fetch_published(url, "us", session=session, sleep=sleeps.append))
    assert "Sign in" not in said and "198.51.100.10" not in said
    assert sleeps == [] and server.hits(PATH) == 1  # a bad document is not retried


def _without(field):
    def change(doc):
        del doc[field]
        return doc

    return change


def _bad_upcoming(key, value):
    def change(doc):
        doc["upcoming"][0][key] = value
        return doc

    return change


@pytest.mark.parametrize(
    "change, cls, words",
    [
        (
            lambda d: d | {"ip_addresses": []},
            pe.EmptyList,
            ["'ip_addresses' is an empty list", "not the removal of every address"],
        ),
        (
            lambda d: d | {"ip_addresses": ["198.51.100.10", "999.1.1.1"]},
            pe.InvalidAddress,
            ["ip_addresses[1] '999.1.1.1' is not an IPv4 or IPv6 address"],
        ),
        (
            lambda d: d | {"ip_addresses": ["10.0.0.1"]},
            pe.InvalidAddress,
            ["ip_addresses[0] '10.0.0.1'", "not a global unicast"],
        ),
        (lambda d: d | {"ip_addresses": [" 198.51.100.10"]}, pe.InvalidAddress, ["white space"]),
        (
            lambda d: d | {"ip_addresses": ["198.51.100.10", "198.51.100.10"]},
            pe.DuplicateAddress,
            ["ip_addresses[1] '198.51.100.10' duplicates ip_addresses[0]"],
        ),
        (
            lambda d: d | {"ip_addresses": ["2001:db8::10", "2001:DB8:0::10"]},
            pe.DuplicateAddress,
            ["'2001:DB8:0::10' duplicates ip_addresses[0] '2001:db8::10'"],
        ),
        (lambda d: d | {"region": "eu"}, pe.WrongRegion, ["for region 'eu', expected 'us'"]),
        (
            lambda d: d | {"sha256": "0" * 64},
            pe.ChecksumMismatch,
            ["the list does not match its own sha256: truncated or altered", "0" * 64],
        ),
        (
            lambda d: {**d, "ip_addresses": d["ip_addresses"][:2], "sha256": d["sha256"]},
            pe.ChecksumMismatch,
            ["does not match its own sha256", "its 2 addresses hash to"],
        ),
        (_without("sync_token"), pe.SchemaViolation, ["schema violation at $:", "'sync_token' is a required property"]),
        (lambda d: d | {"extra": 1}, pe.SchemaViolation, ["schema violation at $:", "'extra' was unexpected"]),
        (lambda d: d | {"notice_days": "7"}, pe.SchemaViolation, ["at $.notice_days: '7' is not of type 'integer'"]),
        (lambda d: d | {"notice_days": 3}, pe.SchemaViolation, ["at $.notice_days: 3 is less than the minimum of 7"]),
        (
            lambda d: d | {"ip_addresses": "198.51.100.10"},
            pe.SchemaViolation,
            ["at $.ip_addresses", "is not of type 'array'"],
        ),
        (
            lambda d: d | {"created_at": "2026-13-01T00:00:00Z"},
            pe.SchemaViolation,
            ["at $.created_at: '2026-13-01T00:00:00Z' is not a real date or time"],
        ),
        (
            _bad_upcoming("ip", "192.168.1.1"),
            pe.InvalidAddress,
            ["upcoming[0].ip '192.168.1.1'", "not a global unicast"],
        ),
        (_bad_upcoming("effective", "2026-02-30"), pe.SchemaViolation, ["$.upcoming[0].effective: '2026-02-30'"]),
        (_bad_upcoming("action", "replace"), pe.SchemaViolation, ["$.upcoming[0].action", "'replace'"]),
    ],
    ids=[
        "empty-list",
        "not-ip",
        "private",
        "space",
        "duplicate",
        "duplicate-spelling",
        "wrong-region",
        "sha-altered",
        "sha-truncated",
        "missing-field",
        "extra-field",
        "type",
        "minimum",
        "list-not-array",
        "bad-created",
        "upcoming-ip",
        "upcoming-date",
        "upcoming-action",
    ],
)
def test_document_content_is_rejected(server, session, sleeps, document, change, cls, words):
    url = server.on(PATH, Reply(body=body(change(document(announced=True)))))
    fails(cls, url, *words, call=lambda: fetch_published(url, "us", session=session, sleep=sleeps.append))
    assert sleeps == []


# --- files -----------------------------------------------------------------------------------------------


def test_valid_file_path_and_file_url(tmp_path, valid_bytes):
    path = tmp_path / "us.json"
    path.write_bytes(valid_bytes)
    for source in (str(path), path.as_uri()):
        doc = fetch_published(source, "us")
        assert (doc.source, doc.addresses, doc.region) == (source, tuple(US), "us")
        assert doc.created_at.tzinfo is not None


def fails_file(cls, source, *words, **kw):
    msg = fails(cls, source, *words, call=lambda: fetch_published(source, "us", **kw))
    assert "fix the file" in msg
    return msg


def test_missing_file(tmp_path):
    fails_file(pe.SourceUnreadable, str(tmp_path / "nope.json"), "cannot read the file: No such file or directory")


def test_directory_is_not_a_file(tmp_path):
    fails_file(pe.SourceUnreadable, str(tmp_path), "cannot read the file")


def test_bad_json_file(tmp_path, valid_bytes):
    path = tmp_path / "us.json"
    path.write_bytes(valid_bytes[:-30])
    fails_file(pe.MalformedJSON, str(path), "truncated or malformed JSON at byte", f"of {len(valid_bytes) - 30}")


def test_file_checks_are_as_strict(tmp_path, document):
    path = tmp_path / "us.json"
    path.write_bytes(body(document(sha256="f" * 64)))
    fails_file(pe.ChecksumMismatch, str(path), "does not match its own sha256")
    path.write_bytes(body(document(region="eu")))
    fails_file(pe.WrongRegion, path.as_uri(), "expected 'us'")
    path.write_bytes(b"")
    fails_file(pe.EmptyBody, str(path), "the document is empty: 0 bytes")


def test_file_larger_than_max_bytes(tmp_path, valid_bytes):
    path = tmp_path / "us.json"
    path.write_bytes(valid_bytes)
    fails_file(pe.BodyTooLarge, str(path), "larger than the 50-byte limit", max_bytes=50)


def test_unsupported_scheme_and_remote_file_url():
    fails(
        pe.UnsupportedSource,
        "ftp://127.0.0.1/us.json",
        "scheme 'ftp' is not supported",
        call=lambda: fetch_published("ftp://127.0.0.1/us.json", "us"),
    )
    fails(
        pe.UnsupportedSource,
        "file://example.invalid/us.json",
        "only local files",
        call=lambda: fetch_published("file://example.invalid/us.json", "us"),
    )


def test_credentials_in_the_url_are_not_repeated(server, session, sleeps):
    server.on(PATH, Reply(500, b"oops", "text/plain"))
    url = server.base.replace("http://", "http://job:s3cret@") + PATH
    msg = fails(
        pe.HTTPStatusError,
        server.base.replace("http://", "http://***@") + PATH,
        "HTTP 500",
        call=lambda: fetch_published(url, "us", session=session, sleep=sleeps.append, attempts=1),
    )
    assert "s3cret" not in msg and "job" not in msg
    assert server.seen[0][1]["Authorization"].startswith("Basic ")  # the credentials were still used


def test_a_trickling_body_is_a_timeout_not_a_wait_forever(server, session, sleeps, valid_bytes):
    url = server.on(PATH, Reply(body=valid_bytes, drip=0.05))  # each byte well within the read timeout
    start = time.monotonic()
    fails(
        pe.FetchTimeout,
        url,
        "trickling",
        "gave up after 2 attempts: timeout, timeout",
        call=lambda: fetch_published(url, "us", session=session, sleep=sleeps.append, timeout=0.3, attempts=2),
    )
    assert time.monotonic() - start < 5
