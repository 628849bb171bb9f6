"""Where a report's inputs came from: the plan file (its sha256 and git commit), the ledger, the tool version.

An auditor holding a report can check that the plan it was built from is the one in the repository
(``commit`` plus ``modified``: whether the working copy differed from that commit when the report was
made), and which ledger it read (the URL with any password masked).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import subprocess
from pathlib import Path

GIT_TIMEOUT = 10


@dataclasses.dataclass(frozen=True)
class GitInfo:
    """The plan file in its git checkout: the last commit touching it, and whether the working copy differs."""

    commit: str | None  # None: the file is not tracked (never committed)
    path: str  # the plan's path inside the repository
    modified: bool  # the working copy differs from ``commit`` (or the file is untracked)


@dataclasses.dataclass(frozen=True)
class Provenance:
    generated_at: dt.datetime  # when the report was made (real time)
    at: dt.datetime  # the moment the report describes (``--at``, default: generated_at)
    since: dt.date | None  # the history starts here (``--since``), or None for the full history
    plan_path: str
    plan_sha256: str
    notice_days: int
    git: GitInfo | None  # None when the plan is not in a git checkout (or git is missing)
    ledger_url: str  # password masked
    version: str
    simulated: bool = False  # the ledger is a simulation (tests, demos): the report says so


def plan_git_info(plan_path: str | Path) -> GitInfo | None:
    """``git log -1 --format=%H -- <plan>`` and ``git status --porcelain -- <plan>``, run in the plan's folder."""
    path = Path(plan_path).resolve()
    folder, name = str(path.parent), path.name
    prefix = _git(folder, "rev-parse", "--show-prefix")
    if prefix is None:
        return None
    commit = _git(folder, "log", "-1", "--format=%H", "--", name) or ""  # fails in a repository with no commits
    status = _git(folder, "status", "--porcelain", "--", name)
    if status is None:
        return None
    return GitInfo(commit=commit.strip() or None, path=prefix.strip() + name, modified=bool(status.strip()))


def _git(cwd: str, *args: str) -> str | None:
    """Git's stdout, or None when git is missing, the folder is not a checkout, or git fails."""
    try:
        done = subprocess.run(
            ["git", "-C", cwd, *args], capture_output=True, text=True, timeout=GIT_TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None
