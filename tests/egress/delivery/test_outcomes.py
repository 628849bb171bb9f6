"""One outcome per recipient: RCPT refusals per recipient, DATA and final-dot replies for all accepted ones,
connection trouble deferred (a connection lost after the final dot: "may have been accepted"), policy failed."""

from __future__ import annotations

import base64
import logging

from smtp_egress.delivery import MAYBE_ACCEPTED, Deliverer

from .conftest import ehlo_reply
from .helpers import MESSAGE, PASSWORD, deliver, envelope, kinds, run, server


def test_rcpt_replies_are_per_recipient_and_the_final_reply_covers_the_accepted(sink, cafile) -> None:
    s = sink("starttls", pipelining=True)
    env = envelope("ok@example.com", "busy451@example.com", "gone550@example.com")
    d = deliver(cafile, server(s.port), env)
    assert kinds(d) == [
        ("ok@example.com", "delivered", 250),
        ("busy451@example.com", "deferred", 451),
        ("gone550@example.com", "failed", 550),
    ]
    assert d.outcomes[2].reply == "5.0.0 answered 550 by design"
    assert [m.rcpt_tos for m in s.handler.messages] == [["ok@example.com"]]


def test_a_421_closes_the_session_so_every_recipient_is_deferred(sink, cafile) -> None:
    s = sink("starttls", pipelining=True)
    d = deliver(cafile, server(s.port), envelope("ok@example.com", "shut421@example.com"))
    assert kinds(d) == [("ok@example.com", "deferred", 421), ("shut421@example.com", "deferred", 421)]
    assert "421 4.0.0 answered 421 by design" in d.outcomes[0].reply
    assert s.handler.messages == [] and len(s.handler.peers) == 2  # tried once more on a fresh session


def test_without_pipelining_the_same_outcomes(sink, cafile) -> None:
    s = sink("starttls")
    d = deliver(cafile, server(s.port), envelope("gone550@example.com", "ok@example.com"))
    assert kinds(d) == [("gone550@example.com", "failed", 550), ("ok@example.com", "delivered", 250)]


def test_every_recipient_refused_sends_no_content(sink, cafile) -> None:
    s = sink("starttls", pipelining=True)
    d = deliver(cafile, server(s.port), envelope("a550@example.com", "b451@example.com"))
    assert kinds(d) == [("a550@example.com", "failed", 550), ("b451@example.com", "deferred", 451)]
    assert s.handler.messages == []


def test_the_final_reply_applies_to_every_accepted_recipient(sink, cafile) -> None:
    for reply, kind in (("451 4.3.0 disk full", "deferred"), ("554 5.6.0 content refused", "failed")):
        s = sink("starttls")
        s.handler.data_reply = reply
        d = deliver(cafile, server(s.port), envelope("a@example.com", "b@example.com", "c550@example.com"))
        code = int(reply[:3])
        assert kinds(d) == [
            ("a@example.com", kind, code),
            ("b@example.com", kind, code),
            ("c550@example.com", "failed", 550),
        ]
        assert d.outcomes[0].reply == reply[4:]


def _script(drop_on: str | None = None, first_only: bool = True, rcpt: bytes = b"250 ok\r\n"):
    def answer(conn: int, line: str) -> bytes | None:
        verb = line.split(":")[0].split(" ")[0].upper()
        if verb == drop_on and (conn == 1 or not first_only):
            return None
        return {
            "EHLO": ehlo_reply("PIPELINING", "8BITMIME"),
            "MAIL": b"250 ok\r\n",
            "RCPT": rcpt,
            "DATA": b"354 go\r\n",
            "RSET": b"250 ok\r\n",
            "QUIT": b"221 bye\r\n",
        }.get(verb, b"502 no\r\n")

    return answer


def _run(port: int, cafile: str, message: bytes = MESSAGE, **kw):
    async def go():
        d = Deliverer(allow_private=True, ca_file=cafile, timeout=5, **kw)
        try:
            return await d.deliver(server(port, "implicit-tls", auth=False), envelope(), message)
        finally:
            await d.aclose()

    return go()


