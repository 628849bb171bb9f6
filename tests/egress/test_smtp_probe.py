"""``egress smtp test``'s probe against real aiosmtpd servers with real TLS (trustme) on loopback: every step, the
failure of each, what it says to change, and the destination guard before any connection."""

from __future__ import annotations

import socket
import ssl

import pytest
import trustme

from smtp_egress.smtp.model import Secret, SmtpServer
from smtp_egress.smtp.probe import REFUSED, STEPS, probe

PW = "p@ss:w/rd%+#?&"  # the conftest servers' password


def target(
    port: int,
    security: str = "starttls",
    *,
    host: str = "127.0.0.1",
    user: str | None = "notices@example.com",
    password: str | None = PW,
    certificate: str = "verify",
) -> SmtpServer:
    secret = Secret(password) if password is not None else None
    return SmtpServer("ws-1", f"{host}:{port}", host, port, security, user if password else None, secret, certificate)


def run(server: SmtpServer, cafile: str, **kw):
    return probe(server, allow_private=True, ca_file=cafile, timeout=kw.pop("timeout", 5), **kw)


def names(result) -> list[tuple[str, bool | None]]:
    return [(s.name, s.passed) for s in result.steps]


def test_starttls_with_auth_walks_every_step_and_sends_nothing(smtp_server, cafile):
    server = smtp_server("starttls")
    result = run(target(server.port), cafile, mail_from="probe@example.com")
    assert result.ok, result.steps
    assert [s.name for s in result.steps] == list(STEPS) and all(s.passed for s in result.steps)
    assert "verified for 127.0.0.1" in result.steps[5].detail and "TLSv1." in result.steps[4].detail
    assert server.handler.messages == []  # no DATA
    assert PW not in repr(result)


def test_implicit_tls_with_auth(smtp_server, cafile):
    server = smtp_server("implicit")
    result = run(target(server.port, "implicit-tls"), cafile)
    assert result.ok, result.steps
    assert [s.name for s in result.steps] == ["DNS", "TCP", "TLS", "certificate", "banner", "EHLO", "AUTH", "MAIL FROM"]


def test_without_auth_the_step_is_skipped(smtp_server, cafile):
    server = smtp_server("plain")  # no STARTTLS offered
    result = run(target(server.port, password=None), cafile)
    assert names(result)[-1] == ("TLS", False)
    assert "does not offer STARTTLS" in result.failed.detail and "465" in result.failed.advice


def test_a_bad_password_fails_auth_and_is_never_shown(smtp_server, cafile):
    server = smtp_server("starttls")
    wrong = "Zq8W-wrong/pw"
    result = run(target(server.port, password=wrong), cafile)
    assert names(result)[-1] == ("AUTH", False)
    assert result.failed.detail.startswith("535") and "user name and the password" in result.failed.advice
    assert "Zq8W" not in repr(result)


def test_starttls_settings_against_implicit_tls_explain_the_symptom(smtp_server, cafile):
    server = smtp_server("implicit")
    result = run(target(server.port, "starttls"), cafile, timeout=1)
    assert names(result)[-1] == ("banner", False)
    assert "implicit-tls" in result.failed.advice and "wrong version number" in result.failed.advice


def test_implicit_tls_settings_against_starttls_say_wrong_version_number(smtp_server, cafile):
    server = smtp_server("starttls")
    result = run(target(server.port, "implicit-tls"), cafile)
    assert names(result)[-1] == ("TLS", False)
    assert "WRONG_VERSION_NUMBER" in result.failed.detail or "wrong version number" in result.failed.detail
    assert "use --security starttls" in result.failed.advice


@pytest.fixture
def tls_server():
    """An aiosmtpd STARTTLS server presenting the certificate given."""
    from aiosmtpd.controller import Controller

    started = []

    def start(cert: trustme.LeafCert):
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(ctx)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]

        class Handler:
            pass

        controller = Controller(Handler(), hostname="127.0.0.1", port=port, tls_context=ctx, require_starttls=True)
        controller.start()
        started.append(controller)
        return port

    yield start
    for controller in started:
        controller.stop()


