"""A workspace's SMTP server as the worker and ``egress smtp test`` use it, and the routing rule.

The password is decrypted only in memory, inside a :class:`Secret` whose ``repr`` and ``str`` never show it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Literal

from ..errors import ConfigError

Security = Literal["implicit-tls", "starttls"]
SECURITIES: tuple[Security, ...] = ("implicit-tls", "starttls")
VERIFY = "verify"
FINGERPRINT_PREFIX = "fingerprint:"  # followed by the SHA-256 of the server certificate (DER), 64 hex digits


@dataclasses.dataclass(frozen=True)
class Secret:
    """A credential in memory. Its ``repr``/``str`` are a fixed mask, so a log line or a traceback can't leak it."""

    value: str = dataclasses.field(repr=False)

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__


@dataclasses.dataclass(frozen=True)
class SmtpServer:
    """One server of one workspace.

    ``host`` is an A-label name or a literal address, lowercase, without a trailing dot. ``certificate`` is
    ``"verify"`` (the chain and the host name) or ``"fingerprint:<sha256 hex>"`` (a self-signed server's
    certificate, pinned). ``require_tls``: STARTTLS must succeed (always for 587/2525 unless configured
    otherwise). ``tls_pinned``: the server was once seen with TLS, so a later session without it is refused.
    """

    workspace_id: str
    server_id: str  # stable, unique within the workspace
    host: str
    port: int
    security: Security
    username: str | None = None
    password: Secret | None = None
    certificate: str = VERIFY
    campaign_types: tuple[str, ...] = ()
    default: bool = False
    require_tls: bool = True
    tls_pinned: bool = False

    @property
    def label(self) -> str:
        """How messages name the server: ``workspace/host:port`` (never a credential)."""
        return f"{self.workspace_id}/{self.host}:{self.port}"


class NoRoute(ConfigError):
    """A workspace has no server for a job: none serves its campaign type and none is the default."""


def choose(servers: Sequence[SmtpServer], campaign_type: str | None) -> SmtpServer:
    """The server serving ``campaign_type``, else the workspace's default (the one rule of routing)."""
    if campaign_type is not None:
        for server in servers:
            if campaign_type in server.campaign_types:
                return server
    for server in servers:
        if server.default:
            return server
    workspace = servers[0].workspace_id if servers else "the workspace"
    wanted = f"campaign type {campaign_type!r}" if campaign_type is not None else "a job without a campaign type"
    raise NoRoute(
        f"{workspace}: no SMTP server serves {wanted} and none is the default: "
        "add one with `egress smtp add ... --default` or `--campaign-types`"
    )
