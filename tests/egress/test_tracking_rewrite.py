"""The link rewriter on real-world-like messages, each parsed back with the stdlib email package: the links it
tracks, those it leaves alone, the MIME structure and encodings it keeps, and bounded work on hostile input."""

from __future__ import annotations

import base64
import email
import email.policy
import quopri
import re
import time
from email.message import EmailMessage

import pytest

from smtp_egress.tracking.keys import Keyring, TrackingKey
from smtp_egress.tracking.rewrite import MAX_LINKS, TrackingDomainError, TrackingValueError, rewrite_links
from smtp_egress.tracking.tokens import TokenSigner

DOMAIN = "links.customer.example"
SIGNER = TokenSigner(Keyring((TrackingKey("k1", b"s" * 32),)))
CLICK = re.compile(r"https://links\.customer\.example/c/([A-Za-z0-9_-]+)")
OPEN = re.compile(r"https://links\.customer\.example/o/([A-Za-z0-9_-]+)\.gif")
PNG = bytes(range(256)) * 8
PDF = b"%PDF-1.4\n" + bytes(range(256)) * 40

HTML = """<!doctype html><html><head><style>a[href="https://style.example/"] {color: red}</style>
<script>var s = '<a href="https://script.example/">';</script></head>
<body><p>Caf\u00e9 <A HREF='https://shop.example/sale?a=1&amp;b=2'>Shop</A>,
<a class="btn" href = "https://shop.example/p/1">One</a> <a href=https://shop.example/p/2>Two</a>
<a href="mailto:help@customer.example">mail</a> <a href="#top">top</a> <a href="/relative">rel</a>
<a href="https://plain.example/x" data-no-track>not me</a> <a href="https://u.example/x">Unsubscribe</a>
<a href="https://prefs.example/" class="footer-unsubscribe">prefs</a> <a href="https://lu.example/l?id=7">list</a>
<!-- <a href="https://comment.example/">commented out</a> -->
<!--[if mso]><v:roundrect href="https://vml.example/btn" arcsize="10%"><![endif]-->
<img src="cid:logo"></p></body></html>
"""
TEXT = (
    "Caf\u00e9! Shop: https://shop.example/sale?a=1&b=2.\n"
    "Product (https://shop.example/p/1) and <https://shop.example/p/2>.\n"
    "Write to mailto:help@customer.example\n"
    "To unsubscribe, visit:\nhttps://u.example/x\n"
)
TRACKED_HTML = [
    "https://shop.example/sale?a=1&b=2",
    "https://shop.example/p/1",
    "https://shop.example/p/2",
    "https://vml.example/btn",
]
TRACKED_TEXT = ["https://shop.example/sale?a=1&b=2", "https://shop.example/p/1", "https://shop.example/p/2"]


def newsletter(html_cte: str = "quoted-printable", charset: str = "utf-8") -> bytes:
    """multipart/mixed { alternative { text/plain, related { text/html, image/png } }, a PDF, an HTML attachment }."""
    msg = EmailMessage()
    msg["From"] = "News <news@customer.example>"
    msg["To"] = "ann@d.example"
    msg["Subject"] = "Sale"
    msg["Message-ID"] = "<m1@customer.example>"
    msg["List-Unsubscribe"] = "<https://lu.example/l?id=7>, <mailto:unsub@customer.example>"
    msg.set_content(TEXT, cte="quoted-printable")
    msg.add_alternative(HTML, subtype="html", cte=html_cte, charset=charset)
    msg.get_payload()[1].add_related(PNG, "image", "png", cid="<logo>")
    msg.add_attachment(PDF, "application", "pdf", filename="terms.pdf")
    msg.add_attachment("<a href='https://attached.example/'>x</a>", subtype="html", filename="page.html")
    return msg.as_bytes(policy=email.policy.SMTP)


def rewrite(message: bytes, **kw) -> bytes:
    args = {"tracking_domain": DOMAIN, "message_id": "<m1@customer.example>", "recipient": "ann@d.example"}
    return rewrite_links(message, signer=SIGNER, **(args | kw))


