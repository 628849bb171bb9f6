"""Opening a session to one server: TCP to a checked address, greeting, EHLO, TLS, AUTH.

The host was resolved and checked by the caller (:func:`smtp_egress.smtp.guard.checked_addresses`); this
connects to those addresses, in order, and never resolves the name again (no DNS rebinding), binding to
``source_address`` first when one is given. TLS uses the host name for SNI and verification
(:mod:`.tls`). ``implicit-tls`` speaks TLS from the first byte; ``starttls`` upgrades whenever STARTTLS is
offered, and without it the session is refused when the server requires TLS or was once seen with it
(``pinned``: no silent downgrade). AUTH (PLAIN, else LOGIN) only ever goes inside TLS.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import socket
import ssl
from collections.abc import Sequence

from ..masking import excerpt
from ..smtp.model import SmtpServer
from .errors import AuthFailure, ServerRefused, SessionError, SessionLost, TlsFailure
from .session import Session
from .tls import TlsContexts, check_fingerprint, describe


async def open_session(
    server: SmtpServer,
    addresses: Sequence[str],
    *,
    contexts: TlsContexts,
    pinned: bool,
    timeout: float,
    ehlo_name: str,
    source_address: str | None = None,
) -> Session:
    """A greeted session on one of ``addresses``, TLS and AUTH done as ``server`` says (module docstring)."""
    sock, peer = await _dial(server, addresses, timeout, source_address)
    ctx = contexts.context(server)
    try:
        async with asyncio.timeout(timeout):
            if server.security == "implicit-tls":
                reader, writer = await asyncio.open_connection(
                    sock=sock, ssl=ctx, server_hostname=server.host, ssl_handshake_timeout=timeout
                )
            else:
                reader, writer = await asyncio.open_connection(sock=sock)
    except (ssl.SSLError, ssl.CertificateError, OSError, TimeoutError) as exc:
        sock.close()
        raise TlsFailure(f"{server.label} at {peer}: {describe(exc)}") from None
    session = Session(reader, writer, peer, timeout)
    session.tls = server.security == "implicit-tls"
    try:
        await _greet(server, session, ehlo_name)
        if server.security == "starttls":
            await _starttls(server, session, ctx, pinned, ehlo_name)
        if session.tls:
            check_fingerprint(server, writer.get_extra_info("ssl_object"))
        if server.username:
            await _login(server, session)
    except BaseException:
        await session.close(polite=False)
        raise
    return session


async def _dial(
    server: SmtpServer, addresses: Sequence[str], timeout: float, source: str | None
) -> tuple[socket.socket, str]:
    loop = asyncio.get_running_loop()
    problems = []
    for address in addresses:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        if source is not None and (":" in source) != (family == socket.AF_INET6):
            problems.append(f"{address}: not the source address's family")
            continue
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setblocking(False)
            if source is not None:
                sock.bind((source, 0))
            async with asyncio.timeout(timeout):
                await loop.sock_connect(sock, (address, server.port))
        except (OSError, TimeoutError) as exc:
            sock.close()
            problems.append(f"{address}: {exc or 'no answer within ' + format(timeout, 'g') + ' s'}")
            continue
        return sock, address
    raise SessionError(f"could not connect to {server.label} ({'; '.join(problems) or 'no address'})")


async def _greet(server: SmtpServer, session: Session, ehlo_name: str) -> None:
    code, text = await session.reply()
    if code != 220:
        raise ServerRefused(f"{server.label} greeted with {code} {text}", code)
    code, text = await session.ehlo(ehlo_name)
    if code != 250:
        raise ServerRefused(f"{server.label} refused EHLO: {code} {text}", code)


async def _starttls(server: SmtpServer, session: Session, ctx: ssl.SSLContext, pinned: bool, ehlo: str) -> None:
    if "STARTTLS" not in session.extensions:
        if pinned:
            raise TlsFailure(
                f"{server.label} did not offer STARTTLS although it was seen with TLS before: refused (no "
                "silent downgrade; someone may be stripping STARTTLS between us and the server)"
            )
        if server.require_tls:
            raise TlsFailure(f"{server.label} does not offer STARTTLS and TLS is required: nothing was sent")
        return
    code, text = await session.command("STARTTLS")
    if code != 220:
        raise TlsFailure(f"{server.label} refused STARTTLS: {code} {text}", code)
    try:
        await session.writer.start_tls(ctx, server_hostname=server.host, ssl_handshake_timeout=session.timeout)
    except (ssl.SSLError, ssl.CertificateError, OSError, TimeoutError) as exc:
        session.broken = True
        raise TlsFailure(f"{server.label} at {session.peer}: {describe(exc)}") from None
    session.tls = True
    code, text = await session.ehlo(ehlo)
    if code != 250:
        raise ServerRefused(f"{server.label} refused EHLO after STARTTLS: {code} {text}", code)


async def _login(server: SmtpServer, session: Session) -> None:
    user = server.username or ""
    password = server.password.value if server.password is not None else ""
    if not session.tls:
        raise AuthFailure(f"{server.label} offers no TLS: credentials are never sent in plaintext")
    mechanisms = session.extensions.get("AUTH", "").upper().split()
    if "PLAIN" in mechanisms:
        code, text = await session.command("AUTH PLAIN " + _b64(f"\0{user}\0{password}"))
    elif "LOGIN" in mechanisms:
        code, text = await session.command("AUTH LOGIN")
        if code == 334:
            code, text = await session.command(_b64(user))
        if code == 334:
            code, text = await session.command(_b64(password))
    else:
        raise AuthFailure(f"{server.label} offers neither AUTH PLAIN nor AUTH LOGIN inside TLS")
    if code != 235:
        with contextlib.suppress(SessionLost):
            if code == 334:  # still asking: end the exchange
                await session.command("*")
        secrets = (password, _b64(password), _b64(f"\0{user}\0{password}"))
        raise AuthFailure(f"{server.label} refused the login of {excerpt(user)}: {code} {scrub(text, *secrets)}", code)


def scrub(text: str, *secrets: str) -> str:
    """``text`` without any of ``secrets`` (a server could echo what it was sent)."""
    for secret in secrets:
        if len(secret) >= 3:
            text = text.replace(secret, "***")
    return text


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode("ascii")
