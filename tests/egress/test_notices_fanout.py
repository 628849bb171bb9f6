"""The fan-out over SMTP with several sessions, against real aiosmtpd servers and a real ledger (SQLite and
PostgreSQL): the server's streak, outcomes recorded in groups, and a notice that may have arrived left pending."""

from __future__ import annotations

import datetime as dt
import socket

import pytest

from smtp_egress.dates import UTC
from smtp_egress.ledger import Ledger, Workspace
from smtp_egress.notices.channels.email import MAX_CONSECUTIVE_TRANSIENT, EmailSender
from smtp_egress.notices.fanout import Channels, deliver
from smtp_egress.notices.transport import SmtpTransport
from smtp_egress.plan import parse_plan

NOW = dt.datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
PLAN = parse_plan(
    b"regions:\n  us:\n    - ip: 198.51.100.10\n    - ip: 198.51.100.11\n      active_from: 2026-12-10\n", "p.yaml"
)


@pytest.fixture
def ledger(db_url):
    led = Ledger(db_url, create=True)
    yield led
    led.close()


def announce(ledger: Ledger, addresses: list[str]) -> str:
    ledger.upsert_workspaces([Workspace(f"ws-{i:03d}", "us", {"email": a}) for i, a in enumerate(addresses)], NOW)
    (change,) = PLAN.changes("us")
    return ledger.announce(change, NOW, 7, PLAN.sha256, ledger.workspaces("us")).batch_id


def fan_out(ledger: Ledger, url: str, connections: int, **options):
    sender = EmailSender(SmtpTransport(url, timeout=5), "IP notices <n@platform.example>", connections)
    channels = Channels({"email": sender}, "https://ips.example.com")
    pending = ledger.unsent()
    batch_id = pending[0].batch_id
    notices = {batch_id: channels.context(list(ledger.recorded().values()), NOW)}
    try:
        return deliver(ledger, pending, notices, channels, progress=False, **options)
    finally:
        channels.close()


def statuses(ledger: Ledger) -> dict[str, str]:
    import sqlalchemy as sa

    from smtp_egress.ledger import deliveries

    with ledger.conn.begin():
        return dict(ledger.conn.execute(sa.select(deliveries.c.target, deliveries.c.status)).all())


@pytest.mark.parametrize("connections", [1, 3])
def test_5_transient_failures_in_a_row_on_any_session_hold_the_rest(ledger, smtp_server, connections):
    """The streak counts outcomes in the order they arrive, whatever the session; once it reaches 5 no notice is
    started, and those already started (at most two per session) finish."""
    server = smtp_server("plain", pipelining=True)
    announce(ledger, [f"defer451@c{i}.example" for i in range(40)])
    summary = fan_out(ledger, server.url(), connections)
    assert MAX_CONSECUTIVE_TRANSIENT <= summary.failed <= MAX_CONSECUTIVE_TRANSIENT + 2 * connections - 1
    assert summary.left_pending == 40 - summary.failed and summary.sent == 0
    assert summary.errors[-1] == (
        f"the SMTP server failed 5 times in a row; {40 - summary.failed} email notices left pending for the next run"
    )
    counted = list(statuses(ledger).values())
    assert counted.count("failed") == summary.failed and counted.count("pending") == summary.left_pending


def test_a_success_on_one_session_resets_the_streak_of_all(ledger, smtp_server):
    server = smtp_server("plain", pipelining=True)
    # Every other notice is refused for now: answers arrive in any order over the 3 sessions, and 5 refusals in a
    # row would need a success overtaken by 4 later notices (with 1 success in 4, a loaded machine did it).
    addresses = [f"defer451@c{i}.example" if i % 2 else f"ok{i}@c{i}.example" for i in range(40)]
    announce(ledger, addresses)
    summary = fan_out(ledger, server.url(), 3)
    assert (summary.sent, summary.failed, summary.left_pending) == (20, 20, 0)  # never 5 in a row


def test_a_server_that_is_down_gets_5_connection_attempts_then_the_rest_waits(ledger):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    announce(ledger, [f"ops{i}@c{i}.example" for i in range(20)])
    summary = fan_out(ledger, f"smtp://127.0.0.1:{port}", 4)
    assert (summary.failed, summary.left_pending) == (MAX_CONSECUTIVE_TRANSIENT, 20 - MAX_CONSECUTIVE_TRANSIENT)


def test_outcomes_are_recorded_in_groups_each_with_its_own_moment(ledger, smtp_server, monkeypatch):
    server = smtp_server("plain", pipelining=True)
    announce(ledger, [f"ops{i}@c{i}.example" for i in range(23)] + ["reject550@x.example"])
    groups: list[tuple[int, int]] = []
    record = ledger.record_outcomes

    def counting(sent, failed):
        groups.append((len(sent), len(failed)))
        record(sent, failed)

    monkeypatch.setattr(ledger, "record_outcomes", counting)
    clock = iter(NOW + dt.timedelta(milliseconds=i) for i in range(1000))
    summary = fan_out(ledger, server.url(), 2, group=5, window=3600, now=lambda: next(clock))
    assert (summary.sent, summary.failed) == (23, 1)
    assert [sum(g) for g in groups] == [5, 5, 5, 5, 4]  # a transaction per 5 outcomes, the rest at the end
    assert statuses(ledger) == {**{f"ops{i}@c{i}.example": "sent" for i in range(23)}, "reject550@x.example": "failed"}
    import sqlalchemy as sa

    from smtp_egress.ledger import deliveries

    with ledger.conn.begin():
        moments = ledger.conn.execute(sa.select(deliveries.c.sent_at).where(deliveries.c.status == "sent")).scalars()
        assert len(set(moments)) == 23  # each delivery's own moment of acceptance, not its group's


def test_a_notice_that_may_have_arrived_is_left_pending_not_failed(ledger, smtpd_drop):
    port = smtpd_drop
    announce(ledger, ["a@c.example", "drop@c.example", "b@c.example"])
    summary = fan_out(ledger, f"smtp://127.0.0.1:{port}", 2)
    assert (summary.sent, summary.failed, summary.left_pending) == (2, 0, 1) and not summary.complete
    assert "may have arrived" in summary.errors[0] and "drop@c.example" in summary.errors[0]
    assert statuses(ledger) == {"a@c.example": "sent", "drop@c.example": "pending", "b@c.example": "sent"}


@pytest.fixture
def smtpd_drop():
    """A plain aiosmtpd server that takes every message to drop@... and then loses the connection unanswered."""
    from aiosmtpd.controller import Controller

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            if envelope.rcpt_tos == ["drop@c.example"]:
                server.transport.abort()
            return "250 2.0.0 queued"

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    yield port
    controller.stop()
