"""WebhookSender against a real HTTP receiver on 127.0.0.1 (tests/egress/conftest.py); signatures checked with
verify()."""

from __future__ import annotations

import datetime as dt
import json
import socket
import time

import pytest

import smtp_egress
from smtp_egress.errors import ConfigError, DeliveryError
from smtp_egress.notices import outbound
from smtp_egress.notices.webhook import WebhookSender, sign, verify

SECRET = b"whsec-test-0123456789"
PAYLOAD = {"type": "ip_change", "delivery_id": "d-1", "workspace_id": "ws-1", "region": "us", "note": "é"}


@pytest.fixture
def receiver(http_receiver):
    return http_receiver


def valid(request: dict) -> bool:
    """The request's signature checks out with verify()."""
    headers = request["headers"]
    return verify(SECRET, headers.get("X-Egress-Timestamp", ""), request["body"], headers.get("X-Egress-Signature", ""))


def sender(**kwargs):
    sleeps: list[float] = []
    kwargs.setdefault("allow_private", True)  # the receiver lives on 127.0.0.1
    return WebhookSender(SECRET, sleep=sleeps.append, **kwargs), sleeps


def test_posts_signed_compact_json_with_idempotency_key(receiver):
    rx = receiver()
    s, sleeps = sender()
    s.send(rx.url, PAYLOAD, delivery_id="d-1")
    (req,) = rx.requests
    assert valid(req) and req["path"] == "/hooks/egress" and sleeps == []
    assert req["body"] == json.dumps(PAYLOAD, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()
    h = req["headers"]
    assert h["Content-Type"] == "application/json" and h["Idempotency-Key"] == "d-1"
    assert h["User-Agent"] == f"smtp-egress/{smtp_egress.__version__}"
    assert abs(int(h["X-Egress-Timestamp"]) - time.time()) < 60
    assert h["X-Egress-Signature"] == sign(SECRET, h["X-Egress-Timestamp"], req["body"])


def test_retries_a_503_then_succeeds_with_the_same_key(receiver):
    rx = receiver((503, {}))
    s, sleeps = sender()
    s.send(rx.url, PAYLOAD, delivery_id="d-1")
    assert len(rx.requests) == 2 and all(valid(r) for r in rx.requests) and sleeps == [1.0]
    assert {r["headers"]["Idempotency-Key"] for r in rx.requests} == {"d-1"}


@pytest.mark.parametrize("retry_after,slept", [("7", 7.0), ("120", 30.0), ("soon", 1.0)])
def test_retry_after_is_honoured_up_to_30_seconds(receiver, retry_after, slept):
    rx = receiver((429, {"Retry-After": retry_after}))
    s, sleeps = sender()
    s.send(rx.url, PAYLOAD, delivery_id="d-1")
    assert sleeps == [slept] and len(rx.requests) == 2


def test_retry_after_as_http_date(receiver):
    when = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=12)
    rx = receiver((503, {"Retry-After": when.strftime("%a, %d %b %Y %H:%M:%S GMT")}))
    s, sleeps = sender()
    s.send(rx.url, PAYLOAD, delivery_id="d-1")
    assert len(sleeps) == 1 and 9 <= sleeps[0] <= 12


def test_gives_up_after_the_attempts_as_transient(receiver):
    rx = receiver((503, {}), (502, {}), (500, {}), (200, {}))
    s, sleeps = sender(attempts=3)
    with pytest.raises(DeliveryError) as err:
        s.send(rx.url, PAYLOAD, delivery_id="d-1")
    assert not err.value.permanent and "500" in str(err.value) and "3 attempts" in str(err.value)
    assert len(rx.requests) == 3 and sleeps == [1.0, 2.0]


@pytest.mark.parametrize("status", [400, 401, 404, 410, 302])
def test_other_answers_are_permanent_without_retry(receiver, status):
    rx = receiver((status, {"Location": "http://169.254.169.254/"} if status == 302 else {}))
    s, sleeps = sender()
    with pytest.raises(DeliveryError) as err:
        s.send(rx.url, PAYLOAD, delivery_id="d-1")
    assert err.value.permanent and str(status) in str(err.value)
    assert len(rx.requests) == 1 and sleeps == []


