"""Which Host names the tracker answers: the verified branded tracking domains.

The tracker asks one question per request, :meth:`VerifiedDomains.is_verified`, of one of these:

- :class:`StaticDomains`: a fixed set (``egress tracking serve --domain D``; tests);
- :class:`LedgerDomains`: the tracking domains of the ledger's workspaces, re-read every ``ttl`` seconds. Until
  branded-domain verification (``egress domains verify``, its state per workspace) is part of the ledger, every
  tracking domain a workspace has counts as verified; once it is, this is the one place to read that state. A
  ledger whose workspaces have no tracking domain column answers no host at all.

Names are compared as DNS names: lowercase, without a trailing dot or a port.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterable
from typing import Protocol

import sqlalchemy as sa


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
    """The workspaces' tracking domains in the ledger at ``engine``, cached for ``ttl`` seconds."""

    def __init__(self, engine: sa.Engine, ttl: float = 30.0, clock: Callable[[], float] = time.monotonic):
        self.engine, self.ttl, self.clock = engine, ttl, clock
        self._names: frozenset[str] = frozenset()
        self._read_at: float | None = None
        self._lock = threading.Lock()

    @property
    def available(self) -> bool:
        """Whether the ledger's workspaces have a tracking domain column at all."""
        columns = {c["name"] for c in sa.inspect(self.engine).get_columns("workspaces")}
        return "tracking_domain" in columns

    def is_verified(self, host: str) -> bool:
        with self._lock:
            now = self.clock()
            if self._read_at is None or now - self._read_at >= self.ttl:
                with contextlib.suppress(sa.exc.SQLAlchemyError):  # unreachable: the names last read stand
                    self._names = self._read()
                self._read_at = now
            return host_name(host) in self._names

    def _read(self) -> frozenset[str]:
        if not self.available:
            return frozenset()
        table = sa.table("workspaces", sa.column("tracking_domain"))
        with self.engine.connect() as conn:
            found = conn.execute(sa.select(table.c.tracking_domain).distinct()).scalars().all()
        return frozenset(host_name(str(n)) for n in found if n) - {""}
