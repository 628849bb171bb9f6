"""Branded tracking domains: a workspace's sending and tracking domains, its bounce label, their state and history.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30

``workspaces`` gains three nullable columns: ``sending_domain`` and ``tracking_domain`` (A-labels, from the
workspaces import) and ``bounce_label`` (assigned by the platform, unique). Existing workspaces keep NULL in all
three: a label is assigned lazily, when a workspace is next imported or its records are first needed
(``egress domains expected|verify``), so this migration is pure DDL and runs the same as ``--sql``.
``domain_states`` holds each workspace's verification state, ``domain_history`` every check and transition.

New nullable columns and new tables: ``ALTER TABLE ... ADD COLUMN`` and ``CREATE TABLE`` on SQLite and
PostgreSQL, online and as ``--sql``; the unique index allows any number of NULLs on both.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("workspaces", sa.Column("sending_domain", sa.String(253)))
    op.add_column("workspaces", sa.Column("tracking_domain", sa.String(253)))
    op.add_column("workspaces", sa.Column("bounce_label", sa.String(63)))
    op.create_index("ux_workspaces_bounce_label", "workspaces", ["bounce_label"], unique=True)
    op.create_table(
        "domain_states",
        sa.Column("workspace_id", sa.String(200), sa.ForeignKey("workspaces.workspace_id"), primary_key=True),
        sa.Column("tracking_domain", sa.String(253), nullable=False),
        sa.Column("sending_domain", sa.String(253), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("failing_since", sa.DateTime(timezone=True)),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "domain_history",
        sa.Column("history_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("workspace_id", sa.String(200), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("previous", sa.String(16)),
        sa.Column("summary", sa.Text, nullable=False),
    )
    op.create_index("ix_domain_history_workspace_at", "domain_history", ["workspace_id", "at"])


def downgrade() -> None:
    raise NotImplementedError("smtp-egress never downgrades a ledger: restore the backup taken before upgrading")
