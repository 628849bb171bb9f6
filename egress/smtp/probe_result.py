"""What ``egress smtp test``'s probe (:mod:`smtp_egress.smtp.probe`) reports: each step, passed or failed, with
what to change."""

from __future__ import annotations

import dataclasses

from .guard import ALLOW_PRIVATE_ENV

REFUSED = (
    "refused before any connection: the workers reach only public (global unicast) addresses on ports other "
    f"than 25 ({ALLOW_PRIVATE_ENV}=1 lifts the address rule for tests and labs)"
)
STEPS = ("DNS", "TCP", "banner", "EHLO", "TLS", "certificate", "AUTH", "MAIL FROM")


@dataclasses.dataclass(frozen=True)
class Step:
    """One step: ``passed`` True/False, or None when it was not needed (AUTH without a user name)."""

    name: str
    passed: bool | None
    detail: str
    advice: str = ""


@dataclasses.dataclass(frozen=True)
class ProbeResult:
    """Every step walked, in order; the walk stops at the first failure."""

    label: str
    steps: tuple[Step, ...]
    fingerprint: str | None = None  # the certificate's SHA-256 (hex) when a TLS handshake saw one

    @property
    def ok(self) -> bool:
        return all(s.passed is not False for s in self.steps) and len(self.steps) == len(STEPS)

    @property
    def failed(self) -> Step | None:
        return next((s for s in self.steps if s.passed is False), None)
