"""The delivery worker's records: each recipient's outcome of a send job, and the jobs dead-lettered.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30

``worker_outcomes`` holds one row per (job, recipient): its latest state (``delivered``, ``deferred``,
``failed``), the server's reply code and text, which server, how many attempts, and the archive entry's key.
``worker_dead_letters`` holds the jobs ``egress worker run`` gave up on, with the reason. Both start empty;
nothing else changes. New tables are plain ``CREATE TABLE`` on SQLite and PostgreSQL, online and as ``--sql``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "worker_outcomes",
        sa.Column("job_id", sa.String(100), primary_key=True),
        sa.Column("recipient", sa.String(400), primary_key=True),
        sa.Column("workspace_id", sa.String(200), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("code", sa.Integer),
        sa.Column("reply", sa.Text, nullable=False),
        sa.Column("server", sa.String(300)),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("archive_key", sa.String(500)),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_worker_outcomes_state", "worker_outcomes", ["state"])
    op.create_table(
        "worker_dead_letters",
        sa.Column("job_id", sa.String(100), primary_key=True),
        sa.Column("workspace_id", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("dead_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    raise NotImplementedError("smtp-egress never downgrades a ledger: restore the backup taken before upgrading")
