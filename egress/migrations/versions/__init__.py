"""The ledger's migrations, one module per schema revision (run by Alembic, never imported)."""
