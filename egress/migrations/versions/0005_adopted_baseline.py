"""The adopted baseline: a batch can record the list another system published before the ledger existed.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30

``egress ledger adopt`` records, as one batch told when it is recorded (no workspaces, no deliveries), the
past-dated changes of the plan that a list published before the ledger tracked the region already reflects.
Two nullable columns on ``batches`` mark it: ``adopted_from`` (the list's URL or file, credentials masked)
and ``adopted_sha256`` (the SHA-256 of the bytes read). Every existing batch is a batch of the daily job:
both stay NULL, nothing else changes.

Adding nullable columns is a plain ``ALTER TABLE ... ADD COLUMN`` on SQLite and PostgreSQL, online and as
``--sql``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("batches", sa.Column("adopted_from", sa.String(2000)))
    op.add_column("batches", sa.Column("adopted_sha256", sa.String(64)))


def downgrade() -> None:
    raise NotImplementedError("smtp-egress never downgrades a ledger: restore the backup taken before upgrading")
