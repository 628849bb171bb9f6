"""DNS over one UDP socket per address family with many queries in flight (replies matched by id, server and
question), retries within each lookup's time budget, and TCP when a reply is truncated.

Built for rate: a bulk run keeps thousands of queries in flight on one socket, where a socket per query (the
naive async path) spends its time opening and closing sockets."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import random
import socket
import struct

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rdatatype

from .answers import Answer, classify, unknown
from .parse import Malformed, parse

Server = tuple[str, int]
TRIES = 3  # sends per lookup over UDP, spread evenly over the time budget (like dig +tries=3 +time=budget/3)


def question(name: str, rdtype: str) -> bytes:
    """The question section's bytes (name, type, class IN); a name dnspython would escape goes through it."""
    labels = name.rstrip(".").split(".") if name != "." else []
    if not name.isascii() or "\\" in name or any(not 0 < len(label) < 64 for label in labels) or len(name) > 254:
        wire = dns.name.from_text(name).to_wire()
        assert wire is not None
    else:
        wire = b"".join(bytes((len(label),)) + label.encode() for label in labels) + b"\0"
    return wire + struct.pack("!HH", dns.rdatatype.from_text(rdtype), 1)


@dataclasses.dataclass
class _Waiter:
    question: bytes  # lowercase: a server may change the case of the name it echoes
    future: asyncio.Future[bytes | None]


DRAIN = 256  # replies read per wake-up at most (then the loop serves others)


def _deliver(pending: dict[tuple[int, str, int], _Waiter], data: bytes, addr: tuple[str | int, ...]) -> None:
    if len(data) < 12 or not data[2] & 0x80:
        return  # not a reply
    waiter = pending.get((int.from_bytes(data[:2], "big"), str(addr[0]), int(addr[1])))
    if waiter is None or waiter.future.done():
        return
    if data[4:6] != b"\0\1" or data[12 : 12 + len(waiter.question)].lower() != waiter.question:
        return  # a reply to another question (or forged): keep waiting for the real one
    waiter.future.set_result(data)


class Wire:
    """The sockets of one event loop. ``recursion`` sets RD (off when asking a zone's own servers).

    Each socket is read straight from the loop's selector, draining every reply that has arrived per wake-up
    (a datagram transport reads one per loop iteration, which caps the rate at the loop's iteration rate)."""

    def __init__(self) -> None:
        self._pending: dict[tuple[int, str, int], _Waiter] = {}
        self._sockets: dict[int, socket.socket] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    def _socket(self, family: int) -> socket.socket:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # a new event loop (asyncio.run again): the old loop's sockets are useless
            self.close()
            self._loop = loop
        if family not in self._sockets:
            sock = socket.socket(family, socket.SOCK_DGRAM)
            sock.setblocking(False)
            sock.bind(("::", 0) if family == socket.AF_INET6 else ("0.0.0.0", 0))
            self._sockets[family] = sock
            loop.add_reader(sock.fileno(), self._drain, sock)
        return self._sockets[family]

    def _drain(self, sock: socket.socket) -> None:
        for _ in range(DRAIN):
            try:
                data, addr = sock.recvfrom(65535)
            except OSError:  # nothing left (BlockingIOError), or an ICMP error: the lookup's timeout decides
                return
            _deliver(self._pending, data, addr)

    def close(self) -> None:
        loop_open = self._loop is not None and not self._loop.is_closed()
        for sock in self._sockets.values():
            if loop_open:
                assert self._loop is not None
                self._loop.remove_reader(sock.fileno())
            sock.close()
        self._sockets.clear()
        self._pending.clear()

    def _new_id(self, server: Server) -> int:
        for _ in range(64):
            qid = random.getrandbits(16)
            if (qid, *server) not in self._pending:
                return qid
        raise RuntimeError("no free DNS query id")  # 64 collisions in a row: 65,536 queries in flight

    async def query(self, name: str, rdtype: str, server: Server, budget: float, *, recursion: bool) -> Answer:
        """Ask ``server``, sending up to :data:`TRIES` times within ``budget`` seconds."""
        label = f"{server[0]}:{server[1]}"
        family = socket.AF_INET6 if ":" in server[0] else socket.AF_INET
        sock = self._socket(family)
        asked = question(name, rdtype)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bytes | None] = loop.create_future()
        waiter, keys, flags = _Waiter(asked.lower(), future), [], 0x0100 if recursion else 0

        def send(tries_left: int) -> None:
            if future.done():
                return
            if not tries_left:
                future.set_result(None)
                return
            qid = self._new_id(server)
            self._pending[(qid, *server)] = waiter
            keys.append((qid, *server))
            with contextlib.suppress(OSError):  # a full buffer, an unreachable network: lost, the next try resends
                sock.sendto(struct.pack("!HHHHHH", qid, flags, 1, 0, 0, 0) + asked, server)
            timers.append(loop.call_later(budget / TRIES, send, tries_left - 1))

        timers: list[asyncio.TimerHandle] = []
        deadline = loop.time() + budget
        send(TRIES)
        try:
            reply = await future
        finally:
            for timer in timers:
                timer.cancel()
            for key in keys:
                self._pending.pop(key, None)
        if reply is None:
            return unknown(name, rdtype, f"no answer from {label} within {budget:g} s", label)
        if reply[2] & 0x02:  # TC: truncated, ask again over TCP with what is left of the budget
            query = dns.message.from_wire(struct.pack("!HHHHHH", 0, flags, 1, 0, 0, 0) + asked)
            return await self._tcp(query, name, rdtype, server, deadline - loop.time())
        return _classified(name, rdtype, reply, label)

    async def _tcp(self, message: dns.message.Message, name: str, rdtype: str, server: Server, budget: float) -> Answer:
        label = f"{server[0]}:{server[1]}"
        try:
            reply = await dns.asyncquery.tcp(message, server[0], timeout=max(budget, 0.001), port=server[1])
        except (TimeoutError, dns.exception.Timeout):
            return unknown(name, rdtype, f"no answer over TCP from {label} within the time budget", label)
        except (OSError, dns.exception.DNSException) as exc:
            return unknown(name, rdtype, f"TCP to {label} failed ({type(exc).__name__})", label)
        return _classified(name, rdtype, reply.to_wire(), label)


def _classified(name: str, rdtype: str, reply: bytes, label: str) -> Answer:
    try:
        return classify(name, rdtype, parse(reply), label)
    except Malformed as exc:
        return unknown(name, rdtype, f"an unreadable reply from {label} ({exc})", label)
