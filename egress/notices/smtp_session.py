"""One SMTP session of :mod:`smtp_egress.notices.smtp_pool`: what it wrote, what it waits for, its replies.

A session writes the commands queued on it, with PIPELINING all at once (a group ends with DATA or with a
message's content, as RFC 2920 requires), without it one at a time, each after the previous reply; it
remembers, in order, what each reply will answer. It knows how a transaction and a reply are written,
nothing of retries or of which message comes next.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import smtplib
import socket
import ssl
import time

from ..errors import DeliveryError


@dataclasses.dataclass(eq=False, slots=True)
class Message:
    """One message: ``key`` is the caller's, handed back with the outcome."""

    key: object
    sender: str
    recipient: str
    head: bytes  # the message is head + body; messages that share a body object share its preparation
    body: bytes = b""
    tries: int = 0
    unsure: bool = False  # its last byte went out on a session lost before the answer
    error: DeliveryError | None = None  # the refusal of its MAIL or RCPT, while its DATA is answered


# What a reply answers: the envelope's three commands, the content (its final dot), or a command whose
# reply does not matter (RSET, the empty message sent when DATA was accepted although the envelope was not).
MAIL, RCPT, DATA, DOT, VOID = range(5)


class Session:
    """An open session (``smtp``: greeted, TLS and AUTH done); ``timeout``: how long a reply may take."""

    def __init__(self, smtp: smtplib.SMTP, timeout: float):
        assert smtp.sock is not None  # an open session
        self.smtp = smtp
        self.sock: socket.socket = smtp.sock
        self.tls: ssl.SSLSocket | None = smtp.sock if isinstance(smtp.sock, ssl.SSLSocket) else None
        with contextlib.suppress(OSError):  # every write is a whole group of commands: send it at once
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.pipelining = smtp.has_extn("pipelining")
        self.size = smtp.has_extn("size")
        self.utf8 = smtp.has_extn("smtputf8")
        self.timeout = timeout
        self.deadline = 0.0
        self.buf = b""
        self.expect: collections.deque[tuple[int, Message | None]] = collections.deque()  # written, unanswered
        self.queued: collections.deque[tuple[bytes, int, Message | None]] = collections.deque()  # not yet written

    @property
    def idle(self) -> bool:
        return not self.expect and not self.queued

    def envelope(self, m: Message) -> None:
        utf8 = not (m.sender + m.recipient).isascii()
        params = (f" SIZE={len(m.head) + len(m.body)}" if self.size else "") + (" SMTPUTF8" if utf8 else "")
        self.queued.append((f"MAIL FROM:<{m.sender}>{params}\r\n".encode(), MAIL, m))
        self.queued.append((f"RCPT TO:<{m.recipient}>\r\n".encode(), RCPT, m))
        self.queued.append((b"DATA\r\n", DATA, m))

    def content(self, m: Message, body: bytes | None) -> None:
        """Queue ``m``'s content and final dot; ``body``: ``stuffed(b"", m.body)`` when its head ends a line."""
        self.queued.append((stuffed(m.head, m.body) if body is None else _stuff(m.head) + body, DOT, m))

    def void(self, command: bytes) -> None:
        self.queued.append((command, VOID, None))

    def flush(self) -> None:
        """Write what is queued: all of it with PIPELINING (it always ends with DATA or a content), else the
        next command once every written one is answered. OSError if the connection fails."""
        if not self.queued or (self.expect and not self.pipelining):
            return
        take = len(self.queued) if self.pipelining else 1
        out = []
        for _ in range(take):
            command, kind, m = self.queued.popleft()
            out.append(command)
            self.expect.append((kind, m))
        self.sock.sendall(b"".join(out) if len(out) > 1 else out[0])
        self.deadline = time.monotonic() + self.timeout

    def replies(self) -> list[tuple[int, bytes]]:
        """Read what arrived: each complete reply (code, text). OSError or EOFError if the connection is lost."""
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("the server closed the connection")
        while self.tls is not None and self.tls.pending():  # records already read from the socket, decrypted
            data += self.tls.recv(65536)
        lines = (self.buf + data if self.buf else data).split(b"\r\n")
        self.buf = lines.pop()  # what follows the last CRLF: the start of a reply still arriving
        self.deadline = time.monotonic() + self.timeout
        out = []
        first = 0  # the first line of the reply being read
        for i, line in enumerate(lines):
            if line[3:4] == b"-":
                continue
            if not line[:3].isdigit():
                raise EOFError(f"the server answered {line[:100]!r}, not an SMTP reply")
            text = line[4:] if first == i else b"\n".join(x[4:] for x in lines[first : i + 1])
            out.append((int(line[:3]), text))
            first = i + 1
        if first < len(lines):  # a multiline reply not yet complete
            self.buf = b"\r\n".join([*lines[first:], self.buf])
        return out

    def unanswered(self) -> list[tuple[Message, bool]]:
        """The messages this session still holds, each with whether its content went out."""
        seen: dict[int, tuple[Message, bool]] = {}
        for kind, m in self.expect:
            if m is not None:
                sent = seen.get(id(m), (m, False))[1] or kind == DOT
                seen[id(m)] = (m, sent)
        for _, _, m in self.queued:
            if m is not None and id(m) not in seen:
                seen[id(m)] = (m, False)
        return list(seen.values())

    def close(self, polite: bool) -> None:
        if polite:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                self.smtp.quit()
        self.smtp.close()


def stuffed(head: bytes, body: bytes) -> bytes:
    """``head + body`` as DATA sends it: every dot that starts a line doubled (RFC 5321 4.5.2), then CRLF.CRLF."""
    data = head + body
    return _stuff(data) + (b".\r\n" if data.endswith(b"\r\n") else b"\r\n.\r\n")


def _stuff(data: bytes) -> bytes:
    data = data.replace(b"\n.", b"\n..")
    return b"." + data if data.startswith(b".") else data
