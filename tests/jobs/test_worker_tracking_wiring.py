"""The worker's production tracking collaborators on a real SQLite and PostgreSQL ledger: a workspace's tracking
domain only while verified for its current names, re-read after the cache's time; the rewriter falls back to the
message as it was (plain links) when a value cannot go in a token, instead of failing the job forever."""

from __future__ import annotations

import datetime as dt

from smtp_egress.jobs.worker_wiring import LedgerTracking, rewrite_or_plain
from smtp_egress.ledger import Ledger
from smtp_egress.tables import domain_states, workspaces
from smtp_egress.tracking.keys import Keyring, TrackingKey
from smtp_egress.tracking.tokens import TokenSigner

NOW = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)
SIGNER = TokenSigner(Keyring((TrackingKey("k1", b"s" * 32),)))
MESSAGE = b"Content-Type: text/plain\r\n\r\nSee https://shop.example/ now\r\n"


def test_a_tracking_domain_counts_only_while_verified_and_is_reread_after_the_ttl(db_url):
    ledger = Ledger(db_url, create=True)
    now = [0.0]
    try:
        tracking = LedgerTracking(ledger, ttl=60, clock=lambda: now[0])
        with ledger.engine.begin() as conn:
            for ws, state in (("ws-1", "verified"), ("ws-2", "failed"), ("ws-3", None)):
                conn.execute(
                    workspaces.insert().values(
                        workspace_id=ws, region="us", updated_at=NOW, sending_domain=f"{ws}.example",
                        tracking_domain=f"links.{ws}.example",
                    )
                )  # fmt: skip
                if state:
                    conn.execute(
                        domain_states.insert().values(
                            workspace_id=ws, tracking_domain=f"links.{ws}.example", sending_domain=f"{ws}.example",
                            state=state, since=NOW, checked_at=NOW,
                        )
                    )  # fmt: skip
        assert [tracking.tracking_domain(ws) for ws in ("ws-1", "ws-2", "ws-3", "nope")] == [
            "links.ws-1.example", None, None, None,
        ]  # fmt: skip
        with ledger.engine.begin() as conn:  # ws-1 moves to another tracking domain: its state no longer counts
            conn.execute(
                workspaces.update().where(workspaces.c.workspace_id == "ws-1").values(tracking_domain="t.example")
            )
        assert tracking.tracking_domain("ws-1") == "links.ws-1.example"  # cached
        now[0] = 61
        assert tracking.tracking_domain("ws-1") is None
    finally:
        ledger.close()


def test_a_value_that_cannot_go_in_a_token_leaves_the_links_plain():
    tracked = rewrite_or_plain(
        MESSAGE, tracking_domain="links.x.example", message_id="job-1", recipient="a@x.example", signer=SIGNER
    )
    assert b"https://links.x.example/c/" in tracked
    for domain, message_id in (("Links.X.Example", "job-1"), ("links.x.example", "j" * 600)):
        same = rewrite_or_plain(MESSAGE, tracking_domain=domain, message_id=message_id, recipient="a@x", signer=SIGNER)
        assert same == MESSAGE
