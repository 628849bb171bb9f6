"""The worker's Prometheus metrics, in the text exposition format (version 0.0.4), with no dependency.

- ``egress_worker_recipients_total{route, outcome}``: recipients delivered / deferred / failed per route (the
  server's label ``workspace/host:port``; never a credential);
- ``egress_worker_delivery_seconds{route}``: a histogram of how long a delivery took;
- ``egress_worker_dead_letters_total``, ``egress_worker_jobs_total``.
"""

from __future__ import annotations

import threading
from collections import defaultdict

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
OUTCOMES = ("delivered", "deferred", "failed")


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.recipients: dict[tuple[str, str], int] = defaultdict(int)
        self._buckets: dict[str, list[int]] = {}
        self._sums: dict[str, float] = defaultdict(float)
        self._counts: dict[str, int] = defaultdict(int)
        self.jobs = 0
        self.dead_letters = 0

    def observe(self, route: str, outcome: str, seconds: float) -> None:
        with self._lock:
            self.recipients[(route, outcome)] += 1
            counts = self._buckets.setdefault(route, [0] * len(BUCKETS))
            for i, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    counts[i] += 1
            self._sums[route] += seconds
            self._counts[route] += 1

    def finished(self, jobs: int, dead_letters: int) -> None:
        with self._lock:
            self.jobs += jobs
            self.dead_letters += dead_letters

    def total(self, outcome: str) -> int:
        with self._lock:
            return sum(n for (_, kind), n in self.recipients.items() if kind == outcome)

    def render(self) -> str:
        with self._lock:
            lines = [
                "# HELP egress_worker_recipients_total Recipients by outcome and route.",
                "# TYPE egress_worker_recipients_total counter",
            ]
            for (route, outcome), n in sorted(self.recipients.items()):
                lines.append(f'egress_worker_recipients_total{{route="{_label(route)}",outcome="{outcome}"}} {n}')
            lines += [
                "# HELP egress_worker_delivery_seconds How long a delivery took, per route.",
                "# TYPE egress_worker_delivery_seconds histogram",
            ]
            for route, counts in sorted(self._buckets.items()):
                r = _label(route)
                for bound, n in zip(BUCKETS, counts, strict=True):
                    lines.append(f'egress_worker_delivery_seconds_bucket{{route="{r}",le="{bound}"}} {n}')
                lines.append(f'egress_worker_delivery_seconds_bucket{{route="{r}",le="+Inf"}} {self._counts[route]}')
                lines.append(f'egress_worker_delivery_seconds_sum{{route="{r}"}} {self._sums[route]:.6f}')
                lines.append(f'egress_worker_delivery_seconds_count{{route="{r}"}} {self._counts[route]}')
            lines += [
                "# HELP egress_worker_jobs_total Jobs finished (delivered, failed or dead-lettered).",
                "# TYPE egress_worker_jobs_total counter",
                f"egress_worker_jobs_total {self.jobs}",
                "# HELP egress_worker_dead_letters_total Jobs dead-lettered.",
                "# TYPE egress_worker_dead_letters_total counter",
                f"egress_worker_dead_letters_total {self.dead_letters}",
            ]
        return "\n".join(lines) + "\n"
