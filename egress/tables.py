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
- ``smtp_servers``: each workspace's own SMTP servers (revision 0007), the password sealed
  (:mod:`smtp_egress.smtp.store`); at most one default per workspace (a partial unique index).
- ``worker_outcomes`` and ``worker_dead_letters`` (revision 0008): each recipient's latest outcome of a send job
  (delivered, deferred, failed) with the server's reply, and the jobs the delivery worker dead-lettered, with why.
- ``workspaces.sending_domain``, ``tracking_domain``, ``bounce_label`` (revision 0009): a workspace's branded
  tracking domains (A-labels) and its platform-assigned bounce label; ``domain_states``: each workspace's
  verification state; ``domain_history``: every check's outcome and every transition
  (:mod:`smtp_egress.domains`).
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
    # Branded tracking (revision 0009): A-labels, lowercase, no trailing dot; both set or neither. bounce_label is
    # assigned by the platform once (smtp_egress.domains.names.new_bounce_label) and never changes.
    sa.Column("sending_domain", sa.String(253)),
    sa.Column("tracking_domain", sa.String(253)),
    sa.Column("bounce_label", sa.String(63)),
    sa.Index("ux_workspaces_bounce_label", "bounce_label", unique=True),
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

# Each workspace's own SMTP servers (schema revision 0007; smtp_egress.smtp.store reads and writes them).
smtp_servers = sa.Table(
    "smtp_servers",
    metadata,
    sa.Column("workspace_id", sa.String(200), primary_key=True),
    sa.Column("server_id", sa.String(300), primary_key=True),
    sa.Column("host", sa.String(253), nullable=False),
    sa.Column("port", sa.Integer, nullable=False),
    sa.Column("security", sa.String(16), nullable=False),
    sa.Column("username", sa.String(320)),
    sa.Column("password_sealed", sa.LargeBinary),  # nonce + AES-GCM ciphertext of the password
    sa.Column("password_key", sa.String(300)),  # the key that sealed it: local:<id> or kms:<key id>
    sa.Column("password_data_key", sa.LargeBinary),  # KMS envelope encryption: the encrypted data key
    sa.Column("certificate", sa.String(80), nullable=False),
    sa.Column("campaign_types", sa.String(2000), nullable=False),  # comma-separated
    sa.Column("is_default", sa.Boolean, nullable=False),
    sa.Column("require_tls", sa.Boolean, nullable=False),
    sa.Column("tls_pinned_at", sa.DateTime(timezone=True)),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index(
        "ux_smtp_servers_one_default",
        "workspace_id",
        unique=True,
        sqlite_where=sa.text("is_default"),
        postgresql_where=sa.text("is_default"),
    ),
)

# The delivery worker (schema revision 0008): each (job, recipient)'s latest outcome; ``delivered`` and ``failed``
# are final (never overwritten), ``deferred`` is replaced by the next attempt's outcome.
worker_outcomes = sa.Table(
    "worker_outcomes",
    metadata,
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
    sa.Index("ix_worker_outcomes_state", "state"),
)

worker_dead_letters = sa.Table(
    "worker_dead_letters",
    metadata,
    sa.Column("job_id", sa.String(100), primary_key=True),
    sa.Column("workspace_id", sa.String(200), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("dead_at", sa.DateTime(timezone=True), nullable=False),
)

# A workspace's tracking-domain verification state (revision 0009; smtp_egress.domains.state): ``state`` is
# "verified" or "failed" since ``since``; ``failing_since`` is the first definite failure of the current streak
# (a verified domain becomes failed once the streak spans 72 hours). ``tracking_domain`` and ``sending_domain`` are
# the names the state is about: a workspace whose names changed starts again with no state.
domain_states = sa.Table(
    "domain_states",
    metadata,
    sa.Column("workspace_id", sa.String(200), sa.ForeignKey("workspaces.workspace_id"), primary_key=True),
    sa.Column("tracking_domain", sa.String(253), nullable=False),
    sa.Column("sending_domain", sa.String(253), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("since", sa.DateTime(timezone=True), nullable=False),
    sa.Column("failing_since", sa.DateTime(timezone=True)),
    sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
)

# Every check of a workspace's records (``kind`` "check": ``status`` verified/failed/unknown, ``summary`` the
# records' diagnoses) and every transition (``kind`` "transition": ``status`` the new state, ``previous`` the old).
# No foreign key: the history outlives a removed workspace.
domain_history = sa.Table(
    "domain_history",
    metadata,
    sa.Column("history_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("workspace_id", sa.String(200), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("previous", sa.String(16)),
    sa.Column("summary", sa.Text, nullable=False),
    sa.Index("ix_domain_history_workspace_at", "workspace_id", "at"),
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