def destinations(text: str) -> list[tuple[int, str]]:
    out = []
    for token in CLICK.findall(text):
        claims = SIGNER.verify(token, domain=DOMAIN, kind="click")
        assert (claims.message_id, claims.recipient) == ("<m1@customer.example>", "ann@d.example")
        out.append((claims.link_index, claims.destination))
    return out


def leaves(raw: bytes) -> list[EmailMessage]:
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    return [p for p in parsed.walk() if not p.is_multipart()]


def shape(raw: bytes) -> list[tuple]:
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    return [
        (p.get_content_type(), p.get_boundary(), p.get_content_charset(), p["Content-Transfer-Encoding"])
        for p in parsed.walk()
    ]


@pytest.mark.parametrize(
    ("cte", "charset"), [("quoted-printable", "utf-8"), ("base64", "iso-8859-1"), ("8bit", "utf-8")]
)
def test_a_newsletter_keeps_its_structure_and_tracks_exactly_its_links(cte, charset):
    original = newsletter(cte, charset)
    out = rewrite(original)
    assert shape(out) == shape(original)
    assert out.split(b"\r\n\r\n", 1)[0] == original.split(b"\r\n\r\n", 1)[0]  # the headers, byte for byte
    text, html, png, pdf, page = leaves(out)
    assert [d for _, d in destinations(text.get_content())] == TRACKED_TEXT
    assert [d for _, d in destinations(html.get_content())] == TRACKED_HTML
    assert [i for i, _ in destinations(text.get_content() + html.get_content())] == list(range(7))
    shop = r"https://shop\.example/(sale\?a=1&b=2|p/1|p/2)"
    assert CLICK.sub("URL", text.get_content()).replace("\r\n", "\n") == re.sub(shop, "URL", TEXT)
    body = html.get_content()
    for untouched in (
        "mailto:help@customer.example",
        'href="#top"',
        'href="/relative"',
        'href="https://plain.example/x" data-no-track',
        'href="https://u.example/x">Unsubscribe',
        'href="https://prefs.example/"',
        'href="https://lu.example/l?id=7"',
        '<a href="https://comment.example/">',
        'a[href="https://style.example/"]',
        '<a href="https://script.example/">',
        "Caf\u00e9",
    ):
        assert untouched in body, untouched
    (pixel,) = OPEN.findall(body)
    assert SIGNER.verify(pixel, domain=DOMAIN, kind="open").recipient == "ann@d.example"
    assert body.index(pixel) < body.index("</body>")
    assert png.get_content() == PNG and pdf.get_content() == PDF
    assert "https://attached.example/" in page.get_content() and not CLICK.search(page.get_content())
    for part in (png, pdf, page):  # untouched parts: their encoded bytes are in the output as they were
        assert part.get_payload().encode() in original
    assert html["Content-Transfer-Encoding"] == cte and html.get_content_charset() == charset


def test_a_soft_line_break_through_a_url_is_read_as_one_url_and_lines_stay_short():
    url = "https://shop.example/" + "a" * 90 + "?x=1"
    body = quopri.encodestring(f"Go to {url} now\n".encode()).replace(b"\n", b"\r\n")
    assert b"=\r\n" in body  # the soft break falls inside the URL
    raw = (
        b"From: a@customer.example\r\nTo: ann@d.example\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" + body
    )
    out = rewrite(raw)
    ((_, found),) = destinations(leaves(out)[0].get_content())
    assert found == url
    _, encoded = out.split(b"\r\n\r\n", 1)
    assert all(len(line) <= 76 for line in encoded.split(b"\r\n")) and b"\n" not in encoded.replace(b"\r\n", b"")


