"""The ledger's tables (SQLAlchemy Core), as the code reads and writes them: schema revision 0010.

- ``workspaces`` and ``workspace_targets``: who is notified, and where each channel reaches them.
- ``batches``: the changes one ``egress notify`` run recorded for a region, when (``recorded_at``), and when
  every workspace that existed then was told (``told_at``; NULL while its changes are held). The rule that
  sets ``told_at`` is :func:`smtp_egress.timeline.told_at`. A batch with ``adopted_sha256`` is the adopted
  baseline (``egress ledger adopt``): the changes a list published before the ledger already reflected,
  told when recorded, with no workspaces and no deliveries; ``adopted_from`` names the list's source.
- ``announcements``: one row per recorded change, in its batch.
- ``batch_workspaces``: the workspaces a batch's notice goes to; ``holds`` for those that existed when it was
  recorded (only they hold it back); ``waived_*`` when a human accepted one undelivered.
- ``deliveries``: one per (batch, workspace, channel), with its deterministic Message-ID.
- ``ledger_info``: one row (id 1): whether the ledger is real or a simulation, and a simulation's clock.
- ``heartbeats``: one row per successful daily run of a region (revision 0006): what ``egress status`` reads as
  "the daily job last succeeded at".
- ``tracking_events``: one row per click or open ``egress tracking serve`` answered (revision 0010), per message
  and recipient; the client's address truncated, its user agent bounded (:mod:`smtp_egress.tracking.events`).

The migrations (:mod:`smtp_egress.migrations`) make exactly these tables; a test compares them.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

# What the ledger is (schema revision 0004): one row, id 1. ``kind`` is fixed at creation; ``clock`` is a
# simulation's latest recorded moment (smtp_egress.simulation).
ledger_info = sa.Table(
    "ledger_info",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("clock", sa.DateTime(timezone=True)),
)

workspaces = sa.Table(
    "workspaces",
    metadata,
    sa.Column("workspace_id", sa.String(200), primary_key=True),
    sa.Column("region", sa.String(64), nullable=False, index=True),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

# Where each channel reaches a workspace (schema revision 0002; before, email and webhook_url were columns).
workspace_targets = sa.Table(
    "workspace_targets",
    metadata,
    sa.Column("workspace_id", sa.String(200), sa.ForeignKey("workspaces.workspace_id"), primary_key=True),
    sa.Column("channel", sa.String(16), primary_key=True),
    sa.Column("target", sa.String(2000), nullable=False),
)

batches = sa.Table(
    "batches",
    metadata,
    sa.Column("batch_id", sa.String(300), primary_key=True),
    sa.Column("region", sa.String(64), nullable=False, index=True),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("told_at", sa.DateTime(timezone=True)),
    # Set on the adopted baseline (revision 0005, egress ledger adopt): where the list was read, its sha256.
    sa.Column("adopted_from", sa.String(2000)),
    sa.Column("adopted_sha256", sa.String(64)),
)

announcements = sa.Table(
    "announcements",
    metadata,
    sa.Column("change_id", sa.String(300), primary_key=True),
    sa.Column("batch_id", sa.String(300), sa.ForeignKey("batches.batch_id"), nullable=False, index=True),
    sa.Column("region", sa.String(64), nullable=False, index=True),
    sa.Column("ip", sa.String(64), nullable=False),
    sa.Column("action", sa.String(8), nullable=False),
    sa.Column("planned", sa.Date, nullable=False),
    sa.Column("notice_days", sa.Integer, nullable=False),
    sa.Column("exception_reason", sa.Text),
    sa.Column("plan_sha256", sa.String(64), nullable=False),
)

batch_workspaces = sa.Table(
    "batch_workspaces",
    metadata,
    sa.Column("batch_id", sa.String(300), sa.ForeignKey("batches.batch_id"), primary_key=True),
    sa.Column("workspace_id", sa.String(200), primary_key=True),
    sa.Column("holds", sa.Boolean, nullable=False),
    sa.Column("waived_at", sa.DateTime(timezone=True)),
    sa.Column("waived_by", sa.String(200)),
    sa.Column("waiver_reason", sa.Text),
)

deliveries = sa.Table(
    "deliveries",
    metadata,
    sa.Column("batch_id", sa.String(300), sa.ForeignKey("batches.batch_id"), primary_key=True),
    sa.Column("workspace_id", sa.String(200), primary_key=True),
    sa.Column("channel", sa.String(16), primary_key=True),
    sa.Column("target", sa.String(2000), nullable=False),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("message_id", sa.String(400), nullable=False),
    sa.Column("last_error", sa.Text),
    sa.Column("sent_at", sa.DateTime(timezone=True)),
)

# Each successful daily run of a region (schema revision 0006): ``job`` is the command ("notify").
heartbeats = sa.Table(
    "heartbeats",
    metadata,
    sa.Column("heartbeat_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("region", sa.String(64), nullable=False),
    sa.Column("job", sa.String(32), nullable=False),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_heartbeats_region_finished_at", "region", "finished_at"),
)

# Each click and open the tracker answered (schema revision 0010): ``kind`` is "click" or "open"; a click's
# ``link_index`` and ``destination`` are the link's; ``client_network`` is the client's address truncated to its
# /24 (IPv4) or /48 (IPv6), never the address itself.
tracking_events = sa.Table(
    "tracking_events",
    metadata,
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
    sa.Index("ix_tracking_events_message_recipient", "message_id", "recipient"),
    sa.Index("ix_tracking_events_occurred_at", "occurred_at"),
)
