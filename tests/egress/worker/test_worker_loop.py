"""The worker's loop end to end against real TLS SMTP servers (aiosmtpd + trustme): outcomes per recipient in the
ledger, the archive, retries with backoff, dead letters, routing by campaign type, link rewriting."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import sqlalchemy as sa

from smtp_egress.jobs.worker import WorkerConfig, enqueue, status
from smtp_egress.ledger import Ledger
from smtp_egress.tables import worker_dead_letters, worker_outcomes
from smtp_egress.worker.backoff import RetryPolicy
from smtp_egress.worker.ports import StaticServers, StaticTracking

from ...conftest import PASSWORD, USER
from .conftest import FAST, archived, message, run_once, server_for


def outcomes(db: str) -> dict[tuple[str, str], tuple[str, int | None, str]]:
    ledger = Ledger(db)
    with ledger.conn.begin():
        rows = ledger.conn.execute(sa.select(worker_outcomes)).mappings().all()
    ledger.close()
    return {(r["job_id"], r["recipient"]): (r["state"], r["code"], r["reply"]) for r in rows}


def test_delivered_failed_and_deferred_recipients_end_as_they_should(place, smtp_server, cafile):
    server = smtp_server("starttls")
    body = message()
    ok = enqueue(place.queue, workspace_id="ws1", sender="news@customer.example", recipients=["a@x.test", "b@x.test"],
                 message=body)  # fmt: skip
    mixed = enqueue(place.queue, workspace_id="ws1", sender="news@customer.example",
                    recipients=["c@x.test", "reject550@x.test", "defer451@x.test"], message=body)  # fmt: skip
    config = WorkerConfig(place.db, place.queue, str(place.archive), settings=FAST)
    tally = run_once(config, StaticServers({"ws1": [server_for(server.port)]}), cafile, retry_seconds=10)

    found = outcomes(place.db)
    assert found[(ok.job_id, "a@x.test")][:2] == ("delivered", 250)
    assert found[(ok.job_id, "b@x.test")][:2] == ("delivered", 250)
    assert found[(mixed.job_id, "c@x.test")][:2] == ("delivered", 250)
    assert found[(mixed.job_id, "reject550@x.test")][:2] == ("failed", 550)
    state, _, reply = found[(mixed.job_id, "defer451@x.test")]
    assert state == "failed" and reply.startswith("expired: still deferred")  # max age reached while retrying
    assert tally.left.ready == tally.left.delayed == tally.left.in_flight == 0
    # exactly the bytes the server received, once per delivered recipient, with its reply beside them
    entries = archived(place.archive)
    assert len(entries) == 3
    assert {e.read_bytes() for e in entries} == {m.content for m in server.handler.messages}
    meta = json.loads(entries[0].with_suffix(".json").read_text())
    assert meta["code"] == 250 and "queued" in meta["reply"] and "password" not in json.dumps(meta).lower()
    ledger = Ledger(place.db)
    with ledger.conn.begin():
        dead = ledger.conn.execute(sa.select(worker_dead_letters)).mappings().all()
    ledger.close()
    assert [d["job_id"] for d in dead] == [mixed.job_id]
    assert dead[0]["reason"].startswith("2 recipient(s) failed") and "expired" in dead[0]["reason"]
    st = status(config)
    assert (st.delivered, st.failed, st.queue.dead) == (3, 2, 1)


def test_a_deferred_recipient_is_retried_with_backoff_then_delivered(place, smtp_server, cafile):
    server = smtp_server("starttls")
    flaky = {"left": 2}
    original = server.handler.handle_RCPT

    async def rcpt(srv, session, envelope, address, options):
        if address.startswith("later@") and flaky["left"]:
            flaky["left"] -= 1
            return "421 4.7.0 busy, try again"
        return await original(srv, session, envelope, address, options)

    server.handler.handle_RCPT = rcpt
    job = enqueue(place.queue, workspace_id="ws1", sender="", recipients=["later@x.test"], message=message())
    patient = dataclasses.replace(FAST, policy=RetryPolicy(0.05, 0.2, max_age=dt.timedelta(hours=1)))
    config = WorkerConfig(place.db, place.queue, str(place.archive), settings=patient)
    tally = run_once(config, StaticServers({"ws1": [server_for(server.port)]}), cafile, retry_seconds=20)
    assert outcomes(place.db)[(job.job_id, "later@x.test")][:2] == ("delivered", 250)
    assert tally.deferred == 2 and tally.delivered == 1
    assert len(archived(place.archive)) == 1


def test_routing_by_campaign_type_else_default_and_no_route_fails(place, smtp_server, cafile):
    default, promo = smtp_server("starttls"), smtp_server("implicit")
    servers = StaticServers({"ws1": [
        server_for(default.port),
        server_for(promo.port, "implicit-tls", server_id="promo", default=False, campaign_types=("promo",)),
    ]})  # fmt: skip
    enqueue(place.queue, workspace_id="ws1", campaign_type="promo", sender="a@c.test", recipients=["p@x.test"],
            message=message())  # fmt: skip
    enqueue(place.queue, workspace_id="ws1", campaign_type="news", sender="a@c.test", recipients=["n@x.test"],
            message=message())  # fmt: skip
    lost = enqueue(place.queue, workspace_id="ws2", sender="a@c.test", recipients=["z@x.test"], message=message())
    run_once(WorkerConfig(place.db, place.queue, str(place.archive), settings=FAST), servers, cafile)
    assert [m.rcpt_tos for m in promo.handler.messages] == [["p@x.test"]]
    assert [m.rcpt_tos for m in default.handler.messages] == [["n@x.test"]]
    state, code, reply = outcomes(place.db)[(lost.job_id, "z@x.test")]
    assert state == "failed" and code is None and "no SMTP server" in reply


def test_links_are_rewritten_per_recipient_only_for_a_verified_tracking_domain(place, smtp_server, cafile):
    server = smtp_server("starttls")
    calls = []

    def rewriter(msg, *, tracking_domain, message_id, recipient, signer):  # a trivial rewriter, for this test only
        calls.append((tracking_domain, message_id, recipient, signer))
        return msg.replace(b"https://shop.example/", f"https://{tracking_domain}/c/{recipient}/".encode())

    body = message(body="Buy at https://shop.example/now\n")
    j1 = enqueue(
        place.queue, workspace_id="ws1", sender="a@c.test", recipients=["r1@x.test", "r2@x.test"], message=body
    )
    enqueue(place.queue, workspace_id="ws2", sender="a@c.test", recipients=["r3@x.test"], message=body)
    servers = StaticServers({"ws1": [server_for(server.port)], "ws2": [server_for(server.port, workspace_id="ws2")]})
    config = WorkerConfig(place.db, place.queue, str(place.archive), settings=FAST)
    tracking = StaticTracking({"ws1": "links.customer.example"})
    run_once(config, servers, cafile, tracking=tracking, rewriter=rewriter, signer="SIGNER")
    got = {tuple(m.rcpt_tos): m.content for m in server.handler.messages}
    assert b"https://links.customer.example/c/r1@x.test/now" in got[("r1@x.test",)]
    assert b"https://links.customer.example/c/r2@x.test/now" in got[("r2@x.test",)]
    assert b"https://shop.example/now" in got[("r3@x.test",)]  # ws2 has no verified tracking domain: plain links
    assert calls == [("links.customer.example", j1.job_id, r, "SIGNER") for r in ("r1@x.test", "r2@x.test")]
    assert {e.read_bytes() for e in archived(place.archive)} == set(got.values())


def test_a_server_echoing_the_password_never_puts_it_in_the_ledger_or_the_archive(place, smtp_server, cafile):
    server = smtp_server("starttls")

    async def echo(srv, session, envelope):
        return f"250 2.0.0 queued for {PASSWORD} (user {USER})"

    server.handler.handle_DATA = echo
    job = enqueue(place.queue, workspace_id="ws1", sender="a@c.test", recipients=["r@x.test"], message=message())
    run_once(WorkerConfig(place.db, place.queue, str(place.archive), settings=FAST),
             StaticServers({"ws1": [server_for(server.port)]}), cafile)  # fmt: skip
    state, _, reply = outcomes(place.db)[(job.job_id, "r@x.test")]
    assert state == "delivered" and reply == f"2.0.0 queued for *** (user {USER})"
    for entry in place.archive.rglob("*"):
        if entry.is_file():
            assert PASSWORD.encode() not in entry.read_bytes()
    assert (place.archive.parent / "ledger.db").read_bytes().find(PASSWORD.encode()) == -1
