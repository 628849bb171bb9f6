"""The ledger's record of each workspace's SMTP servers (``smtp_servers``, schema revision 0007): the Python API
behind ``egress smtp add|list|remove|import`` and the worker's :func:`load_servers`.

A server belongs to a workspace of the ledger (``egress workspaces import``) and is keyed by ``host:port``
within it. Each write is one committed transaction. At most one server per workspace is the default (a partial
unique index enforces it): saving one as default takes it from the other, and a workspace's first server is
its default. Passwords are stored sealed (:mod:`smtp_egress.smtp.keyring`) and opened only by
:func:`load_servers`, in memory, into :class:`~smtp_egress.smtp.model.Secret`; :func:`list_servers` never opens one.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from ..batches import aware
from ..dates import utc_now
from ..errors import ConfigError
from ..masking import excerpt
from ..tables import smtp_servers, workspaces
from .keyring import Keyring, KeyringError, Sealed
from .model import Secret, SmtpServer
from .settings import ServerSettings

if TYPE_CHECKING:
    from ..ledger import Ledger

S = smtp_servers.c
W = workspaces.c


class UnknownServer(ConfigError):
    """No such server (or workspace) in the ledger."""


class DuplicateServer(ConfigError):
    """``egress smtp add`` of a server the workspace has already."""


@dataclasses.dataclass(frozen=True)
class StoredServer:
    """A server as listed: its settings, whether it has a password (and the key that sealed it), never the password."""

    settings: ServerSettings
    has_password: bool
    key_ref: str | None
    tls_pinned_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclasses.dataclass(frozen=True)
class Saved:
    """What a save did: ``added`` or ``updated``, and whether the server is the workspace's default now."""

    server_id: str
    added: bool
    default: bool
    default_taken_from: str | None = None  # the server that was the default before


def context(workspace_id: str, server_id: str) -> str:
    """What a sealed password is bound to (the AES-GCM associated data, the KMS encryption context)."""
    return f"{workspace_id}/{server_id}"


def save_servers(
    ledger: Ledger,
    servers: Sequence[tuple[ServerSettings, str | None]],
    keyring: Keyring | None,
    *,
    replace: bool,
    now: dt.datetime | None = None,
) -> list[Saved]:
    """Insert (or, with ``replace``, update) each ``(settings, password)``, all in one transaction; a server
    that exists already is :class:`DuplicateServer` unless ``replace``. The workspaces must exist."""
    now = now or utc_now()
    if keyring is None and any(p is not None for _, p in servers):
        raise KeyringError("a password needs a key to seal it with")
    sealed = [
        (s, keyring.seal(p, context(s.workspace_id, s.server_id)) if p is not None and keyring else None)
        for s, p in servers
    ]
    out: list[Saved] = []
    conn = ledger.conn
    with conn.begin():
        for settings, password in sealed:
            if conn.execute(sa.select(W.region).where(W.workspace_id == settings.workspace_id)).first() is None:
                raise UnknownServer(
                    f"no workspace {excerpt(settings.workspace_id, 60)} in the ledger: import it first "
                    "(egress workspaces import); nothing was saved"
                )
            out.append(_put(conn, settings, password, replace, now))
    return out


def _put(
    conn: sa.Connection, settings: ServerSettings, sealed: Sealed | None, replace: bool, now: dt.datetime
) -> Saved:
    key = (S.workspace_id == settings.workspace_id) & (S.server_id == settings.server_id)
    exists = conn.execute(sa.select(S.server_id).where(key)).first() is not None
    if exists and not replace:
        raise DuplicateServer(
            f"workspace {excerpt(settings.workspace_id, 60)} has server {excerpt(settings.server_id, 80)} already: "
            "remove it first (egress smtp remove), or update it with egress smtp import; nothing was saved"
        )
    current = conn.execute(
        sa.select(S.server_id).where(
            (S.workspace_id == settings.workspace_id) & S.is_default & (S.server_id != settings.server_id)
        )
    ).scalar()
    others = conn.execute(
        sa.select(sa.func.count()).where(S.workspace_id == settings.workspace_id, S.server_id != settings.server_id)
    ).scalar()
    default = settings.default or not others  # a workspace's first server is its default
    taken = None
    if default and current is not None:
        conn.execute(smtp_servers.update().where(S.workspace_id == settings.workspace_id).values(is_default=False))
        taken = current
    values: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "security": settings.security,
        "username": settings.username,
        "password_sealed": sealed.sealed if sealed else None,
        "password_key": sealed.key_ref if sealed else None,
        "password_data_key": sealed.data_key if sealed else None,
        "certificate": settings.certificate,
        "campaign_types": ",".join(settings.campaign_types),
        "is_default": default,
        "require_tls": settings.require_tls,
        "updated_at": now,
    }
    if exists:
        conn.execute(smtp_servers.update().where(key).values(**values))
    else:
        ids = {"workspace_id": settings.workspace_id, "server_id": settings.server_id}
        conn.execute(smtp_servers.insert().values(**ids, **values, created_at=now, tls_pinned_at=None))
    return Saved(settings.server_id, not exists, default, taken)