@pytest.mark.parametrize("cte", ["quoted-printable", "base64"])
@pytest.mark.parametrize("eol", [b"\r\n", b"\n"])
@pytest.mark.parametrize(
    "content", [b"see https://a.example/x", b"see https://a.example/x\n\n", b"\xe9 https://a.example/x"]
)
def test_a_re_encoded_body_decodes_to_the_same_content_with_its_ending(cte, eol, content):
    encoded = quopri.encodestring(content) if cte == "quoted-printable" else base64.encodebytes(content)
    if cte == "quoted-printable" and not content.endswith(b"\n"):
        encoded += b"=\n"  # a soft line break at the very end, as some generators write it
    head = f"Content-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: {cte}\n\n".encode()
    raw = (head + encoded).replace(b"\n", eol)
    out = rewrite(raw)
    body = out[len(head.replace(b"\n", eol)) :]
    assert body.endswith(eol) and (eol == b"\r\n") == (b"\r\n" in body) and b"\r" not in body.replace(b"\r\n", b"")
    decoded = quopri.decodestring(body) if cte == "quoted-printable" else base64.b64decode(body)
    assert CLICK.sub("URL", decoded.decode("latin-1").replace("\r\n", "\n")) == content.decode("latin-1").replace(
        "https://a.example/x", "URL"
    )


def test_non_utf8_charsets_keep_their_bytes_around_the_links():
    for charset, cte, word, path, label in (
        ("iso-2022-jp", "7bit", "\u65e5\u672c\u8a9e", "\u30da\u30fc\u30b8", "\u30ea\u30f3\u30af"),
        ("shift_jis", "base64", "\u65e5\u672c\u8a9e", "\u30da\u30fc\u30b8", "\u30ea\u30f3\u30af"),
        ("euc-kr", "quoted-printable", "\ud55c\uad6d\uc5b4", "\ud398\uc774\uc9c0", "\ub9c1\ud06c"),
        ("koi8-r", "8bit", "\u0420\u0443\u0441\u0441\u043a\u0438\u0439", "\u0441\u0442\u0440", "\u0441\u0441"),
    ):
        text = f"<p>{word} <a href='https://jp.example/{path}?q=1&amp;r=2'>{label}</a></p>\n"
        msg = EmailMessage()
        msg["Subject"] = "x"
        msg.set_content(text, subtype="html", charset=charset, cte=cte)
        out = rewrite(msg.as_bytes())
        (part,) = leaves(out)
        assert (part.get_content_charset(), part["Content-Transfer-Encoding"]) == (charset, cte)
        content = part.get_content()
        without_pixel = re.sub(r'<img src="https://links\.customer\.example/o/[^>]*>', "", content)
        expected = f'<p>{word} <a href="X">{label}</a></p>'
        assert "".join(CLICK.sub("X", without_pixel).split()) == "".join(expected.split()), charset
        if cte in ("7bit", "8bit"):  # the new value on its own line: no line grows by more than the value
            assert '<a href=\n"X"\n>' in CLICK.sub("X", without_pixel)
        quoted = "".join(f"%{b:02X}" for b in path.encode())
        assert destinations(content) == [(0, f"https://jp.example/{quoted}?q=1&r=2")]
        assert len(OPEN.findall(content)) == 1


def test_parts_that_cannot_be_changed_safely_are_left_byte_identical():
    def single(ctype: str, cte: str, body: bytes) -> bytes:
        return f"Content-Type: {ctype}\nContent-Transfer-Encoding: {cte}\n\n".encode() + body

    cases = [
        single("text/plain; charset=utf-16", "base64", base64.encodebytes("https://a.example/".encode("utf-16"))),
        single("text/plain; charset=x-unknown", "7bit", b"https://a.example/\n"),
        single("text/plain; charset=unicode_escape", "7bit", b"\\u00e9 https://a.example/\n"),
        single("text/plain", "x-uuencode", b"https://a.example/\n"),
        single("text/plain", "7bit", b"no links at all\n"),
        single("message/rfc822", "7bit", b"Content-Type: text/plain\n\nhttps://a.example/\n"),
        single("text/plain", "7bit", b"x" * 980 + b" https://a.example/\n"),  # the line would pass 998
        b"Content-Type: multipart/mixed\n\n--x\n\nhttps://a.example/\n--x--\n",  # no boundary parameter
    ]
    for raw in cases:
        assert rewrite(raw) == raw, raw[:60]


def test_a_plain_message_with_lf_line_endings_stays_lf():
    raw = b"Subject: x\nContent-Type: text/plain\n\nSee https://a.example/p\nbye\n"
    out = rewrite(raw)
    assert b"\r" not in out and out.startswith(b"Subject: x\nContent-Type: text/plain\n\nSee https://links.")
    assert out.endswith(b"\nbye\n") and destinations(out.decode()) == [(0, "https://a.example/p")]


