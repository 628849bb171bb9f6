"""The tracker: a real TrackingServer on 127.0.0.1, real HTTP requests, events in a real SQLite and PostgreSQL
ledger."""

from __future__ import annotations

import contextlib
import datetime as dt
import socket
import threading
import time

import pytest
import requests
import sqlalchemy as sa

from smtp_egress.ledger import Ledger
from smtp_egress.tables import domain_states, workspaces
from smtp_egress.tracking.domains import LedgerDomains, StaticDomains, host_name
from smtp_egress.tracking.events import bounded_user_agent, client_network, events_for
from smtp_egress.tracking.keys import Keyring, TrackingKey
from smtp_egress.tracking.server import PIXEL, Tracker, TrackingHandler, TrackingServer
from smtp_egress.tracking.tokens import TokenSigner

DOMAIN = "links.customer.example"
OTHER = "go.other.example"
SIGNER = TokenSigner(Keyring((TrackingKey("k1", b"s" * 32),)))
NOW = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)
FORGED = TokenSigner(Keyring((TrackingKey("k9", b"f" * 32),))).click(
    domain=DOMAIN, message_id="m", recipient="r", link_index=0, destination="https://evil.example/"
)


def click(dest: str = "https://shop.example/sale?a=1&b=2", *, domain: str = DOMAIN, index: int = 2) -> str:
    return SIGNER.click(
        domain=domain, message_id="<m1@x>", recipient="ann@d.example", link_index=index, destination=dest
    )


def opened(domain: str = DOMAIN) -> str:
    return SIGNER.open(domain=domain, message_id="<m1@x>", recipient="ann@d.example")


@contextlib.contextmanager
def running(url: str, domains=None, forwarded_for: bool = False):
    ledger = Ledger(url, create=True)
    tracker = Tracker(SIGNER, domains or StaticDomains([DOMAIN, OTHER]), ledger.engine, clock=lambda: NOW)
    server = TrackingServer(("127.0.0.1", 0), tracker, log=True, forwarded_for=forwarded_for)
    tracker.log = server.write_log
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server, ledger
    finally:
        server.shutdown()
        server.server_close()
        ledger.close()


def get(server: TrackingServer, path: str, host: str = DOMAIN, method: str = "GET", **headers) -> requests.Response:
    return requests.request(
        method, server.url + path, headers={"Host": host, **headers}, allow_redirects=False, timeout=10
    )


def events(ledger: Ledger):
    with ledger.engine.connect() as conn:
        return events_for(conn, "<m1@x>")


def test_a_click_redirects_to_its_destination_and_is_recorded(db_url):
    with running(db_url) as (server, ledger):
        reply = get(
            server, f"/c/{click()}", host=DOMAIN.upper() + ":443", **{"User-Agent": "Mail\x01/1.0 " + "x" * 400}
        )
        assert reply.status_code == 302
        assert reply.headers["Location"] == "https://shop.example/sale?a=1&b=2"
        assert "no-store" in reply.headers["Cache-Control"]
        assert "ETag" not in reply.headers and "Last-Modified" not in reply.headers
        (event,) = events(ledger)
    assert (event.kind, event.message_id, event.recipient, event.link_index) == ("click", "<m1@x>", "ann@d.example", 2)
    assert (event.destination, event.tracking_domain, event.client_network) == (
        "https://shop.example/sale?a=1&b=2",
        DOMAIN,
        "127.0.0.0/24",
    )
    assert event.user_agent == ("Mail/1.0 " + "x" * 400)[:256]
    assert event.occurred_at.replace(tzinfo=dt.UTC) == NOW


def test_every_open_is_a_fresh_1x1_gif_and_an_event(db_url):
    with running(db_url) as (server, ledger):
        first = get(server, f"/o/{opened()}.gif")
        again = get(server, f"/o/{opened()}.gif", **{"If-None-Match": "*", "If-Modified-Since": "Mon, 30 Nov 2026"})
        assert [first.status_code, again.status_code] == [200, 200]
        assert first.headers["Content-Type"] == "image/gif" and first.content == again.content == PIXEL
        assert PIXEL[:6] == b"GIF89a" and PIXEL[6:10] == b"\x01\x00\x01\x00"  # 1 x 1
        assert "no-store" in first.headers["Cache-Control"] and "ETag" not in first.headers
        assert [(e.kind, e.link_index, e.destination) for e in events(ledger)] == [("open", None, None)] * 2


