"""Fixtures shared by the whole suite."""

import os
import uuid

import pytest


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """A fresh, empty ledger database URL: an SQLite file, and a real PostgreSQL (schema per test)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/ledger.db"
        return
    base = os.environ.get("EGRESS_TEST_PG_URL")
    if not base:
        if os.environ.get("CI"):
            pytest.fail("EGRESS_TEST_PG_URL is not set: CI must run PostgreSQL (scripts/dev/test starts it)")
        pytest.skip("no PostgreSQL (set EGRESS_TEST_PG_URL, or run scripts/dev/test)")
    import sqlalchemy as sa

    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield base.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()
