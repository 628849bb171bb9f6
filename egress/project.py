"""Where a project keeps its local state, whatever the current directory.

The **project folder** is the nearest folder at or above the plan's folder that holds ``Pulumi.yaml`` (the
repository root, for ``stacks/egress-ips.yaml``), else the plan's own folder. Its ``.egress/`` folder holds the
default ledger (``.egress/egress.db``, an SQLite file) and the default Maildir outbox (``.egress/outbox``), so
running a command from another directory, with ``--plan`` pointing at the project's plan, reads and writes the
project's ledger, never a new one beside the current directory.
"""

from __future__ import annotations

from pathlib import Path

PROJECT_FILE = "Pulumi.yaml"
STATE_DIR = ".egress"
LEDGER_FILE = "egress.db"
OUTBOX_DIR = "outbox"


def project_dir(plan_path: str | Path) -> Path:
    """The project folder of the plan at ``plan_path`` (an absolute path; the plan need not exist)."""
    start = Path(plan_path).resolve().parent
    for folder in (start, *start.parents):
        if (folder / PROJECT_FILE).is_file():
            return folder
    return start


def default_ledger_path(plan_path: str | Path) -> Path:
    """The project's default ledger: ``<project>/.egress/egress.db``."""
    return project_dir(plan_path) / STATE_DIR / LEDGER_FILE


def default_outbox(plan_path: str | Path) -> Path:
    """The project's default Maildir outbox: ``<project>/.egress/outbox``."""
    return project_dir(plan_path) / STATE_DIR / OUTBOX_DIR
