"""The ledger of release 0.1.0 (commit 2b9d1c1): workspaces, announcements, deliveries.

Revision ID: 0001
Revises:
Create Date: 2026-11-26

Exactly the schema that release's ``metadata.create_all`` made (tables, columns, types, indexes, the
foreign key): ``egress ledger upgrade`` adopts such an unversioned ledger by stamping this revision.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "workspaces",
        sa.Column("workspace_id", sa.String(200), primary_key=True),
        sa.Column("region", sa.String(64), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("webhook_url", sa.String(2000)),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_workspaces_region", "workspaces", ["region"])
    op.create_table(
        "announcements",
        sa.Column("change_id", sa.String(300), primary_key=True),
        sa.Column("region", sa.String(64), nullable=False),
        sa.Column("ip", sa.String(64), nullable=False),
        sa.Column("action", sa.String(8), nullable=False),
        sa.Column("planned", sa.Date, nullable=False),
        sa.Column("announced_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("notice_days", sa.Integer, nullable=False),
        sa.Column("exception_reason", sa.Text),
        sa.Column("plan_sha256", sa.String(64), nullable=False),
    )
    op.create_index("ix_announcements_region", "announcements", ["region"])
    op.create_table(
        "deliveries",
        sa.Column("change_id", sa.String(300), sa.ForeignKey("announcements.change_id"), primary_key=True),
        sa.Column("workspace_id", sa.String(200), primary_key=True),
        sa.Column("channel", sa.String(16), primary_key=True),
        sa.Column("target", sa.String(2000), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("message_id", sa.String(400), nullable=False),
        sa.Column("last_error", sa.Text),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_deliveries_status", "deliveries", ["status"])


def downgrade() -> None:
    raise NotImplementedError("smtp-egress never downgrades a ledger: restore the backup taken before upgrading")
