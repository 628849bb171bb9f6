"""Real SMTP servers for the delivery client: aiosmtpd with trustme certificates on 127.0.0.1 (implicit TLS,
STARTTLS + AUTH, plain), and a scripted server for what aiosmtpd can't be made to do (drop the connection
at a chosen point, show how commands arrive)."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import ssl
from collections.abc import Callable

import pytest

from .helpers import PASSWORD, USER


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_context(ca, *names: str, sni: list[str] | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*names).configure_cert(ctx)
    if sni is not None:
        ctx.sni_callback = lambda _sock, name, _ctx: sni.append(name)  # type: ignore[assignment,misc,return-value]
    return ctx


@dataclasses.dataclass
class Got:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    peer: tuple
    login: bytes | None
    mail_options: list[str]


class Handler:
    """Accepts every message; RCPT to reject550@/defer451@/close421@ gets that answer, DATA answers
    ``data_reply`` when set. ``offer`` = False hides STARTTLS; ``eightbit`` = False hides 8BITMIME."""

    def __init__(self, pipelining: bool = False):
        self.pipelining = pipelining
        self.offer_starttls = True
        self.eightbit = True
        self.data_reply: str | None = None
        self.messages: list[Got] = []
        self.peers: set[tuple] = set()  # one per connection
        self.logins: list[tuple[bytes, bytes]] = []
        self.quits = 0
        self.rsets = 0

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        self.peers.add(session.peer)
        if self.pipelining:
            responses.insert(1, "250-PIPELINING")
        drop = {"250-STARTTLS"} if not self.offer_starttls else set()
        drop |= {"250-8BITMIME"} if not self.eightbit else set()
        return [r for r in responses if r not in drop]

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@", 1)[0]
        for code in ("550", "451", "421"):
            if local.endswith(code):
                return f"{code} {code[0]}.0.0 answered {code} by design"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.data_reply:
            return self.data_reply
        login = getattr(session.auth_data, "login", None) if session.auth_data else None
        self.messages.append(
            Got(
                envelope.mail_from,
                list(envelope.rcpt_tos),
                envelope.original_content,
                session.peer,
                login,
                list(envelope.mail_options),
            )
        )
        return "250 2.0.0 queued as 42"

    async def handle_RSET(self, server, session, envelope):
        self.rsets += 1
        return "250 OK"

    async def handle_QUIT(self, server, session, envelope):
        self.quits += 1
        return "221 Bye"

    def authenticator(self, server, session, envelope, mechanism, auth_data):
        from aiosmtpd.smtp import AuthResult

        self.logins.append((auth_data.login, auth_data.password))
        ok = auth_data.login == USER.encode() and auth_data.password == PASSWORD.encode()
        return AuthResult(success=ok, auth_data=auth_data if ok else None, handled=False)


KINDS = {  # aiosmtpd's options per kind of server (ctx: its TLS context)
    "starttls": lambda ctx: dict(tls_context=ctx, require_starttls=True, auth_required=True),
    # aiosmtpd does not mark implicit TLS sessions as TLS: AUTH allowed "without" it
    "implicit": lambda ctx: dict(ssl_context=ctx, auth_required=True, auth_require_tls=False),
    "optional": lambda ctx: dict(tls_context=ctx, require_starttls=False),  # STARTTLS offered unless hidden
}


@dataclasses.dataclass
class Sink:
    handler: Handler
    port: int
    sni: list[str]


@pytest.fixture
def sink(ca):
    """``sink(kind, **options)``: an aiosmtpd server on 127.0.0.1. kind "starttls" (AUTH required after
    STARTTLS), "implicit" (TLS from the first byte, AUTH), "optional" (STARTTLS offered, not required;
    AUTH inside TLS). Options:
    pipelining, names (the certificate's), cert_ca (another CA), and aiosmtpd's own (timeout...)."""
    from aiosmtpd.controller import Controller

    controllers = []

    def start(
        kind: str,
        *,
        pipelining: bool = False,
        names: tuple[str, ...] = ("127.0.0.1", "localhost"),
        cert_ca=None,
        **server_kwargs,
    ) -> Sink:
        handler = Handler(pipelining)
        sni: list[str] = []
        ctx = server_context(cert_ca or ca, *names, sni=sni)
        port = free_port()
        kwargs = dict(hostname="127.0.0.1", port=port, authenticator=handler.authenticator, **server_kwargs)
        kwargs.update(KINDS[kind](ctx))
        controller = Controller(handler, **kwargs)
        controller.start()
        controllers.append(controller)
        sni.clear()  # the controller's own readiness check connected without SNI
        handler.peers.clear()
        return Sink(handler, port, sni)

    yield start
    for controller in controllers:
        controller.stop()


Script = Callable[[int, str], "bytes | None"]


@dataclasses.dataclass
class Scripted:
    """A server answering each line with ``script(connection number, line)``: bytes to write, or None to
    drop the connection. Content after 354 is read until ``drop_after`` bytes (then dropped) or the dot."""

    port: int
    lines: list[tuple[int, str]] = dataclasses.field(default_factory=list)
    reads: list[bytes] = dataclasses.field(default_factory=list)
    connections: int = 0
    contents: list[bytes] = dataclasses.field(default_factory=list)


@pytest.fixture
def scripted(server_tls):
    """``async with scripted(script, drop_after=None)``: a server on 127.0.0.1 speaking implicit TLS
    (certificate for 127.0.0.1 and localhost) in the running loop."""
    import contextlib

    @contextlib.asynccontextmanager
    async def run(script: Script, drop_after: int | None = None):
        state = Scripted(free_port())

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            state.connections += 1
            number = state.connections
            writer.write(b"220 scripted ESMTP\r\n")
            buf, content = b"", None  # content: the DATA being read, None while reading commands
            try:
                while chunk := await reader.read(65536):
                    state.reads.append(chunk)  # each read: what one or more writes of the client carried
                    buf += chunk
                    while True:
                        if content is not None:
                            content, buf = content + buf, b""
                            if drop_after is not None and len(content) >= drop_after:
                                return
                            if not (content == b".\r\n" or content.endswith(b"\r\n.\r\n")):
                                break
                            state.contents.append(content)
                            writer.write(b"250 2.0.0 accepted\r\n")
                            content = None
                        if b"\r\n" not in buf:
                            break
                        line, buf = buf.split(b"\r\n", 1)
                        state.lines.append((number, line.decode()))
                        answer = script(number, line.decode())
                        if answer is None:
                            return
                        writer.write(answer)
                        content = b"" if answer.startswith(b"354") else None
            finally:
                writer.transport.abort()

        server = await asyncio.start_server(serve, "127.0.0.1", state.port, ssl=server_tls)
        try:
            yield state
        finally:
            server.close()

    return run


def ehlo_reply(*extensions: str) -> bytes:
    lines = ["scripted", *extensions]
    return b"".join(f"250{'-' if i < len(lines) - 1 else ' '}{x}\r\n".encode() for i, x in enumerate(lines))