def test_connection_refused_is_retried_then_transient():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    s, sleeps = sender(attempts=2)
    with pytest.raises(DeliveryError) as err:
        s.send(f"http://127.0.0.1:{port}/x", PAYLOAD, delivery_id="d-1")
    assert not err.value.permanent and "connection failed" in str(err.value) and sleeps == [1.0]


def test_timeouts_are_retried_then_transient(receiver):
    rx = receiver()
    rx.delay = 1.0
    s, sleeps = sender(attempts=2, timeout=0.2)
    with pytest.raises(DeliveryError) as err:
        s.send(rx.url, PAYLOAD, delivery_id="d-1")
    assert not err.value.permanent and "no answer within 0.2 s" in str(err.value) and sleeps == [1.0]


class MustNotConnect:
    def post(self, *args, **kwargs):
        raise AssertionError("the sender tried to connect")


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "169.254.169.254", "10.1.2.3", "[::1]", "[::ffff:127.0.0.1]", "localhost", "0.0.0.0"]
)
def test_refuses_non_public_addresses_without_connecting(host):
    s = WebhookSender(SECRET, session=MustNotConnect(), sleep=pytest.fail)
    with pytest.raises(DeliveryError) as err:
        s.send(f"http://{host}:8080/latest/meta-data/", PAYLOAD, delivery_id="d-1")
    assert err.value.permanent and "non-public" in str(err.value)


def test_default_sender_refuses_a_real_loopback_receiver(receiver):
    rx = receiver()
    with pytest.raises(DeliveryError):
        WebhookSender(SECRET).send(rx.url, PAYLOAD, delivery_id="d-1")
    assert rx.connections == 0 and rx.requests == []


def test_a_name_rebound_to_loopback_after_the_check_is_refused_at_connect(receiver, monkeypatch):
    rx = receiver()
    monkeypatch.setattr(outbound, "resolve", lambda host, port: {"93.184.215.14"})  # the check sees a public address
    with pytest.raises(DeliveryError) as err:
        WebhookSender(SECRET, sleep=pytest.fail).send(rx.url, PAYLOAD, delivery_id="d-1")
    assert err.value.permanent and "127.0.0.1" in str(err.value)
    assert rx.requests == []  # connected, but not a byte of the request was sent


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/x", "gopher://example.com", "example.com/x"])
def test_refuses_non_http_urls(url):
    with pytest.raises(DeliveryError) as err:
        WebhookSender(SECRET, session=MustNotConnect(), allow_private=True).send(url, PAYLOAD, delivery_id="d-1")
    assert err.value.permanent


def test_error_messages_hide_credentials_and_query(receiver):
    rx = receiver((400, {}))
    url = rx.url.replace("http://", "http://user:hunter2@") + "?token=s3cr3t"
    with pytest.raises(DeliveryError) as err:
        sender()[0].send(url, PAYLOAD, delivery_id="d-1")
    assert "hunter2" not in str(err.value) and "s3cr3t" not in str(err.value)


def test_verify_is_strict():
    body, ts = b'{"a":1}', str(int(time.time()))
    good = sign(SECRET, ts, body)
    assert good.startswith("sha256=") and len(good) == 7 + 64
    assert verify(SECRET, ts, body, good)
    assert not verify(b"other secret", ts, body, good)
    assert not verify(SECRET, ts, body + b" ", good)
    assert not verify(SECRET, str(int(ts) + 1), body, good)
    assert not verify(SECRET, "not-a-number", body, good)
    assert not verify(SECRET, ts, body, "")
    old = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=301)
    assert not verify(SECRET, ts, body, good, now=old)
    assert verify(SECRET, ts, body, good, now=old, tolerance_s=600)


def test_now_sets_the_signed_timestamp(receiver):
    rx = receiver()
    fixed = dt.datetime(2026, 11, 26, 9, 30, tzinfo=dt.UTC)
    sender()[0].send(rx.url, PAYLOAD, delivery_id="d-1", now=fixed)
    (req,) = rx.requests
    assert req["headers"]["X-Egress-Timestamp"] == str(int(fixed.timestamp()))
    assert verify(
        SECRET, req["headers"]["X-Egress-Timestamp"], req["body"], req["headers"]["X-Egress-Signature"], now=fixed
    )


def test_empty_secret_is_a_config_error():
    with pytest.raises(ConfigError):
        WebhookSender(b"")
