"""DNS over one UDP socket per address family with many queries in flight (replies matched by id, server and
question), retries within each lookup's time budget, and TCP when a reply is truncated.

Built for rate: a bulk run keeps thousands of queries in flight on one socket, where a socket per query (the
naive async path) spends its time opening and closing sockets."""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import random
import socket

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rdatatype

from .answers import Answer, classify, unknown

Server = tuple[str, int]
TRIES = 3  # sends per lookup over UDP, spread evenly over the time budget (like dig +tries=3 +time=budget/3)


@dataclasses.dataclass
class _Waiter:
    question: tuple[dns.name.Name, int]
    future: asyncio.Future[dns.message.Message]


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, pending: dict[tuple[int, str, int], _Waiter]) -> None:
        self.pending = pending

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        if len(data) < 12:
            return
        waiter = self.pending.get((int.from_bytes(data[:2], "big"), str(addr[0]), int(addr[1])))
        if waiter is None or waiter.future.done():
            return
        try:
            reply = dns.message.from_wire(data)
        except dns.exception.DNSException:
            return  # garbage or a forged reply: keep waiting for the real one
        if not reply.question or (reply.question[0].name, reply.question[0].rdtype) != waiter.question:
            return
        waiter.future.set_result(reply)

    def error_received(self, exc: Exception) -> None:
        pass  # ICMP unreachable and the like: the lookup's own timeout decides


class Wire:
    """The sockets of one event loop. ``recursion`` sets RD (off when asking a zone's own servers)."""

    def __init__(self) -> None:
        self._pending: dict[tuple[int, str, int], _Waiter] = {}
        self._transports: dict[int, asyncio.DatagramTransport] = {}
        self._sockets: list[socket.socket] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    async def _transport(self, family: int) -> asyncio.DatagramTransport:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # a new event loop (asyncio.run again): the old loop's sockets are useless
            self.close()
            self._loop = loop
        if family not in self._transports:
            sock = socket.socket(family, socket.SOCK_DGRAM)
            sock.setblocking(False)
            sock.bind(("::", 0) if family == socket.AF_INET6 else ("0.0.0.0", 0))
            self._sockets.append(sock)
            transport, _ = await loop.create_datagram_endpoint(lambda: _Protocol(self._pending), sock=sock)
            self._transports[family] = transport
        return self._transports[family]

    def close(self) -> None:
        if self._loop is not None and not self._loop.is_closed():
            for transport in self._transports.values():
                transport.close()
        for sock in self._sockets:
            sock.close()
        self._transports.clear()
        self._sockets.clear()
        self._pending.clear()

    def _new_id(self, server: Server) -> int:
        for _ in range(64):
            qid = random.getrandbits(16)
            if (qid, *server) not in self._pending:
                return qid
        raise RuntimeError("no free DNS query id")  # 64 collisions in a row: 65,536 queries in flight

    async def query(self, name: str, rdtype: str, server: Server, budget: float, *, recursion: bool) -> Answer:
        """Ask ``server`` once, resending up to :data:`TRIES` times within ``budget`` seconds."""
        label = f"{server[0]}:{server[1]}"
        family = socket.AF_INET6 if ipaddress.ip_address(server[0]).version == 6 else socket.AF_INET
        transport = await self._transport(family)
        qname, qtype = dns.name.from_text(name), dns.rdatatype.from_text(rdtype)
        message = dns.message.make_query(qname, qtype)
        if not recursion:
            message.flags &= ~dns.flags.RD
        loop = asyncio.get_running_loop()
        future: asyncio.Future[dns.message.Message] = loop.create_future()
        waiter, keys = _Waiter((qname, qtype), future), []
        deadline = loop.time() + budget
        try:
            for attempt in range(TRIES):
                message.id = self._new_id(server)
                key = (message.id, *server)
                self._pending[key] = waiter
                keys.append(key)
                transport.sendto(message.to_wire(), server)
                wait = min(budget / TRIES, deadline - loop.time()) if attempt < TRIES - 1 else deadline - loop.time()
                done, _ = await asyncio.wait({future}, timeout=max(wait, 0))
                if done:
                    break
            else:
                return unknown(name, rdtype, f"no answer from {label} within {budget:g} s", label)
        finally:
            for key in keys:
                self._pending.pop(key, None)
        reply = future.result()
        if reply.flags & dns.flags.TC:
            return await self._tcp(message, name, rdtype, server, deadline - loop.time())
        return classify(name, rdtype, reply, label)

    async def _tcp(self, message: dns.message.Message, name: str, rdtype: str, server: Server, budget: float) -> Answer:
        label = f"{server[0]}:{server[1]}"
        try:
            reply = await dns.asyncquery.tcp(message, server[0], timeout=max(budget, 0.001), port=server[1])
        except (TimeoutError, dns.exception.Timeout):
            return unknown(name, rdtype, f"no answer over TCP from {label} within the time budget", label)
        except (OSError, dns.exception.DNSException) as exc:
            return unknown(name, rdtype, f"TCP to {label} failed ({type(exc).__name__})", label)
        return classify(name, rdtype, reply, label)
