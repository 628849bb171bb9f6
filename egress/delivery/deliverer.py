"""The delivery client the worker drives: one message through one server, over pooled sessions.

Sessions are pooled per server (its settings, credentials included, make the key) and reused across
messages: at most ``connections_per_server`` at once, the most recently used first, closed politely (QUIT)
once idle for ``idle_timeout`` (checked at each delivery) or at :meth:`Deliverer.aclose`. Each new session
resolves and checks the host again (:func:`~smtp_egress.smtp.guard.checked_addresses`) and connects to
an address that check returned (:mod:`.connect`).

Outcomes, one per recipient: RCPT refusals per recipient (4xx deferred, 5xx failed); the reply to DATA or
to the final dot applies to every accepted recipient; a refused destination (private address, port 25), a
malformed message or a server unable to take it as it is: failed ("policy"); a host that does not resolve,
a session that cannot be opened, TLS that cannot be had: deferred (AUTH and greeting refusals by their
code). A session lost before the final dot went out (often a pooled session the server closed) is
discarded and the message tried once more on a fresh one; lost after it, the recipients are deferred with
a reply holding :data:`MAYBE_ACCEPTED` (the message may have been accepted): sending it again may deliver it
twice, so that is the worker's decision, not made here.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable

from ..smtp.guard import RefusedDestination, UnresolvableHost, checked_addresses
from ..smtp.model import SmtpServer
from .connect import open_session
from .errors import MaybeDelivered, PolicyRefusal, SessionError, SessionLost
from .message import checked_address, normalised, stuffed
from .model import Delivery, Envelope, OutcomeKind, RecipientOutcome
from .session import Session
from .tls import TlsContexts

MAYBE_ACCEPTED = "it may have been accepted"  # in the reply of a deferral after the final dot went out
_Key = tuple[str, str, str, int, str, str | None, str | None, str, bool]


class _Pool:
    def __init__(self, size: int):
        self.slot = asyncio.Semaphore(size)  # sessions in use at once
        self.idle: list[Session] = []  # open, waiting for a message; the last one was used last


class Deliverer:
    """Delivers messages through customers' SMTP servers (module docstring). ``allow_private``: loopback
    and private addresses may be reached (tests, labs); ``source_address``: the local address to bind to;
    ``timeout``: seconds for a connection, a TLS handshake or a reply; ``ca_file``: the CAs that verify
    certificates instead of the system's; ``on_tls_seen(server)``: called the first time a server that was
    not yet pinned is seen with TLS (the caller records the pin; this process pins it at once; what it
    raises goes to the caller of :meth:`deliver`). One instance serves one event loop."""

    def __init__(
        self,
        *,
        allow_private: bool = False,
        source_address: str | None = None,
        connections_per_server: int = 4,
        timeout: float = 60.0,
        ca_file: str | None = None,
        on_tls_seen: Callable[[SmtpServer], None] | None = None,
        idle_timeout: float = 30.0,
        ehlo_name: str | None = None,
    ):
        self.allow_private, self.source_address, self.timeout = allow_private, source_address, timeout
        self.connections_per_server, self.idle_timeout = max(1, connections_per_server), idle_timeout
        self.on_tls_seen = on_tls_seen
        self.ehlo_name = ehlo_name or socket.gethostname() or "localhost"
        self._contexts = TlsContexts(ca_file)
        self._pools: dict[_Key, _Pool] = {}
        self._seen: set[tuple[str, str, str, int]] = set()  # servers seen with TLS in this process
        self._closing: set[asyncio.Task[None]] = set()
        self._swept = time.monotonic()

    async def deliver(self, server: SmtpServer, envelope: Envelope, message: bytes) -> Delivery:
        """Send ``message`` to ``envelope``'s recipients through ``server``: one outcome per recipient."""
        try:
            for address in (envelope.sender, *envelope.recipients):
                checked_address(address, "sender" if address is envelope.sender else "recipient")
            sent = normalised(message)
        except PolicyRefusal as exc:
            return _everyone(server, envelope, exc, f"policy: {exc.reason}", b"", None)
        if not envelope.recipients:
            return Delivery((), sent, server.label)
        data = stuffed(sent)
        self._sweep()
        pool = self._pools.setdefault(_key(server), _Pool(self.connections_per_server))
        async with pool.slot:
            for fresh in (False, True):
                session = None if fresh else self._take(pool)
                try:
                    session = session or await self._open(server)
                    outcomes = await session.transaction(envelope.sender, envelope.recipients, data, len(sent))
                except PolicyRefusal as exc:
                    self._put(pool, session)
                    return _everyone(server, envelope, exc, f"policy: {exc.reason}", sent, _peer(session))
                except MaybeDelivered as exc:
                    self._put(pool, session)
                    why = (
                        f"{server.label} at {_peer(session)}: the connection was lost after the whole message went "
                        f"out, before the server answered ({exc.reason}): {MAYBE_ACCEPTED}, and sending it again "
                        "may deliver it twice"
                    )
                    return _everyone(server, envelope, exc, why, sent, _peer(session))
                except SessionLost as exc:
                    self._put(pool, session)
                    if session is not None and not fresh:
                        continue  # nothing of this message was accepted: once more on a fresh session
                    why = f"{server.label} at {_peer(session)}: {exc.reason}"
                    return _everyone(server, envelope, exc, why, sent, _peer(session))
                except SessionError as exc:
                    self._put(pool, session)
                    return _everyone(server, envelope, exc, exc.reason, sent, _peer(session))
                except BaseException:  # cancelled: the session's state is unknown
                    if session is not None:
                        session.broken = True
                    self._put(pool, session)
                    raise
                self._put(pool, session)
                return Delivery(tuple(outcomes), sent, server.label, session.peer)
        raise AssertionError("unreachable")  # pragma: no cover

    async def aclose(self) -> None:
        """QUIT every idle session (each within a couple of seconds) and wait for the closes under way."""
        for pool in self._pools.values():
            while pool.idle:
                self._close(pool.idle.pop())
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)

    async def _open(self, server: SmtpServer) -> Session:
        try:
            addresses = await asyncio.to_thread(
                checked_addresses, server.host, server.port, allow_private=self.allow_private
            )
        except RefusedDestination as exc:
            raise PolicyRefusal(str(exc)) from None
        except UnresolvableHost as exc:
            raise SessionError(f"{server.label}: {exc}") from None
        seen = (server.workspace_id, server.server_id, server.host, server.port)
        session = await open_session(
            server,
            addresses,
            contexts=self._contexts,
            pinned=server.tls_pinned or seen in self._seen,
            timeout=self.timeout,
            ehlo_name=self.ehlo_name,
            source_address=self.source_address,
        )
        if session.tls and seen not in self._seen:
            self._seen.add(seen)
            if not server.tls_pinned and self.on_tls_seen is not None:
                try:
                    self.on_tls_seen(server)
                except BaseException:
                    await session.close(polite=False)
                    raise
        return session

    def _take(self, pool: _Pool) -> Session | None:
        while pool.idle:
            session = pool.idle.pop()
            if not session.broken and not session.reader.at_eof():
                return session
            self._close(session)
        return None

    def _put(self, pool: _Pool, session: Session | None) -> None:
        if session is None:
            return
        if session.broken:
            self._close(session, polite=False)
        else:
            session.idle_since = time.monotonic()
            pool.idle.append(session)

    def _sweep(self) -> None:
        now = time.monotonic()
        if now - self._swept < min(1.0, self.idle_timeout):
            return
        self._swept = now
        for pool in self._pools.values():
            expired = [s for s in pool.idle if now - s.idle_since >= self.idle_timeout]
            pool.idle = [s for s in pool.idle if s not in expired]
            for session in expired:
                self._close(session)

    def _close(self, session: Session, polite: bool = True) -> None:
        task = asyncio.get_running_loop().create_task(session.close(polite=polite and not session.broken))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)


def _key(server: SmtpServer) -> _Key:
    password = server.password.value if server.password is not None else None
    return (server.workspace_id, server.server_id, server.host, server.port, server.security, server.username,
            password, server.certificate, server.require_tls)  # fmt: skip


def _peer(session: Session | None) -> str | None:
    return session.peer if session is not None else None


def _everyone(
    server: SmtpServer, envelope: Envelope, exc: SessionError, reply: str, sent: bytes, peer: str | None
) -> Delivery:
    kind: OutcomeKind = "failed" if exc.permanent else "deferred"
    outcomes = tuple(RecipientOutcome(r, kind, exc.code, reply) for r in envelope.recipients)
    return Delivery(outcomes, sent, server.label, peer)
