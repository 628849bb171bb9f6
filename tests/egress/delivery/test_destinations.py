"""Where a delivery may connect: only to an address the guard checked at connect time (never the name again,
so DNS rebinding can't redirect it), never to loopback/private unless allowed, never port 25; optionally
from a given source address."""

from __future__ import annotations

import ipaddress
import socket

import pytest

from smtp_egress.smtp import guard

from .helpers import deliver, kinds, server


def test_a_name_resolving_to_loopback_is_refused_without_connecting(sink, cafile) -> None:
    s = sink("starttls")
    d = deliver(cafile, server(s.port, host="localhost"), allow_private=False)
    assert kinds(d) == [("rcpt@example.com", "failed", None)]
    assert d.outcomes[0].reply.startswith("policy: ") and "not a public address" in d.outcomes[0].reply
    assert s.handler.peers == set() and d.peer is None


def test_port_25_is_refused(cafile) -> None:
    d = deliver(cafile, server(25), allow_private=True)
    assert kinds(d) == [("rcpt@example.com", "failed", None)] and "port 25 is refused" in d.outcomes[0].reply


def test_an_unresolvable_name_is_deferred(cafile) -> None:
    d = deliver(cafile, server(2525, host="no-such-host.invalid"))
    assert kinds(d) == [("rcpt@example.com", "deferred", None)] and "does not resolve" in d.outcomes[0].reply


def test_a_connection_refused_is_deferred_with_the_address(cafile) -> None:
    from .conftest import free_port

    port = free_port()
    d = deliver(cafile, server(port))
    assert kinds(d) == [("rcpt@example.com", "deferred", None)]
    assert f"could not connect to ws1/127.0.0.1:{port} (127.0.0.1:" in d.outcomes[0].reply


def test_rebinding_the_connection_goes_to_the_checked_address_only(sink, cafile, monkeypatch) -> None:
    """The name answers a (documentation, standing for public) address first, then loopback: the delivery
    resolves once, connects only to the checked address, and never reaches the loopback server."""
    s = sink("starttls")
    public = "192.0.2.10"
    answers = [public, "127.0.0.1", "127.0.0.1"]
    asked: list[str] = []
    real_getaddrinfo, real_connect = socket.getaddrinfo, socket.socket.connect
    attempts: list[tuple] = []

    def getaddrinfo(host, port, *args, **kwargs):
        if host != "rebind.example":
            return real_getaddrinfo(host, port, *args, **kwargs)
        asked.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answers.pop(0), port))]

    def connect(sock, address):
        attempts.append(address)
        if address[0] == public:  # never a real non-loopback connection
            raise ConnectionRefusedError(111, "refused by the test")
        return real_connect(sock, address)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(guard, "is_public", lambda a: ipaddress.ip_address(a) in ipaddress.ip_network("192.0.2.0/24"))
    d = deliver(cafile, server(s.port, host="rebind.example"), allow_private=False)
    assert asked == ["rebind.example"] and attempts == [(public, s.port)]
    assert kinds(d) == [("rcpt@example.com", "deferred", None)] and public in d.outcomes[0].reply
    assert s.handler.peers == set()
    # the next answer is loopback: refused by the check itself, still no connection
    d = deliver(cafile, server(s.port, host="rebind.example"), allow_private=False)
    assert kinds(d)[0][1] == "failed" and attempts == [(public, s.port)] and s.handler.peers == set()


@pytest.mark.parametrize("source", ["127.0.0.2", "127.0.0.3"])
def test_the_connection_leaves_from_the_source_address(sink, cafile, source) -> None:
    s = sink("starttls")
    d = deliver(cafile, server(s.port), source_address=source)
    assert kinds(d)[0][1] == "delivered" and {p[0] for p in s.handler.peers} == {source}


def test_a_source_address_of_another_family_skips_those_addresses(sink, cafile) -> None:
    s = sink("starttls")
    d = deliver(cafile, server(s.port), source_address="::1")
    assert kinds(d)[0][1] == "deferred" and "not the source address's family" in d.outcomes[0].reply
