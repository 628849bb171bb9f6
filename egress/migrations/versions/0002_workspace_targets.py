"""Workspace targets by channel: ``workspace_targets`` replaces the columns ``email`` and ``webhook_url``.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01

A notice channel (:mod:`smtp_egress.notices.channels`) reaches a workspace at a target (an address, a
URL); one row per (workspace, channel) lets a new channel need no schema change. The data moves in the
same transaction: every workspace's ``email`` becomes its ``email`` target, every non-empty
``webhook_url`` its ``webhook`` target (the names the deliveries of those channels already carry), then
the two columns are dropped (on SQLite by rebuilding the table, its region index kept).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The table as revision 0001 made it: SQLite's batch mode rebuilds from this (also with --sql, where
# nothing can be reflected).
_WORKSPACES_0001 = sa.Table(
    "workspaces",
    sa.MetaData(),
    sa.Column("workspace_id", sa.String(200), primary_key=True),
    sa.Column("region", sa.String(64), nullable=False),
    sa.Column("email", sa.String(320), nullable=False),
    sa.Column("webhook_url", sa.String(2000)),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_workspaces_region", "region"),  # named, not index=True: batch mode rebuilds only named ones
)


def upgrade() -> None:
    op.create_table(
        "workspace_targets",
        sa.Column("workspace_id", sa.String(200), sa.ForeignKey("workspaces.workspace_id"), primary_key=True),
        sa.Column("channel", sa.String(16), primary_key=True),
        sa.Column("target", sa.String(2000), nullable=False),
    )
    op.execute(
        "INSERT INTO workspace_targets (workspace_id, channel, target) "
        "SELECT workspace_id, 'email', email FROM workspaces"
    )
    op.execute(
        "INSERT INTO workspace_targets (workspace_id, channel, target) "
        "SELECT workspace_id, 'webhook', webhook_url FROM workspaces "
        "WHERE webhook_url IS NOT NULL AND webhook_url <> ''"
    )
    with op.batch_alter_table("workspaces", copy_from=_WORKSPACES_0001) as batch:
        batch.drop_column("webhook_url")
        batch.drop_column("email")


def downgrade() -> None:
    raise NotImplementedError("smtp-egress never downgrades a ledger: restore the backup taken before upgrading")
