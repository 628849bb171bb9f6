"""smtp_egress.masking: the one place that decides what a message may show of a URL or a value."""

from __future__ import annotations

import hashlib

import pytest

from smtp_egress.masking import excerpt, mask_secret_url, mask_url, scrub, unencoded_at

SECRET = "Zq8-s3cr3t"


@pytest.mark.parametrize(
    "url, shown",
    [
        # Ledger URLs of any dialect, usable or not: the user stays, the password goes.
        (
            "postgresql+psycopg://egress:Zq8-s3cr3t@db.example:5432/ledger",
            "postgresql+psycopg://egress:***@db.example:5432/ledger",
        ),
        ("postgres://u:Zq8-s3cr3t@h/db", "postgres://u:***@h/db"),
        ("mysql://u:Zq8-s3cr3t@h/db", "mysql://u:***@h/db"),
        ("postgresql://egress@db.example/ledger", "postgresql://egress@db.example/ledger"),
        ("sqlite:///.egress/egress.db", "sqlite:///.egress/egress.db"),
        ("postgresql://u@h/db?sslmode=require&password=Zq8-s3cr3t", "postgresql://u@h/db?sslmode=require&password=***"),
        # Passwords holding what a URL parser cuts at, unencoded.
        ("postgresql://u:Zq8/s3cr3t@h/db", "postgresql://u:***@h/db"),
        ("postgresql://u:Zq8#s3cr3t@h/db", "postgresql://u:***@h/db"),
        ("postgresql://u:Zq8?s3cr3t@h/db", "postgresql://u:***@h/db"),
        ("postgresql://u:Zq8@s3cr3t@h/db", "postgresql://u:***@h/db"),
        ("postgresql://u:Zq8%s3cr3t@h/db", "postgresql://u:***@h/db"),
        ("smtp://u:Zq8-s3cr3t@h:587", "smtp://u:***@h:587"),
        ("u:Zq8-s3cr3t@h", "u:***@h"),  # scheme forgotten
        ("post gres://u:Zq8-s3cr3t@h/x", "post gres:***@h/x"),
        # http(s): the whole user info (a lone user name there is often a token), and credential parameters.
        ("https://u:Zq8-s3cr3t@ips.example/v1", "https://***@ips.example/v1"),
        ("https://Zq8-s3cr3t@ips.example/v1", "https://***@ips.example/v1"),
        (
            "https://ips.example/v1?region=us&access_token=Zq8-s3cr3t",
            "https://ips.example/v1?region=us&access_token=***",
        ),
        ("https://ips.example/v1?region=us#sig=Zq8-s3cr3t", "https://ips.example/v1?region=us#sig=***"),
        ("https://ips.example/v1?region=us", "https://ips.example/v1?region=us"),
        ("https://ips.example/users/@me", "https://ips.example/users/@me"),
    ],
)
def test_mask_url(url, shown):
    assert mask_url(url) == shown


def test_mask_url_is_bounded_and_printable_whatever_it_gets():
    shown = mask_url("https://h/" + "\x1b[31m\n" * 1000)
    assert len(shown) <= 300 and shown.isprintable() and "\x1b" not in shown
    assert mask_url(12345) == "12345"


@pytest.mark.parametrize(
    "url, shown",
    [
        ("https://hooks.example.com/T0/B0/Zq8-s3cr3t", "https://hooks.example.com/***"),
        ("http://user:Zq8-s3cr3t@127.0.0.1:8080/x?token=Zq8-s3cr3t", "http://127.0.0.1:8080/***"),
        ("https://[::1]:8443/Zq8-s3cr3t", "https://[::1]:8443/***"),
        ("https://u:Zq8/s3cr3t@hooks.example.com/x", "https://hooks.example.com/***"),
        ("https://u:123/Zq8@hooks.example.com/x", "https://hooks.example.com/***"),
        ("hooks.example.com/Zq8-s3cr3t", "***"),
        ("https://h:99999999/Zq8-s3cr3t", "***"),
        ("https://h$(x)/Zq8-s3cr3t", "***"),
    ],
)
def test_mask_secret_url_keeps_the_host_and_a_fingerprint(url, shown):
    digest = hashlib.sha256(url.encode()).hexdigest()[:8]
    assert mask_secret_url(url) == f"{shown}[sha256:{digest}]"


@pytest.mark.parametrize(
    "url, said",
    [
        # urllib's and urllib3's messages quote the piece of the password before an unencoded "/", "#", "?".
        ("https://u:Zq8/s3cr3t@h/x", "Port could not be cast to integer value as 'Zq8'"),
        ("https://u:Zq8/s3cr3t@h/x", "Failed to parse: 'u:Zq8' is not a valid host or port"),
        ("https://u:Zq8-s3cr3t@h:99999/x", "Failed to parse: https://u:Zq8-s3cr3t@h:99999/x"),
        ("https://h/x?token=Zq8-s3cr3t", "Max retries exceeded with url: /x?token=Zq8-s3cr3t"),
        ("https://u:Zq8%2Fs3cr3t@h/x", "login failed for 'Zq8/s3cr3t'"),
    ],
)
def test_scrub_removes_every_piece_of_a_secret_from_another_librarys_message(url, said):
    cleaned = scrub(said, url)
    assert "Zq8" not in cleaned and "s3cr3t" not in cleaned, cleaned


def test_excerpt_quotes_a_bounded_repr_and_never_an_objects_repr():
    assert excerpt("ws-1") == "'ws-1'"
    long = excerpt("x" * 10_000)
    assert long.startswith("'xxx") and long.endswith("(10000 characters)") and len(long) < 120
    assert excerpt("a\r\nb\x00") == "'a\\r\\nb\\x00'"
    assert excerpt([["deep"]] * 1000) == "<list>"
    assert excerpt(10**10_000) == "<a number of 33220 bits>"  # its repr would raise (int_max_str_digits)
    assert excerpt(7) == "7" and excerpt(None) == "None"


@pytest.mark.parametrize(
    "url, ambiguous",
    [
        ("postgresql://u:Zq8@s3cr3t@h/db", True),
        ("postgresql://u:Zq8/s3@cr3t@h:5432/db", True),
        ("postgresql://u:Zq8%40s3cr3t@h/db", False),
        ("postgresql://u@h/db", False),
        ("sqlite:///x.db", False),
    ],
)
def test_an_unencoded_at_in_a_password_is_detected(url, ambiguous):
    assert unencoded_at(url) is ambiguous
