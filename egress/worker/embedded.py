"""The durable embedded queue: one SQLite file in WAL mode (default ``.egress/queue.db``).

A job is a row; a lease sets ``visible_at`` to the lease's end and a fresh ``lease`` token, in one ``BEGIN
IMMEDIATE`` transaction, so two workers on one file never hold the same job. A killed worker's rows simply
become visible again when ``visible_at`` passes. Every operation on several jobs is one transaction (one fsync
of the WAL), which is what keeps a thousand jobs a second cheap. Dead letters stay in the file
(``state = 'dead'``) with their reason.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

from ..masking import excerpt
from . import job as jobs
from .queue import DeadLetter, Lease, QueueCounts, QueueError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY,
    body TEXT NOT NULL,
    visible_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    lease TEXT,
    state TEXT NOT NULL DEFAULT 'queued',
    reason TEXT
);
CREATE INDEX IF NOT EXISTS jobs_ready ON jobs (state, visible_at);
"""
POLL_SECONDS = 0.05  # how often an empty queue is looked at again while receive() waits


class EmbeddedQueue:
    """The queue in the SQLite file at ``path`` (created with its folder on first use)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.location = str(self.path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")  # WAL: a commit survives kill -9
            self._db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            said = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            where = excerpt(self.location)
            raise QueueError(
                f"cannot open the embedded queue {where}: {said}; give a file in a writable folder"
            ) from None
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                raise QueueError(f"the embedded queue {self.location!r} failed: {exc}") from None

    def put(self, jobs_: Sequence[jobs.SendJob]) -> None:
        now = time.time()
        with self._write() as db:
            db.executemany(
                "INSERT OR IGNORE INTO jobs (job_id, body, visible_at) VALUES (?, ?, ?)",
                [(j.job_id, jobs.encode(j), now) for j in jobs_],
            )

    def receive(self, limit: int, lease_seconds: float, wait_seconds: float) -> list[Lease]:
        deadline = time.monotonic() + wait_seconds
        while True:
            leases = self._lease(limit, lease_seconds)
            if leases or time.monotonic() >= deadline:
                return leases
            time.sleep(min(POLL_SECONDS, max(0.0, deadline - time.monotonic())))

    def _lease(self, limit: int, lease_seconds: float) -> list[Lease]:
        now = time.time()
        token = uuid.uuid4().hex
        with self._write() as db:
            rows = db.execute(
                "SELECT job_id, body, attempts FROM jobs WHERE state = 'queued' AND visible_at <= ? "
                "ORDER BY visible_at LIMIT ?",
                (now, limit),
            ).fetchall()
            db.executemany(
                "UPDATE jobs SET visible_at = ?, attempts = attempts + 1, lease = ? WHERE job_id = ?",
                [(now + lease_seconds, token, row[0]) for row in rows],
            )
        return [Lease(jobs.decode(body), f"{job_id} {token}", attempts + 1) for job_id, body, attempts in rows]

    def done(self, leases: Sequence[Lease]) -> None:
        with self._write() as db:
            db.executemany("DELETE FROM jobs WHERE job_id = ? AND lease = ?", [_key(le) for le in leases])

    def retry(self, lease: Lease, delay_seconds: float) -> None:
        with self._write() as db:
            db.execute(
                "UPDATE jobs SET visible_at = ?, lease = NULL WHERE job_id = ? AND lease = ?",
                (time.time() + delay_seconds, *_key(lease)),
            )

    def extend(self, leases: Sequence[Lease], lease_seconds: float) -> None:
        until = time.time() + lease_seconds
        with self._write() as db:
            db.executemany(
                "UPDATE jobs SET visible_at = ? WHERE job_id = ? AND lease = ?", [(until, *_key(le)) for le in leases]
            )

    def dead_letter(self, lease: Lease, reason: str) -> None:
        with self._write() as db:
            db.execute(
                "UPDATE jobs SET state = 'dead', reason = ?, lease = NULL WHERE job_id = ? AND lease = ?",
                (reason, *_key(lease)),
            )

    def counts(self) -> QueueCounts:
        now = time.time()
        with self._lock:
            try:
                row = self._db.execute(
                    "SELECT SUM(state = 'queued' AND visible_at <= ?), SUM(state = 'queued' AND visible_at > ? "
                    "AND lease IS NOT NULL), SUM(state = 'queued' AND visible_at > ? AND lease IS NULL), "
                    "SUM(state = 'dead') FROM jobs",
                    (now, now, now),
                ).fetchone()
            except sqlite3.Error as exc:
                raise QueueError(f"the embedded queue {self.location!r} failed: {exc}") from None
        ready, in_flight, delayed, dead = (int(v or 0) for v in row)
        return QueueCounts(ready, in_flight, delayed, dead)

    def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        with self._lock:
            rows = self._db.execute(
                "SELECT body, reason FROM jobs WHERE state = 'dead' ORDER BY rowid LIMIT ?", (limit,)
            ).fetchall()
        found = [(jobs.decode(body), reason) for body, reason in rows]
        return [DeadLetter(j.job_id, j.workspace_id, reason or "") for j, reason in found]

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _key(lease: Lease) -> tuple[str, str]:
    job_id, token = lease.handle.split(" ", 1)
    return job_id, token
