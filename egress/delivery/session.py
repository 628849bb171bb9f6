"""One open SMTP session: replies read as they come, commands written, one transaction at a time.

With PIPELINING (RFC 2920) a transaction is two round trips: ``[RSET] MAIL RCPT... DATA`` in one write,
then the content and its final dot. Without it every command waits for its reply, stopping at the first
refusal that ends the transaction. A reused session sends RSET first (pipelined, so it costs no round
trip); without PIPELINING only after a transaction that did not end with the final dot's reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time

from .errors import MaybeDelivered, PolicyRefusal, SessionLost
from .model import OutcomeKind, RecipientOutcome

CLOSE_TIMEOUT = 2.0  # QUIT's reply and the TLS close: a polite close never holds the caller longer


class Session:
    """``reader``/``writer``: the connection (greeted, TLS and AUTH done by :mod:`.connect`) to ``peer``."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: str, timeout: float):
        self.reader, self.writer, self.peer, self.timeout = reader, writer, peer, timeout
        self.extensions: dict[str, str] = {}
        self.tls = False
        self.used = False  # a transaction ran on it: the next one starts with RSET (when pipelined)
        self.dirty = False  # the last transaction did not end with the final dot's reply
        self.broken = False  # lost, timed out or told to close (421): never reused
        self.idle_since = time.monotonic()
        sock = writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    async def reply(self) -> tuple[int, str]:
        """The next reply: its code and its text (lines joined by newlines). SessionLost if none comes."""
        texts: list[str] = []
        try:
            async with asyncio.timeout(self.timeout):
                while True:
                    line = await self.reader.readline()
                    if not line.endswith(b"\n"):
                        raise SessionLost("the server closed the connection")
                    if len(line) < 4 or not line[:3].isdigit() or line[3:4] not in b" -\r\n":
                        raise SessionLost(f"the server answered {line[:100]!r}, not an SMTP reply")
                    texts.append(line[4:].rstrip(b"\r\n").decode("utf-8", "replace"))
                    if line[3:4] != b"-":
                        break
        except TimeoutError:
            self.broken = True
            raise SessionLost(f"no reply within {self.timeout:g} s") from None
        except (OSError, ValueError) as exc:  # ValueError: a line over the reader's limit
            self.broken = True
            raise SessionLost(f"the connection failed: {exc or type(exc).__name__}") from None
        except SessionLost:
            self.broken = True
            raise
        code = int(line[:3])
        if code == 421:  # the server is closing the session
            self.broken = True
        return code, "\n".join(texts)

    async def send(self, data: bytes) -> None:
        try:
            self.writer.write(data)
            async with asyncio.timeout(self.timeout):
                await self.writer.drain()
        except (OSError, RuntimeError, TimeoutError) as exc:
            self.broken = True
            raise SessionLost(f"the connection failed while writing: {exc or type(exc).__name__}") from None

    async def command(self, line: str) -> tuple[int, str]:
        await self.send(line.encode() + b"\r\n")
        return await self.reply()

    async def ehlo(self, name: str) -> tuple[int, str]:
        code, text = await self.command(f"EHLO {name}")
        if code == 250:
            self.extensions = {}
            for entry in text.split("\n")[1:]:
                keyword, _, params = entry.strip().partition(" ")
                self.extensions[keyword.upper()] = params
        return code, text

    def mail_params(self, sender: str, recipients: tuple[str, ...], content: bytes, size: int) -> str:
        """MAIL FROM's parameters for this server; PolicyRefusal if it cannot take the message as it is."""
        params = []
        if "SIZE" in self.extensions:
            limit = self.extensions["SIZE"]
            if limit.isdigit() and 0 < int(limit) < size:
                raise PolicyRefusal(f"the message ({size} bytes) is over the server's SIZE limit {limit}")
            params.append(f"SIZE={size}")
        if not content.isascii():
            if "8BITMIME" not in self.extensions:
                raise PolicyRefusal(
                    "the message holds 8-bit bytes and the server does not offer 8BITMIME (RFC 6152 forbids "
                    "sending them; encode the message's parts as quoted-printable or base64)"
                )
            params.append("BODY=8BITMIME")
        if not (sender + "".join(recipients)).isascii():
            if "SMTPUTF8" not in self.extensions:
                raise PolicyRefusal("an address is not ASCII and the server does not offer SMTPUTF8")
            params.append("SMTPUTF8")
        return "".join(" " + p for p in params)

    async def transaction(
        self, sender: str, recipients: tuple[str, ...], data: bytes, size: int
    ) -> list[RecipientOutcome]:
        """Send one message (``data``: dot-stuffed, ending with the final dot; ``size``: the message's own)
        to ``recipients``; an outcome each. SessionLost before the final dot went out (nothing accepted),
        MaybeDelivered after it."""
        head = [f"MAIL FROM:<{sender}>{self.mail_params(sender, recipients, data, size)}"]
        head += [f"RCPT TO:<{r}>" for r in recipients]
        pipelining = "PIPELINING" in self.extensions
        rset = self.used if pipelining else self.dirty
        self.used = self.dirty = True
        go: tuple[int, str] | None
        if pipelining:
            await self.send("".join(c + "\r\n" for c in ["RSET"] * rset + [*head, "DATA"]).encode())
            if rset:
                self._check(await self.reply())
            replies = [self._check(await self.reply()) for _ in head]
            go = self._check(await self.reply())
        else:
            if rset:
                self._check(await self.command("RSET"))
            replies = [self._check(await self.command(head[0]))]
            if replies[0][0] // 100 == 2:
                replies += [self._check(await self.command(c)) for c in head[1:]]
            go = self._check(await self.command("DATA")) if any(c // 100 == 2 for c, _ in replies[1:]) else None
        mail, rcpts = replies[0], replies[1:] or [replies[0]] * len(recipients)
        if mail[0] // 100 != 2:
            rcpts = [mail] * len(recipients)
        accepted = [r for r, (c, _) in zip(recipients, rcpts, strict=True) if c // 100 == 2]
        outcomes = {r: _outcome(r, *reply) for r, reply in zip(recipients, rcpts, strict=True) if r not in accepted}
        if go is not None and go[0] == 354 and (mail[0] // 100 != 2 or not accepted):
            await self.send(b".\r\n")  # RFC 2920 3.1: DATA accepted though the envelope was not: send nothing
            await self.reply()
        elif go is not None and go[0] != 354:
            outcomes.update({r: _outcome(r, *go) for r in accepted})
        elif accepted:
            try:  # once any of the content is written, the final dot may have reached the server
                await self.send(data)
                final = await self.reply()
            except SessionLost as exc:
                raise MaybeDelivered(exc.reason) from None
            outcomes.update({r: _outcome(r, *final) for r in accepted})
            self.dirty = False
        return [outcomes[r] for r in recipients]

    def _check(self, reply: tuple[int, str]) -> tuple[int, str]:
        if reply[0] == 421:  # before the final dot: nothing was accepted, the session is over
            raise SessionLost(f"the server closed the session: 421 {reply[1]}", 421)
        return reply

    async def close(self, polite: bool) -> None:
        """QUIT (``polite``) and close, never taking more than CLOSE_TIMEOUT; aborted otherwise."""
        self.broken = True
        if polite:
            with contextlib.suppress(OSError, RuntimeError, TimeoutError, SessionLost):
                async with asyncio.timeout(CLOSE_TIMEOUT):
                    self.writer.write(b"QUIT\r\n")
                    await self.reader.readline()
                    self.writer.close()
                    await self.writer.wait_closed()
                    return
        self.writer.transport.abort()


def _outcome(recipient: str, code: int, text: str) -> RecipientOutcome:
    kind: OutcomeKind = "delivered" if code // 100 == 2 else "failed" if code >= 500 else "deferred"
    return RecipientOutcome(recipient, kind, code, text)
