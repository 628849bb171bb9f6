"""Real name servers on loopback for the DNS checks: knotd serving every diagnosis's zone at 127.0.0.1 and
127.0.0.21 (ns1.multi.test), a second knotd at 127.0.0.22 (ns2.multi.test) whose multi.test is behind, a UDP
socket that never answers, and a scripted server for what knotd refuses to serve."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator

import dns.message
import dns.rrset
import pytest

from smtp_egress.checks.domains import Resolver

from .knot import Knot, free_port
from .zones import BROKEN, MULTI_BEHIND, ZONES

MAIN = ("127.0.0.1", "127.0.0.21")
BEHIND = ("127.0.0.22",)


@pytest.fixture(scope="session")
def knot_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    port = free_port(MAIN + BEHIND)
    main = Knot(tmp_path_factory.mktemp("knot-main"), MAIN, port)
    main.write(ZONES, BROKEN)
    behind = Knot(tmp_path_factory.mktemp("knot-behind"), BEHIND, port)
    behind.write(MULTI_BEHIND)
    main.start()
    try:
        behind.start()
        yield port
    finally:
        main.stop()
        behind.stop()


@pytest.fixture
def resolver(knot_port: int) -> Callable[..., Resolver]:
    def make(*, authoritative: bool = False, timeout: float = 2.0, concurrency: int = 50) -> Resolver:
        return Resolver(("127.0.0.1", knot_port), authoritative, timeout, concurrency)

    return make


@pytest.fixture
def silent_server() -> Iterator[tuple[str, int]]:
    """A bound UDP socket that reads nothing and answers nothing: every lookup to it times out."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield ("127.0.0.1", sock.getsockname()[1])


@pytest.fixture
def scripted_server() -> Iterator[Callable[[dict[tuple[str, str], list[str]]], tuple[str, int]]]:
    """A UDP name server answering from a script {(name, type): ["owner ttl IN TYPE value", ...]} (NXDOMAIN for
    the rest), for answers knotd and nsd refuse to serve (a CNAME beside other data)."""
    stop = threading.Event()
    threads = []

    def start(script: dict[tuple[str, str], list[str]]) -> tuple[str, int]:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(0.1)

        def serve() -> None:
            with sock:
                while not stop.is_set():
                    try:
                        data, peer = sock.recvfrom(4096)
                    except TimeoutError:
                        continue
                    query = dns.message.from_wire(data)
                    question = query.question[0]
                    reply = dns.message.make_response(query)
                    lines = script.get((question.name.to_text().lower(), dns.rdatatype.to_text(question.rdtype)))
                    if lines is None:
                        reply.set_rcode(dns.rcode.NXDOMAIN)
                    for line in lines or []:
                        reply.answer.append(dns.rrset.from_text(*line.split(maxsplit=4)))
                    sock.sendto(reply.to_wire(), peer)

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        threads.append(thread)
        return ("127.0.0.1", sock.getsockname()[1])

    yield start
    stop.set()
    for thread in threads:
        thread.join(5)
