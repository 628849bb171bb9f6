"""Which Host names the tracker answers: the verified branded tracking domains.

The tracker asks one question per request, :meth:`VerifiedDomains.is_verified`, of one of these:

- :class:`StaticDomains`: a fixed set (``egress tracking serve --domain D``; tests);
- :class:`LedgerDomains`: the ledger's verified tracking domains, re-read every ``ttl`` seconds: a workspace's
  tracking domain counts only while its stored state (``egress domains verify``; ``domain_states``) is "verified"
  for its current tracking and sending domains
  (:func:`smtp_egress.domains.store.verified_tracking_domains`). A domain with no state, a failed one, or one
  whose state is about names the workspace no longer has is not answered.

Names are compared as DNS names: lowercase, without a trailing dot or a port.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterable
from typing import Protocol

import sqlalchemy as sa

from ..domains.store import verified_tracking_domains


class VerifiedDomains(Protocol):
    def is_verified(self, host: str) -> bool: ...


def host_name(value: str) -> str:
    """A Host header's name: lowercase, without the port and the trailing dot ("" when it is not a name)."""
    name = value.strip().lower()
    if name.startswith("["):
        return ""
    name = name.rsplit(":", 1)[0] if ":" in name else name
    name = name.rstrip(".")
    ok = 0 < len(name) <= 253 and all(c.isalnum() or c in "-." for c in name) and name.isascii()
    return name if ok else ""


class StaticDomains:
    def __init__(self, names: Iterable[str]):
        self.names = frozenset(host_name(n) for n in names) - {""}

    def is_verified(self, host: str) -> bool:
        return host_name(host) in self.names


class LedgerDomains:
    """The verified tracking domains in the ledger at ``engine``, cached for ``ttl`` seconds."""

    def __init__(self, engine: sa.Engine, ttl: float = 30.0, clock: Callable[[], float] = time.monotonic):
        self.engine, self.ttl, self.clock = engine, ttl, clock
        self._names: frozenset[str] = frozenset()
        self._read_at: float | None = None
        self._lock = threading.Lock()

    def is_verified(self, host: str) -> bool:
        with self._lock:
            now = self.clock()
            if self._read_at is None or now - self._read_at >= self.ttl:
                with contextlib.suppress(sa.exc.SQLAlchemyError):  # unreachable: the names last read stand
                    self._names = self._read()
                self._read_at = now
            return host_name(host) in self._names

    def _read(self) -> frozenset[str]:
        with self.engine.connect() as conn:
            found = verified_tracking_domains(conn).values()
        return frozenset(host_name(n) for n in found) - {""}
