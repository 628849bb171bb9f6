"""Where the worker's queue and archive are, from a location string (``EGRESS_QUEUE``, ``EGRESS_ARCHIVE``)."""

from __future__ import annotations

from .archive import DEFAULT_ARCHIVE, open_archive
from .queue import JobQueue, QueueError

DEFAULT_QUEUE = ".egress/queue.db"
__all__ = ["DEFAULT_ARCHIVE", "DEFAULT_QUEUE", "open_archive", "open_queue"]


def open_queue(
    location: str, *, endpoint_url: str | None = None, region: str | None = None, archive: str | None = None
) -> JobQueue:
    """An SQS queue for an ``https://sqs...`` URL (or any http(s) queue URL with ``endpoint_url``), else the
    embedded queue's SQLite file at ``location``. An SQS queue keeps jobs too large for it beside an S3
    ``archive`` (``s3://bucket/prefix``; :mod:`.offload`); with another archive (or None) it refuses them."""
    if location.startswith(("https://", "http://")):
        from .offload import MessageStore
        from .sqs import SqsQueue

        s3 = archive is not None and archive.startswith("s3://")
        store = MessageStore(archive, endpoint_url=endpoint_url, region=region) if s3 and archive else None
        return SqsQueue(location, endpoint_url=endpoint_url, region=region, store=store)
    if "://" in location:
        raise QueueError(f"the queue {location[:120]!r} is neither an SQS queue URL (https://sqs...) nor a file path")
    from .embedded import EmbeddedQueue

    return EmbeddedQueue(location)
