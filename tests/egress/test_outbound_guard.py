"""The SSRF guard of customer-entered URLs (webhooks, Slack) against every form of a non-public address, and
the secrets of those URLs in failure messages: real sockets on 127.0.0.1 (tests/egress/conftest.py)."""

from __future__ import annotations

import socket

import pytest

from smtp_egress.errors import DeliveryError
from smtp_egress.ipforms import is_public
from smtp_egress.masking import mask_secret_url
from smtp_egress.notices.outbound import Poster

TOKEN = "Zq8xT0KEN"

# Loopback, private and link-local/metadata IPv4 addresses, in every IPv6 form that carries them.
HIDDEN = {
    "127.0.0.1": ["::ffff:127.0.0.1", "::127.0.0.1", "64:ff9b::7f00:1", "2002:7f00:1::", "2001:db8::5efe:7f00:1"],
    "10.0.0.1": ["::ffff:a00:1", "::a00:1", "64:ff9b::a00:1", "2002:a00:1::1", "fe80::200:5efe:a00:1"],
    "169.254.169.254": ["::ffff:169.254.169.254", "::a9fe:a9fe", "64:ff9b::a9fe:a9fe", "2002:a9fe:a9fe::"],
}
TEREDO = "2001:0:4136:e378:8000:63bf:80ff:fffe"  # Teredo client 127.0.0.1 (its address is stored inverted)


@pytest.mark.parametrize(
    "address",
    [
        *(form for forms in HIDDEN.values() for form in forms),
        *HIDDEN,
        TEREDO,
        "64:ff9b:1::a00:1",  # local-use NAT64 (RFC 8215)
        "fe80::1%eth0",
        "2001:4860:4860::8888%eth0",  # a zone makes it link-scoped whatever the address
        "::",
        "::1",
        "0.0.0.0",
        "100.64.0.1",
        "224.0.0.1",
        "ff02::1",
    ],
)
def test_non_public_addresses_in_every_form(address):
    assert not is_public(address)


@pytest.mark.parametrize("address", ["8.8.8.8", "2001:4860:4860::8888", "64:ff9b::808:808", "2002:808:808::1"])
def test_public_addresses_and_forms_that_carry_a_public_one(address):
    assert is_public(address)


@pytest.mark.parametrize("host", [f"[{a}]" for forms in HIDDEN.values() for a in forms] + [f"[{TEREDO}]"])
def test_the_guard_refuses_every_form_before_connecting(host):
    listener = socket.socket(socket.AF_INET6 if host.startswith("[") else socket.AF_INET)
    poster = Poster("webhook", attempts=1, sleep=lambda s: None)
    url = f"http://{host}:8080/hooks/{TOKEN}"
    with pytest.raises(DeliveryError) as caught:
        poster.post(url, mask_secret_url(url), b"{}", dict)
    listener.close()
    said = str(caught.value)
    assert caught.value.permanent and "non-public address" in said and TOKEN not in said


def test_a_zone_in_a_webhook_host_is_refused():
    poster = Poster("webhook", attempts=1, sleep=lambda s: None)
    url = f"http://[fe80::1%25lo]:8080/hooks/{TOKEN}"
    with pytest.raises(DeliveryError) as caught:
        poster.post(url, mask_secret_url(url), b"{}", dict)
    assert TOKEN not in str(caught.value)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/services/T0/B0/" + TOKEN,
        "http://127.0.0.1:{port}/hook?token=" + TOKEN,
        "http://user:" + TOKEN + "@127.0.0.1:{port}/hook",
        "http://127.0.0.1:{port}/h%20ook/" + TOKEN,
    ],
)
def test_a_connection_failure_never_quotes_the_url(url):
    url = url.format(port=closed_port())
    poster = Poster("webhook", attempts=1, sleep=lambda s: None, allow_private=True)
    with pytest.raises(DeliveryError) as caught:
        poster.post(url, mask_secret_url(url), b"{}", dict)
    said = str(caught.value)
    assert "Connection refused" in said and TOKEN not in said and "/services" not in said, said


def test_an_error_answer_that_echoes_the_url_is_quoted_without_it(http_receiver):
    rx = http_receiver()
    url = f"{rx.url}/{TOKEN}?sig={TOKEN}2"
    rx.script.append((404, {}, f"no route for POST {url.split(':', 2)[2]} <a href='{url}'>retry</a>" + "x" * 5000))
    poster = Poster("webhook", attempts=1, sleep=lambda s: None, allow_private=True)
    with pytest.raises(DeliveryError) as caught:
        poster.post(url, mask_secret_url(url), b"{}", dict)
    said = str(caught.value)
    assert said.startswith(f"webhook {mask_secret_url(url)} answered 404 Not Found: ")
    assert TOKEN not in said and "characters)" in said and len(said) < 500, said
