"""Alembic's environment for the ledger, run by :mod:`smtp_egress.migrations.upgrade` (no alembic.ini).

Online, the caller hands over its connection (``config.attributes["connection"]``), already inside the
transaction that holds the schema lock: the migrations commit or roll back with it. Offline (``--sql``),
the SQL is written for the dialect of ``config.attributes["url"]``. SQLite alters tables in batch mode.
"""

from __future__ import annotations

from alembic import context

from smtp_egress.ledger import metadata

config = context.config

if context.is_offline_mode():
    url = config.attributes["url"]
    context.configure(
        url=url,
        target_metadata=metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        render_as_batch=url.startswith("sqlite"),
    )
else:
    connection = config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=metadata,
        compare_type=True,
        render_as_batch=connection.dialect.name == "sqlite",
    )
with context.begin_transaction():
    context.run_migrations()
