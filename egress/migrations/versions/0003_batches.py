"""Batches: the changes one run announces together, one notice per (batch, workspace, channel), told when delivered.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02

A batch (``batches``) holds the changes one ``egress notify`` run records for a region, when it recorded them
(``recorded_at``) and when every workspace that existed then was told (``told_at``, NULL while not: the
changes are held). ``batch_workspaces`` names those workspaces (``holds``; one imported later gets the notice
but holds nothing) and a human's decision to accept one undelivered (``waived_*``). A delivery belongs to a
batch; each announcement names its batch.

The data moves in the same transaction. Each announcement becomes a batch of its own whose id is the change
id, so its deliveries keep their Message-IDs (a pending notice resent carries the same one); every workspace
with a delivery for it becomes a member. It counts as told at the moment it was recorded: every reader of the
ledger (the published list, the deploy guard, the report) already took that as its announcement, and a
change in effect must not leave the list because a notice of it was never delivered. Its notices not yet
delivered are still sent, and flagged in the report while they are not.

Tables are rebuilt by copy (through plain ``*_0003_move`` tables), not altered, so one script runs on SQLite
and PostgreSQL, online and as ``--sql``, and the rebuilt tables get the names a new ledger's have.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ANNOUNCEMENT_FACTS = ("change_id", "region", "ip", "action", "planned", "notice_days", "exception_reason")
_DELIVERY_FACTS = ("workspace_id", "channel", "target", "status", "attempts", "message_id", "last_error", "sent_at")


def _announcements_0002() -> sa.TableClause:
    return sa.table("announcements", *(sa.column(c) for c in (*_ANNOUNCEMENT_FACTS, "announced_at", "plan_sha256")))


def _deliveries_0002() -> sa.TableClause:
    return sa.table("deliveries", *(sa.column(c) for c in ("change_id", *_DELIVERY_FACTS)))


def upgrade() -> None:
    old_ann, old_del = _announcements_0002(), _deliveries_0002()
    batches = op.create_table(
        "batches",
        sa.Column("batch_id", sa.String(300), primary_key=True),
        sa.Column("region", sa.String(64), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("told_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_batches_region", "batches", ["region"])
    assert batches is not None
    op.execute(
        batches.insert().from_select(
            ["batch_id", "region", "recorded_at", "told_at"],
            sa.select(old_ann.c.change_id, old_ann.c.region, old_ann.c.announced_at, old_ann.c.announced_at),
        )
    )
    members = op.create_table(
        "batch_workspaces",
        sa.Column("batch_id", sa.String(300), sa.ForeignKey("batches.batch_id"), primary_key=True),
        sa.Column("workspace_id", sa.String(200), primary_key=True),
        sa.Column("holds", sa.Boolean, nullable=False),
        sa.Column("waived_at", sa.DateTime(timezone=True)),
        sa.Column("waived_by", sa.String(200)),
        sa.Column("waiver_reason", sa.Text),
    )
    assert members is not None
    op.execute(
        members.insert().from_select(
            ["batch_id", "workspace_id", "holds"],
            sa.select(old_del.c.change_id, old_del.c.workspace_id, sa.true()).distinct(),
        )
    )

    # Announcements and deliveries: copy aside, drop, create as a new ledger has them, copy back.
    ann_move = op.create_table(
        "announcements_0003_move",
        *(sa.Column(c, sa.Text) for c in ("change_id", "region", "ip", "action", "exception_reason", "plan_sha256")),
        sa.Column("planned", sa.Date),
        sa.Column("notice_days", sa.Integer),
    )
    del_move = op.create_table(
        "deliveries_0003_move",
        *(sa.Column(c, sa.Text) for c in ("batch_id", "workspace_id", "channel", "target", "status")),
        *(sa.Column(c, sa.Text) for c in ("message_id", "last_error")),
        sa.Column("attempts", sa.Integer),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
    )
    assert ann_move is not None and del_move is not None
    ann_columns = [*_ANNOUNCEMENT_FACTS, "plan_sha256"]
    op.execute(ann_move.insert().from_select(ann_columns, sa.select(*(old_ann.c[c] for c in ann_columns))))
    op.execute(
        del_move.insert().from_select(
            ["batch_id", *_DELIVERY_FACTS], sa.select(old_del.c.change_id, *(old_del.c[c] for c in _DELIVERY_FACTS))
        )
    )
    op.drop_index("ix_deliveries_status", "deliveries")
    op.drop_table("deliveries")
    op.drop_index("ix_announcements_region", "announcements")
    op.drop_table("announcements")

    announcements = op.create_table(
        "announcements",
        sa.Column("change_id", sa.String(300), primary_key=True),
        sa.Column("batch_id", sa.String(300), sa.ForeignKey("batches.batch_id"), nullable=False),
        sa.Column("region", sa.String(64), nullable=False),
        sa.Column("ip", sa.String(64), nullable=False),
        sa.Column("action", sa.String(8), nullable=False),
        sa.Column("planned", sa.Date, nullable=False),
        sa.Column("notice_days", sa.Integer, nullable=False),
        sa.Column("exception_reason", sa.Text),
        sa.Column("plan_sha256", sa.String(64), nullable=False),
    )
    op.create_index("ix_announcements_batch_id", "announcements", ["batch_id"])
    op.create_index("ix_announcements_region", "announcements", ["region"])
    deliveries = op.create_table(
        "deliveries",
        sa.Column("batch_id", sa.String(300), sa.ForeignKey("batches.batch_id"), primary_key=True),
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
    assert announcements is not None and deliveries is not None
    op.execute(
        announcements.insert().from_select(
            ["batch_id", *ann_columns], sa.select(ann_move.c.change_id, *(ann_move.c[c] for c in ann_columns))
        )
    )
    del_columns = ["batch_id", *_DELIVERY_FACTS]
    op.execute(deliveries.insert().from_select(del_columns, sa.select(*(del_move.c[c] for c in del_columns))))
    op.drop_table("deliveries_0003_move")
    op.drop_table("announcements_0003_move")


def downgrade() -> None:
    raise NotImplementedError("smtp-egress never downgrades a ledger: restore the backup taken before upgrading")