@pytest.mark.parametrize(
    ("path", "host"),
    [
        (f"/c/{click()[:-1]}A", DOMAIN),  # tampered
        (f"/c/{click()}", OTHER),  # a verified domain, but not the link's
        (f"/c/{click(domain='unverified.example')}", "unverified.example"),
        (f"/c/{click()}", "127.0.0.1"),
        (f"/c/{click()}", ""),
        (f"/o/{click()}.gif", DOMAIN),  # a click token at the open route
        (f"/c/{opened()}", DOMAIN),
        (f"/o/{opened()}", DOMAIN),
        (f"/c/{FORGED}", DOMAIN),  # signed with a key the tracker does not have
        (f"/c/{click()}/x", DOMAIN),
        ("/c/", DOMAIN),
        ("/c/%41%41", DOMAIN),
        ("/", DOMAIN),
        ("/c/" + "A" * 5000, DOMAIN),
    ],
)
def test_anything_but_a_genuine_token_on_its_own_verified_domain_is_the_same_bare_404(tmp_path, path, host):
    with running(f"sqlite:///{tmp_path}/l.db") as (server, ledger):
        reply = get(server, path, host=host)
        assert (reply.status_code, reply.text, reply.headers["Content-Type"]) == (404, "not found\n", "text/plain")
        assert "Location" not in reply.headers and events(ledger) == []


def test_head_answers_like_get_and_records_nothing(tmp_path):
    with running(f"sqlite:///{tmp_path}/l.db") as (server, ledger):
        reply = get(server, f"/c/{click()}", method="HEAD")
        assert (reply.status_code, reply.headers["Location"], reply.content) == (
            302,
            "https://shop.example/sale?a=1&b=2",
            b"",
        )
        assert get(server, f"/o/{opened()}.gif", method="HEAD").headers["Content-Length"] == str(len(PIXEL))
        assert events(ledger) == []


def raw(server: TrackingServer, data: bytes, wait: float = 5.0) -> bytes:
    with socket.create_connection(server.server_address[:2], timeout=wait) as sock:
        sock.sendall(data)
        chunks = []
        with contextlib.suppress(TimeoutError, ConnectionResetError):
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks)


