"""SMTP servers: each workspace's own SMTP servers, their settings and the encrypted password.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30

``smtp_servers`` gets one row per (workspace, server): host, port, security, user name, the password
encrypted (``password_sealed``: nonce + AES-GCM ciphertext; ``password_key``: which key sealed it, ``local:<id>``
or ``kms:<key>``; ``password_data_key``: the KMS-encrypted data key of envelope encryption, NULL for a local
key), the certificate check, the campaign types it serves, whether it is the workspace's default (a partial
unique index: at most one per workspace), whether STARTTLS is required, and when TLS was first seen
(``tls_pinned_at``: from then on a session without TLS is refused). No foreign key to ``workspaces``: removing
a workspace from those notified must not depend on its SMTP settings. An existing ledger has no server yet.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "smtp_servers",
        sa.Column("workspace_id", sa.String(200), primary_key=True),
        sa.Column("server_id", sa.String(300), primary_key=True),
        sa.Column("host", sa.String(253), nullable=False),
        sa.Column("port", sa.Integer, nullable=False),
        sa.Column("security", sa.String(16), nullable=False),
        sa.Column("username", sa.String(320)),
        sa.Column("password_sealed", sa.LargeBinary),
        sa.Column("password_key", sa.String(300)),
        sa.Column("password_data_key", sa.LargeBinary),
        sa.Column("certificate", sa.String(80), nullable=False),
        sa.Column("campaign_types", sa.String(2000), nullable=False),
        sa.Column("is_default", sa.Boolean, nullable=False),
        sa.Column("require_tls", sa.Boolean, nullable=False),
        sa.Column("tls_pinned_at", sa.DateTime(timezone=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ux_smtp_servers_one_default",
        "smtp_servers",
        ["workspace_id"],
        unique=True,
        sqlite_where=sa.text("is_default"),
        postgresql_where=sa.text("is_default"),
    )


def downgrade() -> None:
    raise NotImplementedError("smtp-egress never downgrades a ledger: restore the backup taken before upgrading")