def test_links_past_the_limit_and_hostile_markup_are_left_alone_quickly():
    many = "".join(f'<a href="https://a.example/{i}">x</a>' for i in range(MAX_LINKS + 5))
    out = rewrite(b"Content-Type: text/html\n\n" + many.encode()).decode()
    assert len(CLICK.findall(out)) == MAX_LINKS and 'href="https://a.example/504"' in out
    hostile = [
        "<a " * 200_000,  # tags that never end
        '<a x="' * 200_000,  # quotes that never close
        "<a" + " " * 500_000 + '"',
        "<!--" * 200_000,
        "<script>" * 100_000,
        "https://a" * 100_000,
        "<a href='https://a.example/'>" + "x" * 1_000_000,
    ]
    for markup in hostile:
        for ctype in ("text/html", "text/plain"):
            started = time.monotonic()
            rewrite(f"Content-Type: {ctype}\n\n".encode() + markup.encode())
            assert time.monotonic() - started < 5, (ctype, markup[:20])


def test_deep_or_wide_mime_is_bounded_and_untouched_past_the_limits():
    deep = b"Content-Type: text/plain\n\nhttps://a.example/\n"
    for level in range(100):  # deeper than Limits.depth, fewer entities than Limits.parts
        deep = (
            f"Content-Type: multipart/mixed; boundary=b{level}\n\n--b{level}\n".encode()
            + deep
            + f"\n--b{level}--\n".encode()
        )
    started = time.monotonic()
    assert rewrite(deep) == deep  # the only text part is 100 levels down
    shallow = deep[deep.index(b"--b11\n") + 6 : deep.index(b"\n--b11--")]  # 11 levels: within the limit
    assert len(CLICK.findall(rewrite(shallow).decode())) == 1
    wide = (
        b"Content-Type: multipart/mixed; boundary=w\n\n"
        + b"".join(b"--w\nContent-Type: text/plain\n\nhttps://a.example/\n" for _ in range(20_000))
        + b"--w--\n"
    )
    out = rewrite(wide)
    assert 0 < len(CLICK.findall(out.decode())) < 250
    assert time.monotonic() - started < 10
    huge = b"Content-Type: text/plain\n\nhttps://a.example/ " + b"x" * (41 << 20)
    assert rewrite(huge) is huge


def test_a_tracking_domain_that_is_not_a_host_name_is_refused():
    for bad in ("", "Links.Example", "links.example/evil", "links.example:443", "a", "-a.example", "x" * 300 + ".com"):
        with pytest.raises(TrackingDomainError):
            rewrite(b"Content-Type: text/plain\n\nhttps://a.example/\n", tracking_domain=bad)


def test_a_message_id_or_recipient_the_ledger_cannot_keep_is_refused():
    for bad in ({"message_id": ""}, {"message_id": "m" * 501}, {"recipient": ""}, {"recipient": "r" * 321}):
        with pytest.raises(TrackingValueError):
            rewrite(b"Content-Type: text/plain\n\nhttps://a.example/\n", **bad)
    assert CLICK.search(rewrite(b"Content-Type: text/plain\n\nhttps://a.example/\n", message_id="m" * 500).decode())


def test_damaged_messages_never_raise_and_keep_their_structure():
    import random

    rng = random.Random(20261130)
    original = newsletter()
    changed = 0
    for _ in range(120):
        data = bytearray(original)
        for _ in range(rng.randint(1, 8)):
            at = rng.randrange(len(data))
            action = rng.choice(("flip", "cut", "insert"))
            if action == "flip":
                data[at] = rng.randrange(256)
            elif action == "cut":
                del data[at : at + rng.randint(1, 200)]
            else:
                data[at:at] = rng.choice([b"<a href=", b"\r\n--", b"=\r\n", b'"', b"\r\n\r\n", b"https://x.example/"])
        out = rewrite(bytes(data))
        changed += out != data
        assert shape(out) == shape(bytes(data))
    assert changed > 80
