-- The ledger schema of smtp-egress 0.1.0 (commit 2b9d1c1) on postgresql: the statements its
-- metadata.create_all ran (CREATE TABLE, then CREATE INDEX, per table in dependency order). Frozen: never edit.

CREATE TABLE announcements (
	change_id VARCHAR(300) NOT NULL,
	region VARCHAR(64) NOT NULL,
	ip VARCHAR(64) NOT NULL,
	action VARCHAR(8) NOT NULL,
	planned DATE NOT NULL,
	announced_at TIMESTAMP WITH TIME ZONE NOT NULL,
	notice_days INTEGER NOT NULL,
	exception_reason TEXT,
	plan_sha256 VARCHAR(64) NOT NULL,
	PRIMARY KEY (change_id)
);

CREATE INDEX ix_announcements_region ON announcements (region);

CREATE TABLE workspaces (
	workspace_id VARCHAR(200) NOT NULL,
	region VARCHAR(64) NOT NULL,
	email VARCHAR(320) NOT NULL,
	webhook_url VARCHAR(2000),
	updated_at TIMESTAMP WITH TIME ZONE NOT NULL,
	PRIMARY KEY (workspace_id)
);

CREATE INDEX ix_workspaces_region ON workspaces (region);

CREATE TABLE deliveries (
	change_id VARCHAR(300) NOT NULL,
	workspace_id VARCHAR(200) NOT NULL,
	channel VARCHAR(16) NOT NULL,
	target VARCHAR(2000) NOT NULL,
	status VARCHAR(16) NOT NULL,
	attempts INTEGER NOT NULL,
	message_id VARCHAR(400) NOT NULL,
	last_error TEXT,
	sent_at TIMESTAMP WITH TIME ZONE,
	PRIMARY KEY (change_id, workspace_id, channel),
	FOREIGN KEY(change_id) REFERENCES announcements (change_id)
);

CREATE INDEX ix_deliveries_status ON deliveries (status);
