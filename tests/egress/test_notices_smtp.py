"""SmtpTransport against real aiosmtpd servers on 127.0.0.1 with real (trustme) TLS."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import socket
import time

import pytest

from smtp_egress.errors import ConfigError, DeliveryError
from smtp_egress.ledger import message_id
from smtp_egress.notices.maildir import MaildirOutbox
from smtp_egress.notices.transport import SmtpTransport, open_transport, parse_smtp_url

SENDER = "notices@egress.example"
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")  # implicit-TLS listener
NOW = dt.datetime(2026, 11, 26, 9, 31, tzinfo=dt.UTC)


def message(notice, to: str, workspace: str = "ws-1") -> tuple[str, bytes]:
    mid = message_id("us/add/203.0.113.7/2026-12-10", f"{workspace}/{to}")
    return mid, notice.message_bytes(
        to=to, workspace_id=workspace, message_id=mid, from_addr=f"IP notices <{SENDER}>", date=NOW
    )


def send(transport, notice, to: str, workspace: str = "ws-1") -> str:
    mid, data = message(notice, to, workspace)
    transport.send(sender=SENDER, recipient=to, message_id=mid, data=data)
    return mid


def test_starttls_auth_delivers_over_one_reused_connection(smtp_server, cafile, rendered_notice):
    server = smtp_server("starttls")
    url = server.url(user=server.user, password=server.password)
    assert "%40" in url and "%2F" in url  # the password really went through percent-encoding
    with SmtpTransport(url, cafile=cafile, timeout=10) as transport:
        assert transport.delivered("<anything>") is False
        for i in range(4):
            send(transport, rendered_notice, f"ops{i}@customer.example", f"ws-{i}")
    got = server.handler.messages
    assert [m.rcpt_tos for m in got] == [[f"ops{i}@customer.example"] for i in range(4)]
    assert all(m.tls and m.auth_login == server.user.encode() and m.mail_from == SENDER for m in got)
    assert server.handler.connections == 1 and transport.connections == 1


def test_utf8_password_is_sent_as_utf8_plain(smtp_server, cafile, rendered_notice):
    server = smtp_server("starttls")
    with SmtpTransport(server.url(user=server.user, password=server.utf8_password), cafile=cafile) as transport:
        send(transport, rendered_notice, "ops@customer.example")
    assert len(server.handler.messages) == 1


def test_wrong_password_is_permanent_and_never_echoed(smtp_server, cafile, rendered_notice):
    server = smtp_server("starttls")
    transport = SmtpTransport(server.url(user=server.user, password="Wr0ng-s3cret"), cafile=cafile)
    with pytest.raises(DeliveryError) as err:
        send(transport, rendered_notice, "ops@customer.example")
    assert err.value.permanent and "535" in str(err.value) and "Wr0ng-s3cret" not in str(err.value)
    assert "Wr0ng-s3cret" not in repr(transport.settings)
    assert server.handler.messages == []


def test_implicit_tls_with_smtps(smtp_server, cafile, rendered_notice):
    server = smtp_server("implicit")
    with SmtpTransport(server.url("smtps", user=server.user, password=server.password), cafile=cafile) as transport:
        for i in range(3):
            send(transport, rendered_notice, f"ops{i}@customer.example")
    assert len(server.handler.messages) == 3 and server.handler.connections == 1
    assert {m.auth_login for m in server.handler.messages} == {server.user.encode()}


def test_plain_server_with_tls_required_is_refused_naming_host_port(smtp_server, rendered_notice):
    server = smtp_server("plain")
    transport = SmtpTransport(server.url(query="tls=required"))
    with pytest.raises(DeliveryError) as err:
        send(transport, rendered_notice, "ops@customer.example")
    assert err.value.permanent and server.where in str(err.value) and "STARTTLS" in str(err.value)
    assert server.handler.messages == []


def test_plain_server_without_credentials_delivers_in_clear(smtp_server, rendered_notice):
    server = smtp_server("plain")
    with SmtpTransport(server.url()) as transport:
        send(transport, rendered_notice, "ops@customer.example")
    (got,) = server.handler.messages
    assert got.tls is False and got.auth_login is None


def test_plain_server_with_credentials_never_sends_them_in_clear(smtp_server, rendered_notice):
    server = smtp_server("plain")
    transport = SmtpTransport(server.url(user=server.user, password=server.password))
    with pytest.raises(DeliveryError) as err:
        send(transport, rendered_notice, "ops@customer.example")
    assert err.value.permanent and "clear" in str(err.value) and server.password not in str(err.value)
    assert server.handler.auth_attempts == [] and server.handler.messages == []


@pytest.mark.parametrize("kind,scheme", [("starttls", "smtp"), ("implicit", "smtps")])
def test_untrusted_certificate_is_permanent_and_explained(smtp_server, rendered_notice, kind, scheme):
    server = smtp_server(kind)
    transport = SmtpTransport(server.url(scheme, user=server.user, password=server.password))  # no cafile
    with pytest.raises(DeliveryError) as err:
        send(transport, rendered_notice, "ops@customer.example")
    text = str(err.value)
    assert err.value.permanent and "certificate" in text and "not trusted" in text
    assert "EGRESS_SMTP_CAFILE" in text and server.where in text
    assert server.handler.auth_attempts == [] and server.handler.messages == []


def test_smtps_against_a_starttls_port_is_explained(smtp_server, cafile, rendered_notice):
    server = smtp_server("starttls")
    transport = SmtpTransport(server.url("smtps"), cafile=cafile, timeout=5)
    with pytest.raises(DeliveryError) as err:
        send(transport, rendered_notice, "ops@customer.example")
    assert err.value.permanent and "wrong version number" in str(err.value)
    assert "use smtps://" in str(err.value) and "use smtp://" in str(err.value)


def test_smtp_against_an_implicit_tls_port_is_explained(smtp_server, cafile, rendered_notice):
    server = smtp_server("implicit")
    transport = SmtpTransport(server.url(), cafile=cafile, timeout=0.5)
    with pytest.raises(DeliveryError) as err:
        send(transport, rendered_notice, "ops@customer.example")
    assert "no SMTP greeting" in str(err.value) and "use smtps://" in str(err.value)


@pytest.mark.parametrize("local,permanent", [("reject550", True), ("defer451", False)])
def test_recipient_refusals_map_to_permanent_or_transient(smtp_server, cafile, rendered_notice, local, permanent):
    server = smtp_server("starttls")
    with SmtpTransport(server.url(user=server.user, password=server.password), cafile=cafile) as transport:
        with pytest.raises(DeliveryError) as err:
            send(transport, rendered_notice, f"{local}@customer.example")
        assert err.value.permanent is permanent
        assert f"{local}@customer.example" in str(err.value) and local[-3:] in str(err.value)
        send(transport, rendered_notice, "ops@customer.example")  # the connection is still usable
    assert [m.rcpt_tos for m in server.handler.messages] == [["ops@customer.example"]]
    assert transport.connections == 1


def test_reconnects_once_when_the_server_closed_an_idle_connection(smtp_server, cafile, rendered_notice):
    server = smtp_server("starttls", timeout=0.3)  # aiosmtpd drops connections idle for 0.3 s
    with SmtpTransport(server.url(user=server.user, password=server.password), cafile=cafile) as transport:
        send(transport, rendered_notice, "ops1@customer.example")
        time.sleep(0.8)
        send(transport, rendered_notice, "ops2@customer.example")
    assert len(server.handler.messages) == 2
    assert server.handler.connections == 2 and transport.connections == 2


def test_connection_refused_is_transient(rendered_notice):
    with socket.socket() as s:  # a port that nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    transport = SmtpTransport(f"smtp://127.0.0.1:{port}", timeout=5)
    with pytest.raises(DeliveryError) as err:
        send(transport, rendered_notice, "ops@customer.example")
    assert not err.value.permanent and f"127.0.0.1:{port}" in str(err.value)


def test_envelope_with_line_breaks_is_refused_before_connecting(rendered_notice):
    transport = SmtpTransport("smtp://127.0.0.1:9")
    with pytest.raises(DeliveryError) as err:
        transport.send(sender=SENDER, recipient="a@b\r\nRCPT TO:<x@y>", message_id="<m@x>", data=b"x")
    assert err.value.permanent and transport.connections == 0


def test_received_message_parses_as_the_notice(smtp_server, cafile, rendered_notice):
    server = smtp_server("starttls")
    with SmtpTransport(server.url(user=server.user, password=server.password), cafile=cafile) as transport:
        mid = send(transport, rendered_notice, "ops@customer.example", "ws-42")
    (got,) = server.handler.messages
    msg = email.message_from_bytes(got.content, policy=email.policy.default)
    assert msg["Message-ID"] == mid and msg["To"] == "ops@customer.example"
    assert msg["X-Egress-Workspace"] == "ws-42" and msg["X-Egress-Change"] == "us/add/203.0.113.7/2026-12-10"
    assert msg["Auto-Submitted"] == "auto-generated" and msg["Subject"] == rendered_notice.subject
    assert msg.get_content_type() == "multipart/mixed"
    alternative, calendar = msg.get_payload()
    assert alternative.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in alternative.get_payload()] == ["text/plain", "text/html"]
    assert calendar.get_content_type() == "text/calendar" and calendar.get_param("method") == "PUBLISH"
    assert msg.get_body(("plain",)).get_content().replace("\r\n", "\n") == rendered_notice.text
    assert "BEGIN:VEVENT" in calendar.get_content()


def test_urls_are_parsed_and_percent_decoded():
    s = parse_smtp_url("smtp://us%40er:p%40ss%3Aw@mail.example.com")
    assert (s.host, s.port, s.username, s.password, s.implicit_tls, s.tls_required) == (
        "mail.example.com",
        587,
        "us@er",
        "p@ss:w",
        False,
        False,
    )
    s = parse_smtp_url("smtps://mail.example.com")
    assert (s.port, s.implicit_tls, s.username) == (465, True, None)
    assert parse_smtp_url("smtp://mail.example.com:2525?tls=required").tls_required
    assert "p@ss" not in repr(parse_smtp_url("smtp://u:p%40ss@h"))


@pytest.mark.parametrize(
    "url,why",
    [
        ("http://u:s3cr3t@mail.example.com", "scheme"),
        ("smtp://u:s3cr3t@mail.example.com:99999", "port"),
        ("smtp://u:s3cr3t@mail.example.com:abc", "port"),
        ("smtp://u:s3cr3t@mail.example.com?tls=maybe", "query"),
        ("smtp://u:s3cr3t@mail.example.com?verify=no", "query"),
        ("smtp://u:s3cr3t@", "host"),
        ("smtp://u:s3/cr3t@mail.example.com:587", "an unencoded / in the password"),
        ("smtp://u:s3#cr3t@mail.example.com:587", "an unencoded # in the password"),
        ("smtp://u:s3?cr3t@mail.example.com:587", "an unencoded ? in the password"),
        ("smtp://u:s3cr3t@[mail.example.com:587", "a bracket"),
        ("smtp://u:s3cr3t@mail.example.com?password=s3cr3t", "a credential in the query"),
    ],
)
def test_invalid_urls_are_config_errors_with_the_password_masked(url, why):
    with pytest.raises(ConfigError) as err:
        SmtpTransport(url)
    said = str(err.value)
    assert "s3" not in said and "cr3t" not in said and "***@" in said


def test_unreadable_cafile_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match=r"missing\.pem' is not a readable PEM CA certificate"):
        SmtpTransport("smtp://mail.example.com", cafile=str(tmp_path / "missing.pem"))


def test_open_transport_picks_smtp_or_maildir(tmp_path, cafile):
    assert isinstance(open_transport("smtp://mail.example.com", str(tmp_path / "out"), cafile), SmtpTransport)
    assert isinstance(open_transport(None, str(tmp_path / "out")), MaildirOutbox)
    assert isinstance(open_transport("", str(tmp_path / "out")), MaildirOutbox)


@pytest.mark.parametrize("smtputf8", [True, False])
def test_non_ascii_recipient_needs_smtputf8(smtp_server, rendered_notice, smtputf8):
    server = smtp_server("plain", enable_SMTPUTF8=smtputf8)
    with SmtpTransport(server.url()) as transport:
        if smtputf8:
            send(transport, rendered_notice, "opérations@exemple.fr")
            assert server.handler.messages[0].rcpt_tos == ["opérations@exemple.fr"]
        else:
            with pytest.raises(DeliveryError) as err:
                send(transport, rendered_notice, "opérations@exemple.fr")
            assert err.value.permanent and "SMTPUTF8" in str(err.value)


def test_pipelining_server_gets_each_notice_intact_and_refusals_keep_the_connection_in_sync(smtp_server, cafile):
    """With PIPELINING offered, MAIL/RCPT/DATA go out in one write; refusals still map as without it."""
    import email as email_lib

    from smtp_egress.errors import DeliveryError
    from smtp_egress.notices.transport import SmtpTransport

    server = smtp_server("starttls", pipelining=True)
    body = (
        b"From: a@example.com\r\nTo: b@example.com\r\nSubject: dots\r\nMessage-ID: <m1@x>\r\n\r\n"
        b".leading dot line\r\n..two dots\r\nend\r\n"
    )
    with SmtpTransport(server.url("smtp", user=server.user, password=server.password), cafile=cafile) as t:
        assert t._connect().has_extn("pipelining")
        t.send(sender="a@example.com", recipient="ok1@example.com", message_id="<m1@x>", data=body)
        with pytest.raises(DeliveryError) as refused:
            t.send(sender="a@example.com", recipient="reject550@example.com", message_id="<m2@x>", data=body)
        assert refused.value.permanent and "550" in str(refused.value)
        with pytest.raises(DeliveryError) as deferred:
            t.send(sender="a@example.com", recipient="defer451@example.com", message_id="<m3@x>", data=body)
        assert not deferred.value.permanent
        t.send(sender="a@example.com", recipient="ok2@example.com", message_id="<m4@x>", data=body)
    got = server.handler.messages
    assert [m.rcpt_tos for m in got] == [["ok1@example.com"], ["ok2@example.com"]]
    assert server.handler.connections == 1
    for m in got:
        parsed = email_lib.message_from_bytes(m.content)
        assert parsed.get_payload() == ".leading dot line\r\n..two dots\r\nend\r\n"
