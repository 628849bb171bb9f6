"""Tracking tokens, their keyring and the destinations they may lead to: signed, rotating, never an open redirect."""

from __future__ import annotations

import base64
import os

import pytest

from smtp_egress.errors import ConfigError
from smtp_egress.tracking.destinations import MAX_DESTINATION, destination
from smtp_egress.tracking.keys import KeyFileError, Keyring, TrackingKey, load_keyring, parse_keyring, rotate
from smtp_egress.tracking.tokens import MAX_TOKEN_CHARS, InvalidToken, TokenSigner, TokenValueError

DOMAIN = "links.customer.example"
K1 = TrackingKey("k1", b"1" * 32)
K2 = TrackingKey("k2", b"2" * 32)


def click(signer: TokenSigner, dest: str = "https://shop.example/sale?a=1&b=2", index: int = 3) -> str:
    return signer.click(
        domain=DOMAIN, message_id="<m1@x>", recipient="ann@d.example", link_index=index, destination=dest
    )


def test_a_click_token_round_trips_and_is_compact_and_url_safe():
    signer = TokenSigner(Keyring((K1,)))
    token = click(signer)
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert len(token) < 130
    claims = signer.verify(token, domain=DOMAIN, kind="click")
    assert (claims.kind, claims.key_id, claims.message_id, claims.recipient) == (
        "click",
        "k1",
        "<m1@x>",
        "ann@d.example",
    )
    assert (claims.link_index, claims.destination) == (3, "https://shop.example/sale?a=1&b=2")
    opened = signer.open(domain=DOMAIN, message_id="<m1@x>", recipient="ann@d.example")
    assert signer.verify(opened, domain=DOMAIN, kind="open").destination is None


def test_every_changed_byte_or_character_is_refused():
    signer = TokenSigner(Keyring((K1,)))
    token = click(signer)
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    for i in range(len(raw)):
        for flip in (0x01, 0x80):
            forged = bytearray(raw)
            forged[i] ^= flip
            text = base64.urlsafe_b64encode(bytes(forged)).decode().rstrip("=")
            with pytest.raises(InvalidToken):
                signer.verify(text, domain=DOMAIN, kind="click")
    for cut in (1, 5, len(token) - 1):
        with pytest.raises(InvalidToken):
            signer.verify(token[:cut], domain=DOMAIN, kind="click")
    spelt = {token.replace("-", "+").replace("_", "/"), token[:-1] + chr(ord(token[-1]) ^ 1)} - {token}
    for junk in (*spelt, "", "!!!!", "é" * 10, "A" * (MAX_TOKEN_CHARS + 1), token + "A", token + "AAAA"):
        with pytest.raises(InvalidToken):
            signer.verify(junk, domain=DOMAIN, kind="click")


def test_a_token_answers_only_for_its_domain_and_kind():
    signer = TokenSigner(Keyring((K1,)))
    token = click(signer)
    with pytest.raises(InvalidToken):
        signer.verify(token, domain="links.other.example", kind="click")
    with pytest.raises(InvalidToken):
        signer.verify(token, domain=DOMAIN, kind="open")
    assert signer.verify(token, domain=DOMAIN.upper(), kind="click").link_index == 3  # DNS names ignore case


def test_rotation_signs_with_the_newest_key_and_still_verifies_the_older_ones():
    old = click(TokenSigner(Keyring((K1,))))
    rotated = TokenSigner(Keyring((K1, K2)))
    assert rotated.verify(old, domain=DOMAIN, kind="click").key_id == "k1"
    new = click(rotated)
    assert rotated.verify(new, domain=DOMAIN, kind="click").key_id == "k2"
    with pytest.raises(InvalidToken):  # k1 retired: its links stop working
        TokenSigner(Keyring((K2,))).verify(old, domain=DOMAIN, kind="click")
    with pytest.raises(InvalidToken):  # same key id, another secret: a forger's own key
        TokenSigner(Keyring((TrackingKey("k1", b"x" * 32),))).verify(old, domain=DOMAIN, kind="click")


