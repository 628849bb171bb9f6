"""TLS as each server's settings ask: implicit TLS, STARTTLS with AUTH, no STARTTLS, pinning, certificates
verified by host name (SNI) or by fingerprint. Real aiosmtpd servers with trustme certificates."""

from __future__ import annotations

import hashlib
import socket
import ssl
import threading

import pytest
import trustme

from .helpers import MESSAGE, PASSWORD, USER, deliver, envelope, kinds, run, server

# aiosmtpd warns about its implicit-TLS listener, which it does not know is TLS (tests/egress/delivery/conftest.py)
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")


def test_implicit_tls_465_delivers_with_sni_and_auth(sink, cafile) -> None:
    s = sink("implicit")
    d = deliver(cafile, server(s.port, "implicit-tls", host="localhost"))
    assert kinds(d) == [("rcpt@example.com", "delivered", 250)]
    assert d.outcomes[0].reply == "2.0.0 queued as 42" and d.peer == "127.0.0.1" and d.sent == MESSAGE
    assert s.sni == ["localhost"]  # SNI is the host name although the connection went to an address
    assert [(m.mail_from, m.rcpt_tos, m.content, m.login) for m in s.handler.messages] == [
        (USER, ["rcpt@example.com"], MESSAGE, USER.encode())
    ]


@pytest.mark.parametrize("mechanisms", [None, ["LOGIN"]])
def test_starttls_587_and_2525_deliver_after_tls_with_auth(sink, cafile, mechanisms) -> None:
    s = sink("starttls", **({"auth_exclude_mechanism": ["PLAIN"]} if mechanisms else {}))
    seen = []
    d = deliver(cafile, server(s.port, host="localhost"), on_tls_seen=seen.append)
    assert kinds(d) == [("rcpt@example.com", "delivered", 250)]
    assert s.sni == ["localhost"] and s.handler.logins == [(USER.encode(), PASSWORD.encode())]
    assert [x.host for x in seen] == ["localhost"]  # the caller records the pin


def test_no_starttls_when_required_defers_and_sends_nothing(sink, cafile) -> None:
    s = sink("optional")
    s.handler.offer_starttls = False
    d = deliver(cafile, server(s.port, auth=False))
    assert kinds(d) == [("rcpt@example.com", "deferred", None)]
    assert "does not offer STARTTLS and TLS is required" in d.outcomes[0].reply
    assert s.handler.messages == []


def test_no_starttls_is_refused_once_pinned_and_allowed_only_unpinned_when_not_required(sink, cafile) -> None:
    s = sink("optional")
    s.handler.offer_starttls = False
    plain = deliver(cafile, server(s.port, auth=False, require_tls=False))
    assert kinds(plain) == [("rcpt@example.com", "delivered", 250)]
    pinned = deliver(cafile, server(s.port, auth=False, require_tls=False, tls_pinned=True))
    assert kinds(pinned) == [("rcpt@example.com", "deferred", None)]
    assert "seen with TLS before" in pinned.outcomes[0].reply and len(s.handler.messages) == 1


def test_a_server_seen_with_tls_in_this_process_is_pinned_at_once(sink, cafile) -> None:
    from smtp_egress.delivery import Deliverer

    s = sink("optional")
    srv = server(s.port, auth=False, require_tls=False)

    async def go():
        d = Deliverer(allow_private=True, ca_file=cafile, timeout=10)
        first = await d.deliver(srv, envelope(), MESSAGE)
        await d.aclose()  # no pooled session: the next message opens a new one
        s.handler.offer_starttls = False  # STARTTLS stripped from now on
        second = await d.deliver(srv, envelope(), MESSAGE)
        await d.aclose()
        return first, second

    first, second = run(go())
    assert kinds(first)[0][1] == "delivered" and kinds(second)[0][1] == "deferred"
    assert "no silent downgrade" in second.outcomes[0].reply and len(s.handler.messages) == 1


def test_credentials_are_never_sent_without_tls(sink, cafile) -> None:
    s = sink("optional")
    s.handler.offer_starttls = False
    d = deliver(cafile, server(s.port, require_tls=False))
    assert kinds(d) == [("rcpt@example.com", "deferred", None)]
    assert "never sent in plaintext" in d.outcomes[0].reply and s.handler.logins == []


