"""Several SMTP sessions in flight (smtp_pool) against real aiosmtpd servers on 127.0.0.1.

The servers made here misbehave on purpose, chosen by the recipient's local part: ``drop1``/``drop`` take the
message and then lose the connection without answering (the first time / every time); ``closing1``/``closing``
answer 421 after the content (the first time / every time). (tests/conftest.py's servers refuse the RCPT of
``reject550`` and ``defer451``.)
"""

from __future__ import annotations

import asyncio
import email
import socket

import pytest

from smtp_egress.errors import DeliveryError, DeliveryUnknown
from smtp_egress.notices.smtp_pool import MAX_TRIES, Message, send_all, stuffed
from smtp_egress.notices.transport import SmtpTransport

SENDER = "notices@egress.example"
BODY = b"Subject: dots\r\n\r\n.leading dot line\r\n..two dots\r\nend\r\n"


class Handler:
    """Records what it accepted (recipient, Message-ID, peer); misbehaves by recipient (module docstring)."""

    def __init__(self, pipelining: bool = True, limit: int | None = None):
        self.pipelining, self.limit = pipelining, limit
        self.accepted: list[tuple[str, str, tuple]] = []
        self.seen: dict[str, int] = {}
        self.active = self.most = 0

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        return [responses[0], "250-PIPELINING", *responses[1:]] if self.pipelining else responses

    async def handle_DATA(self, server, session, envelope):
        (rcpt,) = envelope.rcpt_tos
        local = rcpt.split("@", 1)[0]
        self.seen[rcpt] = times = self.seen.get(rcpt, 0) + 1
        if local == "closing" or (local == "closing1" and times == 1):
            return "421 4.3.2 service shutting down"
        self.accepted.append((rcpt, email.message_from_bytes(envelope.original_content)["Message-ID"], session.peer))
        if local == "drop" or (local == "drop1" and times == 1):
            server.transport.abort()  # taken, but the answer never leaves
        return "250 2.0.0 queued"


