"""Tracking events: each click and open the tracker answered, per message and recipient.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30

``tracking_events`` gets one row per click or open ``egress tracking serve`` answered: the message id and
recipient its signed token named, a click's link index and destination, the branded tracking domain it came
through, when, the client's user agent (at most 256 characters) and its network (the address truncated to a
/24 or /48, never the address itself). The tokens carry their destination, so no table of links is needed.
An existing ledger has no event yet: the table starts empty, nothing else changes.

A new table is a plain ``CREATE TABLE`` on SQLite and PostgreSQL, online and as ``--sql``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tracking_events",
        sa.Column("event_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("message_id", sa.String(500), nullable=False),
        sa.Column("recipient", sa.String(320), nullable=False),
        sa.Column("link_index", sa.Integer),
        sa.Column("destination", sa.String(2048)),
        sa.Column("tracking_domain", sa.String(253), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("user_agent", sa.String(256)),
        sa.Column("client_network", sa.String(64)),
    )
    op.create_index("ix_tracking_events_message_recipient", "tracking_events", ["message_id", "recipient"])
    op.create_index("ix_tracking_events_occurred_at", "tracking_events", ["occurred_at"])


def downgrade() -> None:
    raise NotImplementedError("smtp-egress never downgrades a ledger: restore the backup taken before upgrading")
