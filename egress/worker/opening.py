"""Where the worker's queue and archive are, from a location string (``EGRESS_QUEUE``, ``EGRESS_ARCHIVE``)."""

from __future__ import annotations

from .archive import DEFAULT_ARCHIVE, open_archive
from .queue import JobQueue, QueueError

DEFAULT_QUEUE = ".egress/queue.db"
__all__ = ["DEFAULT_ARCHIVE", "DEFAULT_QUEUE", "open_archive", "open_queue"]


def open_queue(location: str, *, endpoint_url: str | None = None, region: str | None = None) -> JobQueue:
    """An SQS queue for an ``https://sqs...`` URL (or any http(s) queue URL with ``endpoint_url``), else the
    embedded queue's SQLite file at ``location``."""
    if location.startswith(("https://", "http://")):
        from .sqs import SqsQueue

        return SqsQueue(location, endpoint_url=endpoint_url, region=region)
    if "://" in location:
        raise QueueError(f"the queue {location[:120]!r} is neither an SQS queue URL (https://sqs...) nor a file path")
    from .embedded import EmbeddedQueue

    return EmbeddedQueue(location)