def test_a_connection_dropped_mid_data_is_deferred_as_maybe_accepted_and_not_resent(scripted, cafile) -> None:
    big = MESSAGE + (b"y" * 998 + b"\r\n") * 2000  # far more than the server reads before dropping

    async def go():
        async with scripted(_script(), drop_after=1000) as srv:
            return await _run(srv.port, cafile, big), srv

    d, srv = run(go())
    assert kinds(d) == [("rcpt@example.com", "deferred", None)]
    assert MAYBE_ACCEPTED in d.outcomes[0].reply
    assert srv.connections == 1 and [v for _, v in srv.lines if v == "DATA"] == ["DATA"]


def test_a_connection_lost_after_the_final_dot_is_deferred_as_maybe_accepted(scripted, cafile) -> None:
    async def go():
        async with scripted(_script(), drop_after=1) as srv:  # reads the whole small message, then drops
            return await _run(srv.port, cafile), srv

    d, srv = run(go())
    assert kinds(d) == [("rcpt@example.com", "deferred", None)] and MAYBE_ACCEPTED in d.outcomes[0].reply
    assert srv.connections == 1


def test_a_connection_lost_before_data_is_tried_once_more_on_a_fresh_one(scripted, cafile) -> None:
    async def go(first_only: bool):
        async with scripted(_script("DATA", first_only)) as srv:
            return await _run(srv.port, cafile), srv

    d, srv = run(go(first_only=True))
    assert kinds(d) == [("rcpt@example.com", "delivered", 250)] and srv.connections == 2
    assert len(srv.contents) == 1
    d, srv = run(go(first_only=False))  # lost again: deferred, not tried a third time
    assert kinds(d) == [("rcpt@example.com", "deferred", None)] and srv.connections == 2
    assert "the server closed the connection" in d.outcomes[0].reply and "may have" not in d.outcomes[0].reply


def test_pipelined_envelope_goes_out_in_one_write(scripted, cafile) -> None:
    async def go():
        async with scripted(_script()) as srv:
            return await _run(srv.port, cafile), srv

    d, srv = run(go())
    assert kinds(d)[0][1] == "delivered"
    assert b"MAIL FROM:<sender@customer.example>\r\nRCPT TO:<rcpt@example.com>\r\nDATA\r\n" in srv.reads
    assert srv.lines[1:4] == [
        (1, "MAIL FROM:<sender@customer.example>"),
        (1, "RCPT TO:<rcpt@example.com>"),
        (1, "DATA"),
    ]


def test_a_bare_lf_in_the_header_is_refused_before_any_connection(sink, cafile) -> None:
    s = sink("starttls")
    d = deliver(cafile, server(s.port), message=b"Subject: x\r\nBcc: evil@x\n\r\nbody\r\n")
    assert kinds(d) == [("rcpt@example.com", "failed", None)]
    assert d.outcomes[0].reply.startswith("policy: ") and "bare LF" in d.outcomes[0].reply
    assert d.sent == b"" and s.handler.peers == set()


def test_dots_and_smuggling_attempts_arrive_as_one_message_exactly_as_sent(sink, cafile) -> None:
    s = sink("starttls", pipelining=True)
    message = b"Subject: s\r\n\r\n.leading dot\r\nx\n.\r\nMAIL FROM:<evil@x>\r\nRCPT TO:<victim@y>\r\nDATA\r\n\r\n.\r\n"
    d = deliver(cafile, server(s.port), message=message)
    assert kinds(d) == [("rcpt@example.com", "delivered", 250)]
    assert d.sent == message.replace(b"x\n.", b"x\r\n.")
    assert [m.content for m in s.handler.messages] == [d.sent]


def test_8bit_content_needs_8bitmime(sink, cafile) -> None:
    s = sink("starttls")
    message = "Subject: café\r\n\r\nvoilà\r\n".encode()
    assert kinds(deliver(cafile, server(s.port), message=message))[0][1] == "delivered"
    s.handler.eightbit = False
    d = deliver(cafile, server(s.port), message=message)
    assert kinds(d) == [("rcpt@example.com", "failed", None)] and "8BITMIME" in d.outcomes[0].reply
    assert len(s.handler.messages) == 1