@pytest.mark.parametrize("security", ["starttls", "implicit-tls"])
def test_a_certificate_for_another_name_is_refused(sink, cafile, security) -> None:
    s = sink("starttls" if security == "starttls" else "implicit", names=("mail.other.example",))
    d = deliver(cafile, server(s.port, security))
    assert kinds(d) == [("rcpt@example.com", "deferred", None)]
    assert "certificate did not verify" in d.outcomes[0].reply and "mismatch" in d.outcomes[0].reply
    assert s.handler.logins == [] and s.handler.messages == []


def test_a_certificate_from_an_unknown_ca_is_refused(sink, cafile) -> None:
    s = sink("starttls", cert_ca=trustme.CA())
    d = deliver(cafile, server(s.port))
    assert kinds(d) == [("rcpt@example.com", "deferred", None)]
    assert "unable to get local issuer certificate" in d.outcomes[0].reply
    assert s.handler.logins == [] and s.handler.messages == []


def _fingerprint(port: int) -> str:
    der = ssl.PEM_cert_to_DER_cert(ssl.get_server_certificate(("127.0.0.1", port)))
    return hashlib.sha256(der).hexdigest()


@pytest.mark.parametrize("security", ["starttls", "implicit-tls"])
def test_a_self_signed_server_pinned_by_fingerprint(sink, cafile, security) -> None:
    s = sink("starttls" if security == "starttls" else "implicit", cert_ca=trustme.CA(), names=("self.invalid",))
    fingerprint = _starttls_fingerprint(s.port) if security == "starttls" else _fingerprint(s.port)
    good = deliver(cafile, server(s.port, security, certificate=f"fingerprint:{fingerprint.upper()}"))
    assert kinds(good) == [("rcpt@example.com", "delivered", 250)]
    wrong = "0" * 64
    bad = deliver(cafile, server(s.port, security, certificate=f"fingerprint:{wrong}"))
    assert kinds(bad) == [("rcpt@example.com", "deferred", None)]
    assert f"SHA-256 fingerprint {fingerprint}, not the pinned {wrong}" in bad.outcomes[0].reply
    assert len(s.handler.logins) == 1 and len(s.handler.messages) == 1  # nothing sent on the mismatch


def _starttls_fingerprint(port: int) -> str:
    import smtplib

    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        ctx = ssl.create_default_context()
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        smtp.starttls(context=ctx)
        assert smtp.sock is not None
        der = smtp.sock.getpeercert(binary_form=True)  # type: ignore[attr-defined]
    return hashlib.sha256(der).hexdigest()


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1:DeprecationWarning")
def test_a_server_without_tls_1_2_is_refused(ca, cafile) -> None:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(ctx)
    ctx.minimum_version, ctx.maximum_version = ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1  # an outdated server
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    handshakes: list[str] = []
    with socket.create_server(("127.0.0.1", 0)) as listener:

        def serve() -> None:
            conn, _ = listener.accept()
            try:
                with ctx.wrap_socket(conn, server_side=True) as tls:
                    handshakes.append(str(tls.version()))
                    tls.sendall(b"220 old ESMTP\r\n")
            except (ssl.SSLError, OSError):
                handshakes.append("failed")

        thread = threading.Thread(target=serve)
        thread.start()
        d = deliver(cafile, server(listener.getsockname()[1], "implicit-tls"))
        thread.join(10)
    assert kinds(d) == [("rcpt@example.com", "deferred", None)] and "TLS handshake failed" in d.outcomes[0].reply
    assert handshakes == ["failed"]


def test_implicit_tls_to_a_starttls_port_says_what_wrong_version_number_means(sink, cafile) -> None:
    s = sink("starttls")
    d = deliver(cafile, server(s.port, "implicit-tls"))
    assert kinds(d) == [("rcpt@example.com", "deferred", None)]
    assert "WRONG_VERSION_NUMBER" in d.outcomes[0].reply and "587 and 2525 use STARTTLS" in d.outcomes[0].reply
