"""When a deferred recipient is tried again: exponential backoff with jitter, up to a maximum age.

Attempt ``n`` (1 = the first delivery) that ends deferred waits ``min(cap, base * 2 ** (n - 1))`` seconds,
scaled by a random factor in [1 - jitter, 1] so that many jobs deferred at once (a server answering 421) do not
come back at once. A job whose next try would fall after ``enqueued_at + max_age`` is not retried: its
deferred recipients become failed ("expired") and the job is dead-lettered.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    base_seconds: float = 60.0
    cap_seconds: float = 3600.0
    max_age: dt.timedelta = dt.timedelta(days=2)
    jitter: float = 0.5  # the share of the delay that is random

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after attempt ``attempt`` ended deferred."""
        plain = min(self.cap_seconds, self.base_seconds * 2.0 ** max(0, attempt - 1))
        share: float = (rng or random).random()
        return float(plain * (1 - self.jitter * share))

    def expired(self, enqueued_at: dt.datetime, now: dt.datetime, delay: float) -> bool:
        """Would a retry ``delay`` seconds from ``now`` fall after the job's maximum age?"""
        return now + dt.timedelta(seconds=delay) > enqueued_at + self.max_age
