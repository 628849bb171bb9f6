"""TEST-ONLY stand-in for smtp_egress.delivery.Deliverer (the real client is built separately): the same
interface, on smtplib in threads, one reused connection per server. Used only by the worker's tests, so the loop
runs against real aiosmtpd + trustme servers. No guard, no pinning, no pipelining: not for production."""

from __future__ import annotations

import asyncio
import contextlib
import smtplib
import socket
import ssl

from smtp_egress.delivery.model import Delivery, Envelope, RecipientOutcome
from smtp_egress.smtp.model import SmtpServer


def _kind(code: int) -> str:
    return "delivered" if 200 <= code < 300 else "deferred" if 400 <= code < 500 else "failed"


class StandInDeliverer:
    def __init__(self, *, ca_file: str | None = None, timeout: float = 10.0, **_ignored: object):
        self.ca_file, self.timeout = ca_file, timeout
        self._connections: dict[str, smtplib.SMTP] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self.sessions = 0  # connections opened
        self._busy: set[str] = set()  # labels whose connection a thread is using

    def _connect(self, server: SmtpServer) -> smtplib.SMTP:
        context = ssl.create_default_context(cafile=self.ca_file)
        if server.security == "implicit-tls":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(server.host, server.port, timeout=self.timeout, context=context)
        else:
            smtp = smtplib.SMTP(server.host, server.port, timeout=self.timeout)
            smtp.starttls(context=context)
        if server.username and server.password:
            smtp.login(server.username, server.password.value)
        self.sessions += 1
        return smtp

    def _send(self, server: SmtpServer, envelope: Envelope, message: bytes) -> Delivery:
        self._busy.add(server.label)
        try:
            return self._transaction(server, envelope, message)
        finally:
            self._busy.discard(server.label)

    def _transaction(self, server: SmtpServer, envelope: Envelope, message: bytes) -> Delivery:
        sent = message.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        try:
            smtp = self._connections.get(server.label)
            if smtp is None:
                smtp = self._connections[server.label] = self._connect(server)
            else:
                smtp.rset()
            code, reply = smtp.mail(envelope.sender)
            if code >= 300:
                return self._all(envelope, _kind(code), code, reply.decode(), sent, server)
            refused = {}
            for r in envelope.recipients:
                code, reply = smtp.rcpt(r)
                if code >= 300:
                    refused[r] = (code, reply.decode())
            accepted = [r for r in envelope.recipients if r not in refused]
            outcomes = [RecipientOutcome(r, _kind(c), c, t) for r, (c, t) in refused.items()]
            if accepted:
                code, reply = smtp.data(sent)
                outcomes += [RecipientOutcome(r, _kind(code), code, reply.decode()) for r in accepted]
            else:
                smtp.rset()
            return Delivery(tuple(outcomes), sent, server.label, f"{server.host}:{server.port}")
        except (smtplib.SMTPException, OSError) as exc:
            self._connections.pop(server.label, None)
            return self._all(envelope, "deferred", None, f"connection trouble: {exc}", b"", server)

    @staticmethod
    def _all(envelope: Envelope, kind: str, code: int | None, reply: str, sent: bytes, server: SmtpServer) -> Delivery:
        outcomes = tuple(RecipientOutcome(r, kind, code, reply) for r in envelope.recipients)  # type: ignore[arg-type]
        return Delivery(outcomes, sent, server.label)

    async def deliver(self, server: SmtpServer, envelope: Envelope, message: bytes) -> Delivery:
        lock = self._locks.setdefault(server.label, asyncio.Lock())
        async with lock:
            return await asyncio.to_thread(self._send, server, envelope, message)

    async def aclose(self) -> None:
        """Quit idle sessions; cut a busy one (a cancelled delivery's thread is still reading from it)."""
        for label, smtp in list(self._connections.items()):
            with contextlib.suppress(smtplib.SMTPException, OSError, ValueError):
                if label in self._busy and smtp.sock is not None:
                    smtp.sock.shutdown(socket.SHUT_RDWR)
                else:
                    smtp.quit()
        self._connections.clear()
