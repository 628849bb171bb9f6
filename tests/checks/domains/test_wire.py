"""The lookup engine: many queries in flight on one socket, replies matched to their question, TCP on TC, the
system's servers from resolv.conf, and settings errors."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import dns.message
import pytest

from smtp_egress.checks.domains import NoNameserver, Resolver
from smtp_egress.checks.domains.resolver import system_nameservers
from smtp_egress.errors import ConfigError

from .aio import run


def test_a_truncated_reply_is_asked_again_over_tcp(resolver: Callable[..., Resolver]) -> None:
    answer = run(resolver().ask("many.cust.test.", "A"))
    assert answer.kind == "answer"
    assert len(answer.at("many.cust.test.", "A")) == 59


def test_many_lookups_in_flight_each_get_their_own_answer(resolver: Callable[..., Resolver]) -> None:
    names = [("ok.cust.test.", "CNAME"), ("flat.cust.test.", "A"), ("b1.mail.cust.test.", "MX")] * 400

    async def lookups() -> list[tuple[str, ...]]:
        async with resolver(concurrency=300) as r:
            answers = await asyncio.gather(*(r.ask(n, t) for n, t in names))
        return [a.at(n, t) for a, (n, t) in zip(answers, names, strict=True)]

    found = run(lookups())
    assert found == [("track.us.platform.test.",), ("192.0.2.10",), ("10 mx.us.platform.test.",)] * 400


@pytest.fixture
def forger() -> Iterator[tuple[str, int]]:
    """A server that first answers with the wrong question and a wrong id, then correctly."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(5)

    def serve() -> None:
        with sock:
            data, peer = sock.recvfrom(4096)
            query = dns.message.from_wire(data)
            wrong = dns.message.make_response(dns.message.make_query("evil.test.", "A"))
            wrong.id = query.id
            sock.sendto(wrong.to_wire(), peer)  # right id, other question
            other = dns.message.make_response(query)
            other.id = (query.id + 1) % 65536
            other.set_rcode(dns.rcode.NXDOMAIN)
            sock.sendto(other.to_wire(), peer)  # right question, other id
            sock.sendto(b"\x00" * 5, peer)  # garbage
            right = dns.message.make_response(query)
            right.answer.append(dns.rrset.from_text("ok.test.", 60, "IN", "A", "192.0.2.1"))
            sock.sendto(right.to_wire(), peer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield ("127.0.0.1", sock.getsockname()[1])
    thread.join(5)


def test_a_reply_to_another_question_or_id_is_ignored(forger: tuple[str, int]) -> None:
    answer = run(Resolver(forger, False, 2.0, 5).ask("ok.test.", "A"))
    assert (answer.kind, answer.at("ok.test.", "A")) == ("answer", ("192.0.2.1",))


def test_one_resolver_serves_several_event_loops(resolver: Callable[..., Resolver]) -> None:
    r = resolver()
    for _ in range(2):
        assert run(r.ask("ok.cust.test.", "CNAME")).kind == "answer"


def test_system_nameservers_come_from_resolv_conf(tmp_path: Path) -> None:
    conf = tmp_path / "resolv.conf"
    conf.write_text(
        "# comment\nsearch example.test\nnameserver 127.0.0.53\nnameserver fe80::1%eth0\nnameserver bogus\n"
    )
    assert system_nameservers(conf) == [("127.0.0.53", 53), ("fe80::1", 53)]
    resolver = Resolver(None, False, 1.0, 5, resolv_conf=conf)
    assert (resolver.servers, resolver.authoritative_port) == ([("127.0.0.53", 53), ("fe80::1", 53)], 53)


def test_no_nameserver_is_a_clear_error(tmp_path: Path) -> None:
    conf = tmp_path / "resolv.conf"
    conf.write_text("search example.test\n")
    with pytest.raises(NoNameserver, match="names no nameserver: pass --nameserver HOST:PORT"):
        Resolver(None, False, 1.0, 5, resolv_conf=conf)
    with pytest.raises(NoNameserver, match="cannot read"):
        Resolver(None, False, 1.0, 5, resolv_conf=tmp_path / "absent")


@pytest.mark.parametrize(
    ("nameserver", "timeout", "concurrency", "words"),
    [
        (("ns.example.test", 53), 1.0, 5, "'ns.example.test' is not an IP address"),
        (("127.0.0.1", 70000), 1.0, 5, "'70000' is not a port number"),
        (("127.0.0.1", 53), 0.0, 5, "must be positive"),
        (("127.0.0.1", 53), 1.0, 0, "must be positive"),
    ],
)
def test_bad_settings_are_config_errors(
    nameserver: tuple[str, int], timeout: float, concurrency: int, words: str
) -> None:
    with pytest.raises(ConfigError, match=words):
        Resolver(nameserver, False, timeout, concurrency)
