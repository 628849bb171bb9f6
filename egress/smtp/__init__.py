"""Workspaces' own SMTP servers: the settings (host, port, security, credentials, certificate check, campaign
types), their validation and encrypted storage, the destination guard, and ``egress smtp test``'s probe."""
