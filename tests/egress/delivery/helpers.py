"""Building servers and running one delivery, for the delivery tests."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from smtp_egress.delivery import Deliverer
from smtp_egress.delivery.model import Delivery, Envelope
from smtp_egress.smtp.model import Secret, SmtpServer

USER = "sender@customer.example"
PASSWORD = "s3cret-Pässword:7"  # tests grep every reply, log line and error for it
T = TypeVar("T")
MESSAGE = b"From: sender@customer.example\r\nTo: rcpt@example.com\r\nSubject: hello\r\n\r\nHello there.\r\n"


def server(
    port: int, security: str = "starttls", *, host: str = "127.0.0.1", auth: bool = True, **kw: Any
) -> SmtpServer:
    fields: dict[str, Any] = dict(workspace_id="ws1", server_id="s1", host=host, port=port, security=security)
    fields.update(dict(username=USER, password=Secret(PASSWORD)) if auth else {})
    return SmtpServer(**{**fields, **kw})


def envelope(*recipients: str) -> Envelope:
    return Envelope(USER, recipients or ("rcpt@example.com",))


def run(coro: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` without leaving the main thread's event loop unset (later tests, Pulumi's among them,
    ask for it)."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()


def deliver(
    cafile: str | None, srv: SmtpServer, env: Envelope | None = None, message: bytes = MESSAGE, **kw: Any
) -> Delivery:
    async def go() -> Delivery:
        d = Deliverer(allow_private=kw.pop("allow_private", True), ca_file=cafile, timeout=kw.pop("timeout", 10), **kw)
        try:
            return await d.deliver(srv, env or envelope(), message)
        finally:
            await d.aclose()

    return run(go())


def kinds(delivery: Delivery) -> list[tuple[str, str, int | None]]:
    return [(o.recipient, o.kind, o.code) for o in delivery.outcomes]