def fingerprint_of(cert: trustme.LeafCert) -> str:
    import hashlib

    der = ssl.PEM_cert_to_DER_cert(cert.cert_chain_pems[0].bytes().decode())
    return hashlib.sha256(der).hexdigest()


def test_a_certificate_for_another_name_fails_verification(tls_server, ca, cafile):
    port = tls_server(ca.issue_cert("wrong.example"))
    result = run(target(port, password=None), cafile)
    assert names(result)[-1] == ("certificate", False)
    assert "mismatch" in result.failed.detail.lower() or "match" in result.failed.detail.lower()
    assert "skip" not in (result.failed.detail + result.failed.advice).lower()


def test_a_self_signed_certificate_is_answered_with_its_fingerprint_to_pin(tls_server, cafile):
    cert = trustme.CA().issue_cert("127.0.0.1")  # an issuer nobody trusts
    port = tls_server(cert)
    result = run(target(port, password=None), cafile)
    assert names(result)[-1] == ("certificate", False)
    assert result.fingerprint == fingerprint_of(cert)
    assert "--certificate fingerprint:<sha256>" in result.failed.advice and "skip" not in result.failed.advice
    pinned = run(target(port, password=None, certificate=f"fingerprint:{fingerprint_of(cert)}"), cafile)
    assert pinned.ok, pinned.steps
    assert "matches the pinned fingerprint" in pinned.steps[5].detail
    other = run(target(port, password=None, certificate="fingerprint:" + "0" * 64), cafile)
    assert names(other)[-1] == ("certificate", False) and fingerprint_of(cert) in other.failed.detail


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "localhost", "::ffff:127.0.0.1", "169.254.169.254", "10.0.0.1", "100.64.0.1", "::1", "0.0.0.0"],
)
def test_a_refused_destination_gets_one_fixed_answer_and_no_connection(host):
    family = socket.AF_INET6 if host == "::1" else socket.AF_INET
    listener = socket.socket(family)
    listener.bind(("::1" if host == "::1" else "127.0.0.1", 0))
    listener.listen(5)
    listener.setblocking(False)
    port = listener.getsockname()[1]
    try:
        result = probe(target(port, host=host), timeout=2)
        assert names(result) == [("DNS", False)] and result.failed.detail == REFUSED
        with pytest.raises(BlockingIOError):
            listener.accept()  # nothing ever connected
    finally:
        listener.close()


def test_an_unresolvable_name_fails_at_dns():
    result = probe(target(587, host="no-such-host.invalid"), timeout=2)
    assert names(result) == [("DNS", False)] and "does not resolve" in result.failed.detail


def test_a_closed_port_fails_at_tcp():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = probe(target(port), allow_private=True, timeout=2)
    assert names(result)[-1] == ("TCP", False) and "firewall" in result.failed.advice


def test_a_server_quoting_the_password_back_is_masked(server_tls, cafile):
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    def echo(server, session, envelope, mechanism, auth_data):
        return AuthResult(success=False, handled=False, message=f"535 5.7.8 bad password {auth_data.password.decode()}")

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    controller = Controller(
        object(), hostname="127.0.0.1", port=port, tls_context=server_tls, require_starttls=True, authenticator=echo
    )
    controller.start()
    try:
        result = run(target(port, password="Zq8E-echoed/pw"), cafile)
    finally:
        controller.stop()
    assert names(result)[-1] == ("AUTH", False) and "bad password ***" in result.failed.detail
    assert "Zq8E" not in repr(result)


def test_a_password_beyond_ascii_is_a_step_failure_not_a_crash(smtp_server, cafile):
    server = smtp_server("starttls")
    result = run(target(server.port, password="pässwörd€"), cafile)
    assert names(result)[-1] == ("AUTH", False) and "pässwörd" not in repr(result)
