"""Ledger info: ``ledger_info`` says whether the ledger is a real one or a simulation.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30

One row (``id`` 1): ``kind`` is ``real`` or ``simulation``, fixed when the ledger is created (``egress ledger
init [--simulation]``); ``clock`` is a simulation's latest recorded moment (a simulation never goes back
in time). A ledger made before this revision recorded real runs (or dated ones nobody marked): it becomes
``real``, the safe side, on which a run that records refuses a date option.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    info = op.create_table(
        "ledger_info",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("clock", sa.DateTime(timezone=True)),
    )
    op.bulk_insert(info, [{"id": 1, "kind": "real", "clock": None}])


def downgrade() -> None:
    raise NotImplementedError("smtp-egress never downgrades a ledger: restore the backup taken before upgrading")
