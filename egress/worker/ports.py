"""What the worker needs from the rest of the platform, as small interfaces (each with an in-memory version).

- :class:`ServerSource`: a workspace's SMTP servers, passwords decrypted (production: the SMTP settings store).
- :class:`TrackingSource`: a workspace's tracking domain when it is *verified* (None otherwise: plain links).
- :class:`LinkRewriter`: rewrites a message's links for one recipient on a branded tracking domain.
- :class:`DelivererLike`: delivers one message through one server (production:
  :class:`smtp_egress.delivery.Deliverer`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from ..delivery.model import Delivery, Envelope
from ..smtp.model import SmtpServer


class ServerSource(Protocol):
    def servers(self, workspace_id: str) -> Sequence[SmtpServer]: ...


class TrackingSource(Protocol):
    def tracking_domain(self, workspace_id: str) -> str | None: ...


class LinkRewriter(Protocol):
    def __call__(
        self, message: bytes, *, tracking_domain: str, message_id: str, recipient: str, signer: Any
    ) -> bytes: ...


class DelivererLike(Protocol):
    async def deliver(self, server: SmtpServer, envelope: Envelope, message: bytes) -> Delivery: ...

    async def aclose(self) -> None: ...


class StaticServers:
    """Servers held in memory, per workspace (tests, and a one-off run)."""

    def __init__(self, servers: Mapping[str, Sequence[SmtpServer]]):
        self._servers = {k: tuple(v) for k, v in servers.items()}

    def servers(self, workspace_id: str) -> Sequence[SmtpServer]:
        return self._servers.get(workspace_id, ())


class StaticTracking:
    """Verified tracking domains held in memory (empty: no workspace has one; every link stays plain)."""

    def __init__(self, domains: Mapping[str, str] | None = None):
        self._domains = dict(domains or {})

    def tracking_domain(self, workspace_id: str) -> str | None:
        return self._domains.get(workspace_id)
