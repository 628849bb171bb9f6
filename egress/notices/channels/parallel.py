"""Several HTTP notices in flight at once, so that an endpoint that never answers holds one slot, not the run.

The webhook and Slack channels send one notice per request, and each request is bounded by its own timeout
and retries (:class:`~smtp_egress.notices.outbound.Poster`: about half a minute for an endpoint that accepts
the connection and never answers). Sent one after the other, two such endpoints delayed every notice behind
them by a minute. :func:`send_in_parallel` keeps up to ``workers`` requests in flight on a thread pool, at most
``per_host`` of them to the same host (a customer whose one endpoint hangs for many workspaces takes
``per_host`` slots, and the other customers' notices go past it in the meantime: the ones for that host wait
their turn, in order). Outcomes are reported from the calling thread only, as each request ends, so the
fan-out records them as before. The stream is pulled in the calling thread too, only when a slot is free: the
fan-out's deadline and the sender's :meth:`~.base.Sender.held` see each outcome that arrived before. Once the
deadline has passed nothing more is started, and the notices pulled ahead are handed back (they stay pending).
"""

from __future__ import annotations

import collections
import datetime as dt
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, cast
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from ...ledger import Delivery
    from ..render import RenderedNotice
    from .base import NoticeStream, Outcome, Sender

WORKERS = 8  # HTTP requests in flight at once, per channel
PER_HOST = 2  # ... of which at most this many to one host

Item = tuple["Delivery", "RenderedNotice"]


def host_of(d: Delivery) -> str:
    """The host (and port) a delivery's URL target points at, lower-cased: the unit of :data:`PER_HOST`."""
    try:
        return urlsplit(d.target).netloc.rpartition("@")[2].lower()
    except ValueError:
        return d.target


def send_in_parallel(
    sender: Sender,
    notices: NoticeStream,
    now: Callable[[], dt.datetime],
    done: Outcome,
    *,
    workers: int = WORKERS,
    per_host: int = PER_HOST,
) -> None:
    """``sender.send`` for every notice of ``notices`` on up to ``workers`` threads, at most ``per_host`` at once
    to one host; ``done(d, None | DeliveryError)`` in this thread as each one ends. An exception other than a
    DeliveryError stops the run: nothing more is started, the requests in flight end, and it is raised here."""
    from ...errors import DeliveryError

    in_flight: dict[Future[None], tuple[Delivery, str]] = {}
    busy: collections.Counter[str] = collections.Counter()
    waiting: collections.deque[Item] = collections.deque()  # pulled, but their host had no free slot
    exhausted = False

    def start(pool: ThreadPoolExecutor, item: Item) -> None:
        d, notice = item
        host = host_of(d)
        busy[host] += 1
        in_flight[pool.submit(sender.send, d, notice, now())] = (d, host)

    def next_startable() -> Item | None:
        nonlocal exhausted
        why = notices.stopped()
        if why is not None:  # the run's deadline: start nothing more, hand back what was pulled ahead
            while waiting:
                notices.put_back(waiting.popleft()[0], why)
            exhausted = True
            return None
        for i, item in enumerate(waiting):
            if busy[host_of(item[0])] < per_host:
                del waiting[i]
                return item
        while not exhausted and len(waiting) < workers * per_host:  # bounded look-ahead past a busy host
            pulled = next(notices, None)
            if pulled is None:
                exhausted = True
            elif busy[host_of(pulled[0])] < per_host:
                return pulled
            else:
                waiting.append(pulled)
        return None

    with ThreadPoolExecutor(max(1, workers), thread_name_prefix="egress-http") as pool:
        try:
            while True:
                while len(in_flight) < workers:
                    item = next_startable()
                    if item is None:
                        break
                    start(pool, item)
                if not in_flight:
                    return  # nothing in flight and nothing startable: every host's queue is empty
                finished, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                for future in finished:
                    d, host = in_flight.pop(future)
                    busy[host] -= 1
                    try:
                        future.result()
                    except DeliveryError as exc:
                        done(d, exc)
                    else:
                        done(d, None)
        finally:
            for future in in_flight:
                future.cancel()  # the ones not started yet; the pool waits for the others


class InParallel:
    """A sender (:class:`~.base.Sender`) whose notices go out through :func:`send_in_parallel`: it becomes a
    :class:`~.base.StreamingSender`."""

    def send_all(self, notices: NoticeStream, now: Callable[[], dt.datetime], done: Outcome) -> None:
        send_in_parallel(cast("Sender", self), notices, now, done)