@pytest.mark.parametrize(
    "raw",
    [
        "javascript:alert(1)",
        "JAVASCRIPT://%0aalert(1)",
        "data:text/html,<script>",
        "//evil.example/",
        "/relative",
        "mailto:a@b.example",
        "https://bank.example@evil.example/",
        "https://user:pw@evil.example/",
        "https://evil.example\\@bank.example/",
        "https://bücher.example/",
        "https:///nohost",
        "https://",
        "https://a.example:99999/",
        "ftp://files.example/",
        "https://a.example/" + "x" * MAX_DESTINATION,
        "https://a.example/a\x00b",
        "https://a.example/\udcff",  # an undecodable byte, as the rewriter reads it
    ],
)
def test_only_absolute_http_urls_are_destinations(raw):
    assert destination(raw) is None
    with pytest.raises(TokenValueError):
        click(TokenSigner(Keyring((K1,))), raw)


def test_destinations_are_normalised_like_a_browser_and_never_carry_a_line_break():
    assert destination(" https://A.Example/a b?q=é#frag\r\n") == "https://a.example/a%20b?q=%C3%A9#frag"
    assert destination("HTTPS://x.example/p\r\nSet-Cookie: a=b") == "https://x.example/pSet-Cookie:%20a=b"
    assert destination("http://[2001:db8::1]:8080/x") == "http://[2001:db8::1]:8080/x"
    assert destination("https://x.example/%41?a=%zz") == "https://x.example/%41?a=%zz"  # idempotent on %XX
    once = destination("https://x.example/ü ö")
    assert once is not None and destination(once) == once


def test_the_key_file_is_read_only_from_a_private_file(tmp_path):
    path = tmp_path / "keys"
    first = rotate(path)
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    second = rotate(path)
    ring = load_keyring(path)
    assert [k.key_id for k in ring.keys] == [first.key_id, second.key_id] and ring.current == second
    assert first.secret != second.secret and len(first.secret) == 32
    os.chmod(path, 0o640)
    with pytest.raises(KeyFileError, match=r"mode 0640.*chmod 600") as caught:
        load_keyring(path, "from EGRESS_TRACKING_KEYS")
    assert "EGRESS_TRACKING_KEYS" in str(caught.value) and isinstance(caught.value, ConfigError)
    with pytest.raises(KeyFileError, match="does not exist; 'egress tracking rotate-key' creates it"):
        load_keyring(tmp_path / "missing")


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("", "holds no key"),
        ("# only a comment\n", "holds no key"),
        ("k1\n", ":1: a key line is '<key id> <secret>' (1 words found)"),
        ("bad/id " + "A" * 43 + "\n", ":1: key id 'bad/id' is not 1-32"),
        ("k1 " + base64.urlsafe_b64encode(b"short").decode() + "\n", "is 5 bytes; at least 32"),
        ("k1 !!!!\n", "is not base64url"),
        ("k1 " + "A" * 43 + "\nk1 " + "B" * 43 + "\n", ":2: key id 'k1' appears twice"),
    ],
)
def test_a_malformed_key_file_names_the_line_and_never_the_secret(text, needle):
    with pytest.raises(KeyFileError) as caught:
        parse_keyring(text, "the tracking key file 'keys'")
    assert needle in str(caught.value)
    assert "A" * 20 not in str(caught.value) and "B" * 20 not in str(caught.value)


def test_a_key_file_that_is_not_text_or_too_large_is_refused(tmp_path):
    path = tmp_path / "keys"
    path.write_bytes(b"\xff\xfe")
    path.chmod(0o600)
    with pytest.raises(KeyFileError, match="not ASCII text"):
        load_keyring(path)
    path.write_bytes(b"#" * (2 << 20))
    with pytest.raises(KeyFileError, match="larger than"):
        load_keyring(path)
    with pytest.raises(KeyFileError, match="is not a regular file"):
        load_keyring(tmp_path)
    link = tmp_path / "link"
    link.symlink_to(path)
    with pytest.raises(KeyFileError, match="cannot be opened"):
        load_keyring(link)