def test_a_refused_login_fails_and_the_password_appears_nowhere(sink, cafile, caplog, capsys) -> None:
    caplog.set_level(logging.DEBUG)
    s = sink("starttls")
    from smtp_egress.smtp.model import Secret

    wrong = server(s.port, password=Secret(PASSWORD + "-wrong"))
    d = deliver(cafile, wrong)
    assert kinds(d) == [("rcpt@example.com", "failed", 535)]
    assert "refused the login of 'sender@customer.example'" in d.outcomes[0].reply
    out = capsys.readouterr()
    for text in (repr(d), caplog.text, out.out, out.err):
        assert PASSWORD not in text


def test_a_message_over_the_servers_size_limit_fails_and_the_size_is_declared(sink, cafile) -> None:
    s = sink("starttls", data_size_limit=len(MESSAGE))
    assert kinds(deliver(cafile, server(s.port)))[0][1] == "delivered"
    d = deliver(cafile, server(s.port), message=MESSAGE + b"more\r\n")
    assert kinds(d) == [("rcpt@example.com", "failed", None)] and "over the server's SIZE limit" in d.outcomes[0].reply
    assert len(s.handler.messages) == 1


def test_a_non_ascii_address_needs_smtputf8(sink, cafile) -> None:
    for enabled, kind in ((False, "failed"), (True, "delivered")):
        s = sink("starttls", enable_SMTPUTF8=enabled)
        d = deliver(cafile, server(s.port), envelope("jörg@example.com"))
        assert kinds(d) == [("jörg@example.com", kind, None if kind == "failed" else 250)]
    assert "SMTPUTF8" in s.handler.messages[0].mail_options


def test_a_server_echoing_the_credentials_never_gets_them_into_the_outcome(scripted, cafile) -> None:
    def script(conn: int, line: str) -> bytes | None:
        if line.startswith("EHLO"):
            return ehlo_reply("AUTH PLAIN LOGIN")
        if line.startswith("AUTH"):
            plain = base64.b64decode(line.split()[2]).decode()
            return f"535 5.7.8 bad: {line} {plain!r} {PASSWORD}\r\n".encode()
        return b"221 bye\r\n"

    async def go():
        async with scripted(script) as srv:
            d = Deliverer(allow_private=True, ca_file=cafile, timeout=5)
            try:
                return await d.deliver(server(srv.port, "implicit-tls"), envelope(), MESSAGE)
            finally:
                await d.aclose()

    d = run(go())
    assert kinds(d) == [("rcpt@example.com", "failed", 535)] and "***" in d.outcomes[0].reply
    assert PASSWORD not in d.outcomes[0].reply and base64.b64encode(PASSWORD.encode()).decode() not in repr(d)
    assert "AHNlbmRlc" not in d.outcomes[0].reply  # the start of the base64 PLAIN blob


def test_data_accepted_although_no_recipient_was_gets_an_empty_message(scripted, cafile) -> None:
    """RFC 2920 3.1: a pipelining server may answer 354 to DATA after refusing every RCPT."""

    async def go():
        async with scripted(_script(rcpt=b"550 5.1.1 unknown\r\n")) as srv:
            return await _run(srv.port, cafile), srv

    d, srv = run(go())
    assert kinds(d) == [("rcpt@example.com", "failed", 550)] and srv.contents == [b".\r\n"]


def test_8bit_content_is_declared_body_8bitmime(scripted, cafile) -> None:
    async def go():
        async with scripted(_script()) as srv:
            return await _run(srv.port, cafile, "Subject: café\r\n\r\nvoilà\r\n".encode()), srv

    d, srv = run(go())
    assert kinds(d)[0][1] == "delivered"
    assert (1, "MAIL FROM:<sender@customer.example> BODY=8BITMIME") in srv.lines