def remove_server(ledger: Ledger, workspace_id: str, server_id: str) -> bool:
    """Remove a server; True when it was the workspace's default (the workspace has none now)."""
    key = (S.workspace_id == workspace_id) & (S.server_id == server_id)
    with ledger.conn.begin():
        was_default = ledger.conn.execute(sa.select(S.is_default).where(key)).scalar()
        if was_default is None:
            raise UnknownServer(
                f"workspace {excerpt(workspace_id, 60)} has no server {excerpt(server_id, 80)} "
                "(egress smtp list shows them); nothing was removed"
            )
        ledger.conn.execute(smtp_servers.delete().where(key))
    return bool(was_default)


def _rows(ledger: Ledger, workspace_id: str | None, server_id: str | None = None) -> list[sa.Row[Any]]:
    query = sa.select(smtp_servers).order_by(S.workspace_id, S.server_id)
    if workspace_id is not None:
        query = query.where(S.workspace_id == workspace_id)
    if server_id is not None:
        query = query.where(S.server_id == server_id)
    with ledger.conn.begin():
        return list(ledger.conn.execute(query))


def _settings(row: sa.Row[Any]) -> ServerSettings:
    types = tuple(t for t in row.campaign_types.split(",") if t)
    return ServerSettings(
        row.workspace_id,
        row.host,
        row.port,
        row.security,
        row.username,
        row.certificate,
        types,
        row.is_default,
        row.require_tls,
    )


def list_servers(ledger: Ledger, workspace_id: str | None = None) -> list[StoredServer]:
    """The servers of ``workspace_id`` (None: of every workspace), without opening any password."""
    return [
        StoredServer(
            _settings(r),
            r.password_sealed is not None,
            r.password_key,
            aware(r.tls_pinned_at) if r.tls_pinned_at else None,
            aware(r.created_at),
            aware(r.updated_at),
        )
        for r in _rows(ledger, workspace_id)
    ]


def load_servers(
    ledger: Ledger, workspace_id: str, keyring: Keyring | None, server_id: str | None = None
) -> list[SmtpServer]:
    """The servers of ``workspace_id`` (only ``server_id``, when given) as the worker uses them, passwords opened
    (in memory) with ``keyring`` (None: a server with a password is a :class:`KeyringError`)."""
    out = []
    for row in _rows(ledger, workspace_id, server_id):
        s = _settings(row)
        password = None
        if row.password_sealed is not None:
            if keyring is None:
                raise KeyringError(f"the password of {context(s.workspace_id, s.server_id)} needs a key to open it")
            sealed = Sealed(row.password_sealed, row.password_key, row.password_data_key)
            password = Secret(keyring.open(sealed, context(s.workspace_id, s.server_id)))
        out.append(
            SmtpServer(
                s.workspace_id, s.server_id, s.host, s.port, s.security, s.username, password,
                s.certificate, s.campaign_types, s.default, s.require_tls, row.tls_pinned_at is not None,
            )
        )  # fmt: skip
    return out


def mark_tls_seen(ledger: Ledger, server: SmtpServer, now: dt.datetime | None = None) -> None:
    """Record that ``server`` was seen with TLS (once: the first moment stays); later sessions must use TLS."""
    key = (S.workspace_id == server.workspace_id) & (S.server_id == server.server_id) & S.tls_pinned_at.is_(None)
    with ledger.conn.begin():
        ledger.conn.execute(smtp_servers.update().where(key).values(tls_pinned_at=now or utc_now()))