def test_other_methods_and_oversize_requests_get_short_answers_and_closed_connections(tmp_path, capfd):
    with running(f"sqlite:///{tmp_path}/l.db") as (server, ledger):
        for method in ("POST", "PUT", "DELETE", "OPTIONS", "PATCH"):
            reply = get(server, f"/c/{click()}", method=method)
            assert (reply.status_code, reply.headers["Allow"], reply.headers["Connection"]) == (
                405,
                "GET, HEAD",
                "close",
            )
        smuggled = raw(
            server,
            f"POST /c/{click()} HTTP/1.1\r\nHost: {DOMAIN}\r\nContent-Length: 40\r\n\r\n".encode()
            + f"GET /c/{click()} HTTP/1.1\r\nHost: {DOMAIN}\r\n\r\n".encode(),
        )
        assert smuggled.startswith(b"HTTP/1.1 405") and smuggled.count(b"HTTP/1.1") == 1
        long_line = raw(server, b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n")
        assert long_line.startswith(b"HTTP/1.1 414")
        headers = b"".join(b"X-%d: y\r\n" % i for i in range(150))
        assert raw(server, b"GET / HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n").startswith(b"HTTP/1.1 431")
        assert raw(server, b"GET /c/x HTTP/9.9\r\n\r\n").startswith(b"HTTP/1.1 505")
        assert raw(server, b"GET\r\n\r\n").startswith(b"HTTP/1.1 400")
        assert events(ledger) == []
    assert "Traceback" not in capfd.readouterr().err


def test_a_stalled_client_is_dropped_and_others_are_served_meanwhile(tmp_path, monkeypatch):
    assert 0 < TrackingHandler.timeout <= 30  # what a stalled client holds a thread for
    monkeypatch.setattr(TrackingHandler, "timeout", 0.5)
    with running(f"sqlite:///{tmp_path}/l.db") as (server, _):
        started = time.monotonic()
        with socket.create_connection(server.server_address[:2], timeout=5) as idle:
            idle.sendall(b"GET /c/")
            assert get(server, f"/c/{click()}").status_code == 302
            assert idle.recv(100) == b""  # closed by the server after its timeout, no answer
            assert 0.4 < time.monotonic() - started < 4


def test_a_client_gone_before_its_answer_is_one_line_never_a_traceback(tmp_path, capfd):
    with running(f"sqlite:///{tmp_path}/l.db") as (server, _):
        for _ in range(20):
            sock = socket.create_connection(server.server_address[:2])
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            sock.sendall(f"GET /o/{opened()}.gif HTTP/1.1\r\nHost: {DOMAIN}\r\n\r\n".encode())
            sock.close()  # a reset, perhaps before the answer
        assert get(server, "/healthz").status_code == 200
    err = capfd.readouterr().err
    assert "Traceback" not in err


def test_the_log_never_shows_a_whole_token(tmp_path, capfd):
    token = click()
    with running(f"sqlite:///{tmp_path}/l.db") as (server, _):
        get(server, f"/c/{token}")
    err = capfd.readouterr().err
    assert f"GET /c/{token[:8]}... 302" in err and token[:12] not in err


def test_a_destination_cannot_inject_a_header(tmp_path):
    with running(f"sqlite:///{tmp_path}/l.db") as (server, _):
        reply = get(server, "/c/" + click("https://shop.example/a\r\nSet-Cookie: x=1\r\n%0d%0aX-Evil: 1"))
        assert reply.status_code == 302 and "Set-Cookie" not in reply.headers and "X-Evil" not in reply.headers
        assert reply.headers["Location"] == "https://shop.example/aSet-Cookie:%20x=1%0d%0aX-Evil:%201"


def test_the_redirect_stands_when_the_ledger_cannot_record(pg_url, capfd):
    with running(pg_url) as (server, ledger):
        with ledger.engine.begin() as conn:
            conn.execute(sa.text("DROP TABLE tracking_events"))
        reply = get(server, f"/c/{click()}")
        assert (reply.status_code, reply.headers["Location"]) == (302, "https://shop.example/sale?a=1&b=2")
        assert get(server, f"/o/{opened()}.gif").content == PIXEL
    err = capfd.readouterr().err
    assert "click event not recorded: the ledger failed (ProgrammingError)" in err and "Traceback" not in err


def test_behind_a_proxy_the_client_is_the_last_forwarded_address(tmp_path):
    with running(f"sqlite:///{tmp_path}/l.db", forwarded_for=True) as (server, ledger):
        get(server, f"/o/{opened()}.gif", **{"X-Forwarded-For": "10.9.9.9, 2001:db8:aa:bb::1"})
        assert [e.client_network for e in events(ledger)] == ["2001:db8:aa::/48"]


def add_workspace(ledger: Ledger, ws: str, tracking: str, state: str | None, sending: str = "customer.example"):
    """A workspace with branded domains and (unless ``state`` is None) a stored verification state."""
    with ledger.engine.begin() as conn:
        conn.execute(
            workspaces.insert().values(
                workspace_id=ws, region="us", updated_at=NOW, tracking_domain=tracking, sending_domain=sending
            )
        )
        if state is not None:
            conn.execute(
                domain_states.insert().values(
                    workspace_id=ws, tracking_domain=tracking, sending_domain=sending, state=state, since=NOW,
                    checked_at=NOW,
                )
            )  # fmt: skip


def test_only_verified_tracking_domains_of_the_ledger_answer_and_they_are_reread(db_url):
    now = [0.0]
    ledger = Ledger(db_url, create=True)
    domains = LedgerDomains(ledger.engine, ttl=30, clock=lambda: now[0])
    ledger.close()
    with running(db_url, domains=domains) as (server, ledger):
        assert not domains.is_verified(DOMAIN)  # read now: no workspace yet
        add_workspace(ledger, "ws-1", DOMAIN, "verified")
        add_workspace(ledger, "ws-2", OTHER, None)  # a tracking domain, never verified
        add_workspace(ledger, "ws-3", "failed.example", "failed")
        add_workspace(ledger, "ws-4", "moved.example", "verified")
        with ledger.engine.begin() as conn:  # ws-4's state is about names it no longer has
            conn.execute(
                workspaces.update().where(workspaces.c.workspace_id == "ws-4").values(sending_domain="x.example")
            )
        assert get(server, f"/c/{click()}").status_code == 404  # read before the rows existed: cached
        now[0] = 31
        reply = get(server, f"/c/{click()}")
        assert (reply.status_code, reply.headers["Location"]) == (302, "https://shop.example/sale?a=1&b=2")
        assert domains.is_verified(DOMAIN.upper() + ".:8080")
        for domain in (OTHER, "failed.example", "moved.example"):
            assert get(server, f"/c/{click(domain=domain)}", host=domain).status_code == 404, domain
            assert get(server, f"/o/{opened(domain)}.gif", host=domain).status_code == 404, domain
        assert [e.kind for e in events(ledger)] == ["click"]


def test_host_names_client_networks_and_user_agents():
    assert [host_name(h) for h in ("A.Example.:80", "[::1]:80", "a b", "é.example", "x" * 300)] == [
        "a.example",
        "",
        "",
        "",
        "",
    ]
    assert client_network("203.0.113.77") == "203.0.113.0/24"
    assert client_network("::ffff:203.0.113.77") == "203.0.113.0/24"
    assert client_network("2001:db8:1:2:3::9") == "2001:db8:1::/48"
    assert client_network("not-an-ip") is None
    assert bounded_user_agent("") is None and bounded_user_agent("\x00\x01") is None
