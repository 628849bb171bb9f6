"""Heartbeats: the ledger's record of each successful daily run, and the metric that makes silence an alarm.

A run of the daily job that exits 0 (not a dry run) records a heartbeat for its region (``heartbeats``,
schema revision 0006) and puts one data point of :data:`METRIC_NAME` (value 1, dimension :data:`DIMENSION` =
the region) into a CloudWatch namespace (:mod:`smtp_egress.jobs.heartbeat`). The stacks' alarm on that metric
(:mod:`smtp_egress.components.silence_alarms`) treats missing data as breaching and fires when no run
succeeded for :data:`SILENCE_HOURS` hours: a schedule that stops firing, a task that never starts, a job
that fails every day all end in silence. ``egress status`` reads the latest heartbeat. The names live here so
that the job that puts the metric and the alarm that watches it cannot disagree.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re

import sqlalchemy as sa

from .batches import aware
from .tables import heartbeats

DEFAULT_NAMESPACE = "SmtpEgress"
METRIC_NAME = "DailyRunSucceeded"
DIMENSION = "Region"
SILENCE_HOURS = 26  # a daily run, plus two hours of slack for a late start, retries and a long fan-out
# CloudWatch namespaces: 1-255 of these characters, not starting with "AWS/" (reserved) or ":".
_NAMESPACE = re.compile(r"[A-Za-z0-9.\-_/#: ]{1,255}")


def namespace_problem(namespace: object) -> str | None:
    """Why CloudWatch would refuse ``namespace`` (None: it is a valid custom namespace)."""
    if not isinstance(namespace, str) or not _NAMESPACE.fullmatch(namespace) or namespace.startswith(("AWS/", ":")):
        return (
            "is not a CloudWatch namespace: 1-255 letters, digits and . - _ / # : or space, not starting with "
            f"'AWS/' (reserved for AWS) or ':'; e.g. {DEFAULT_NAMESPACE!r}"
        )
    return None


@dataclasses.dataclass(frozen=True)
class Heartbeat:
    """One successful run of ``job`` for ``region``."""

    region: str
    job: str
    started_at: dt.datetime
    finished_at: dt.datetime


class HeartbeatRecord:
    """Record and read heartbeats (a part of :class:`smtp_egress.ledger.Ledger`)."""

    @property
    def conn(self) -> sa.Connection:
        raise NotImplementedError  # the Ledger's connection

    def record_heartbeat(self, beat: Heartbeat) -> None:
        """Record a successful run, in its own committed transaction."""
        with self.conn.begin():
            self.conn.execute(
                heartbeats.insert().values(
                    region=beat.region, job=beat.job, started_at=beat.started_at, finished_at=beat.finished_at
                )
            )

    def last_heartbeat(self, region: str) -> Heartbeat | None:
        """The latest successful run of ``region`` (by when it finished), or None if none was recorded."""
        h = heartbeats.c
        q = (
            sa.select(h.region, h.job, h.started_at, h.finished_at)
            .where(h.region == region)
            .order_by(h.finished_at.desc(), h.heartbeat_id.desc())
            .limit(1)
        )
        with self.conn.begin():
            row = self.conn.execute(q).first()
        if row is None:
            return None
        return Heartbeat(row.region, row.job, aware(row.started_at), aware(row.finished_at))
