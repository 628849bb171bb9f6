"""Heartbeats: each successful daily run of a region, so that silence can be noticed.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30

``heartbeats`` gets one row per successful run of the daily job (``egress notify`` exiting 0, not a dry
run) for a region: which job (``notify``), when it started and when it finished. ``egress status`` reads the
latest one ("when did the daily job last succeed?"); the same moment is put as a CloudWatch metric whose
alarm fires when no run succeeded for 26 hours. An existing ledger has no heartbeat yet: the table starts
empty, nothing else changes.

A new table is a plain ``CREATE TABLE`` on SQLite and PostgreSQL, online and as ``--sql``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "heartbeats",
        sa.Column("heartbeat_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("region", sa.String(64), nullable=False),
        sa.Column("job", sa.String(32), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_heartbeats_region_finished_at", "heartbeats", ["region", "finished_at"])


def downgrade() -> None:
    raise NotImplementedError("smtp-egress never downgrades a ledger: restore the backup taken before upgrading")