@pytest.fixture
def smtpd():
    """``smtpd(handler)``: a plain aiosmtpd server on 127.0.0.1 (no TLS, no AUTH) with ``handler``; with
    ``handler.limit``, a connection beyond that many at once is answered 421 and closed (as Postfix does)."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import SMTP

    class Limited(SMTP):
        async def _handle_client(self):
            handler = self.event_handler
            if handler.limit is not None and handler.active >= handler.limit:
                await self.push("421 4.7.0 too many connections from your address")
                self.transport.close()
                return
            handler.active += 1
            handler.most = max(handler.most, handler.active)
            try:
                await super()._handle_client()
            finally:
                handler.active -= 1

    class LimitedController(Controller):
        def factory(self):
            return Limited(self.handler, **self.SMTP_kwargs)

    started = []

    def start(handler: Handler) -> int:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        controller = LimitedController(handler, hostname="127.0.0.1", port=port)
        controller.start()
        started.append(controller)
        return port

    yield start
    for controller in started:
        controller.stop()


def run(url: str, recipients: list[str], connections: int, **transport) -> dict[str, DeliveryError | None]:
    """Send one message per recipient (its Message-ID <i@test>) over ``connections`` sessions; the outcomes."""
    outcomes: dict[str, DeliveryError | None] = {}

    def done(m: Message, error: DeliveryError | None) -> None:
        assert m.key not in outcomes, f"{m.key} reported twice"
        outcomes[m.key] = error  # type: ignore[index]

    head = "From: {s}\r\nTo: {r}\r\nMessage-ID: <{i}@test>\r\n"
    messages = (Message(r, SENDER, r, head.format(s=SENDER, r=r, i=i).encode(), BODY) for i, r in enumerate(recipients))
    with SmtpTransport(url, **transport) as t:
        send_all(t, connections, messages, done)
    assert list(outcomes) == recipients or sorted(outcomes) == sorted(recipients)
    return outcomes


def test_pipelined_sessions_over_starttls_deliver_each_message_once_intact(smtp_server, cafile):
    server = smtp_server("starttls", pipelining=True)
    recipients = [f"ops{i}@c{i}.example" for i in range(40)] + ["reject550@x.example", "defer451@y.example"]
    outcomes = run(server.url(user=server.user, password=server.password), recipients, 3, cafile=cafile)
    assert {r for r, e in outcomes.items() if e is None} == set(recipients[:40])
    refused, deferred = outcomes["reject550@x.example"], outcomes["defer451@y.example"]
    assert refused is not None and refused.permanent and "550" in str(refused) and "reject550@x.example" in str(refused)
    assert deferred is not None and not deferred.permanent and "451" in str(deferred)
    got = server.handler.messages
    assert sorted(r for m in got for r in m.rcpt_tos) == sorted(recipients[:40])  # each once
    assert all(m.tls and m.auth_login == server.user.encode() for m in got)
    assert len({m.peer for m in got}) == 3  # three sessions in flight
    for m in got:  # dots at line starts went through stuffed and came back as sent
        assert email.message_from_bytes(m.content).get_payload() == ".leading dot line\r\n..two dots\r\nend\r\n"


def test_without_pipelining_each_session_waits_for_every_reply(smtp_server):
    server = smtp_server("plain")  # aiosmtpd offers no PIPELINING by default
    recipients = (
        [f"ops{i}@c.example" for i in range(10)] + ["reject550@x.example"] + [f"z{i}@c.example" for i in range(5)]
    )
    outcomes = run(server.url(), recipients, 2)
    assert [r for r, e in outcomes.items() if e is not None] == ["reject550@x.example"]
    got = server.handler.messages
    assert sorted(r for m in got for r in m.rcpt_tos) == sorted(r for r in recipients if r != "reject550@x.example")
    assert len({m.peer for m in got}) == 2


def test_a_message_lost_with_its_connection_goes_again_on_another_session(smtpd):
    handler = Handler()
    port = smtpd(handler)
    recipients = ["a@c.example", "drop1@c.example", "b@c.example", "c@c.example"]
    outcomes = run(f"smtp://127.0.0.1:{port}", recipients, 2)
    assert outcomes == dict.fromkeys(recipients)  # all accepted in the end
    ids = [mid for rcpt, mid, _ in handler.accepted if rcpt == "drop1@c.example"]
    assert len(ids) == 2 and ids[0] == ids[1]  # it arrived twice, as the same message (Message-ID)
    assert sorted(r for r, _, _ in handler.accepted) == sorted([*recipients, "drop1@c.example"])


def test_a_message_whose_answer_never_comes_is_unknown_never_failed(smtpd):
    handler = Handler()
    port = smtpd(handler)
    outcomes = run(f"smtp://127.0.0.1:{port}", ["a@c.example", "drop@c.example", "b@c.example"], 2)
    unknown = outcomes.pop("drop@c.example")
    assert isinstance(unknown, DeliveryUnknown) and not unknown.permanent and "may have arrived" in str(unknown)
    assert outcomes == {"a@c.example": None, "b@c.example": None}
    assert handler.seen["drop@c.example"] == MAX_TRIES  # it did arrive, each time


def test_421_after_the_content_is_a_definite_no_and_the_message_goes_again(smtpd):
    handler = Handler()
    port = smtpd(handler)
    outcomes = run(f"smtp://127.0.0.1:{port}", ["closing1@c.example", "closing@c.example", "a@c.example"], 1)
    assert outcomes["closing1@c.example"] is None and outcomes["a@c.example"] is None
    closing = outcomes["closing@c.example"]
    assert type(closing) is DeliveryError and not closing.permanent and "421" in str(closing)  # not "unknown"
    assert [r for r, _, _ in handler.accepted].count("closing1@c.example") == 1


def test_a_server_that_takes_fewer_connections_keeps_the_ones_it_took(smtpd):
    handler = Handler(limit=2)
    port = smtpd(handler)
    recipients = [f"ops{i}@c.example" for i in range(30)]
    outcomes = run(f"smtp://127.0.0.1:{port}", recipients, 5)
    assert outcomes == dict.fromkeys(recipients)  # nothing failed: the pool stayed at two sessions
    assert handler.most == 2 and sorted(r for r, _, _ in handler.accepted) == sorted(recipients)


def test_no_answer_within_the_timeout_loses_the_session(smtpd):
    class Slow(Handler):
        async def handle_DATA(self, server, session, envelope):
            if envelope.rcpt_tos == ["slow@c.example"]:
                await asyncio.sleep(3)
            return await super().handle_DATA(server, session, envelope)

    port = smtpd(Slow())
    outcomes = run(f"smtp://127.0.0.1:{port}", ["a@c.example", "slow@c.example"], 1, timeout=0.3)
    assert outcomes["a@c.example"] is None
    slow = outcomes["slow@c.example"]
    assert isinstance(slow, DeliveryUnknown) and "no answer within 0.3 s" in str(slow)


def test_connection_refused_fails_the_message_that_needed_it(rendered_notice):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    outcomes = run(f"smtp://127.0.0.1:{port}", ["a@c.example", "b@c.example"], 3, timeout=5)
    assert all(
        type(e) is DeliveryError and not e.permanent and f"127.0.0.1:{port}" in str(e) for e in outcomes.values()
    )


def test_stuffed_doubles_every_dot_that_starts_a_line_and_ends_the_data():
    assert stuffed(b".a\r\n", b".b\r\nc.d\r\n..e\r\n") == b"..a\r\n..b\r\nc.d\r\n...e\r\n.\r\n"
    assert stuffed(b"x", b"") == b"x\r\n.\r\n"
