"""A workspace's tracking-domain state, and the one rule that moves it: :func:`advance`.

States: ``verified`` or ``failed`` since a moment; no stored state at all until a check was definite. A check is
``verified``, ``failed`` (definite: NXDOMAIN, NODATA or wrong data) or ``unknown`` (SERVFAIL, a timeout, a refused
answer: DNS said nothing either way).

- ``unknown`` never changes anything: not the state, not a failure streak.
- ``verified`` makes the state verified (a transition if it was not) and ends any failure streak.
- ``failed`` makes a domain with no state, or a failed one, failed at once (there is nothing to protect). A
  verified domain stays verified and starts a failure streak (``failing_since``); it becomes failed only when a
  definite failure comes :data:`GRACE` (72 hours) or more after the streak's first one: a record deleted by mistake
  and put back within three days, or a DNS provider's bad afternoon, never breaks a customer's tracking links.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Literal

from .records import Status

GRACE = dt.timedelta(hours=72)
State = Literal["verified", "failed"]


@dataclasses.dataclass(frozen=True)
class DomainState:
    """What is stored for a workspace: ``state`` since ``since``; ``failing_since``: the first definite failure
    of a streak a verified domain is in (None: no streak)."""

    state: State
    since: dt.datetime
    failing_since: dt.datetime | None = None

    def fails_at(self) -> dt.datetime | None:
        """When a verified domain in a failure streak becomes failed if the failures go on, else None."""
        if self.state != "verified" or self.failing_since is None:
            return None
        return self.failing_since + GRACE


@dataclasses.dataclass(frozen=True)
class Transition:
    """A change of state: from ``previous`` (None: no state yet) to ``state`` at ``at``."""

    previous: State | None
    state: State
    at: dt.datetime


@dataclasses.dataclass(frozen=True)
class Advanced:
    """What a check did: the state to store (None: still none) and the transition, if the state changed."""

    stored: DomainState | None
    transition: Transition | None


def advance(stored: DomainState | None, check: Status, at: dt.datetime) -> Advanced:
    """The state after a check of status ``check`` at ``at`` (see the module docstring)."""
    if check == "unknown":
        return Advanced(stored, None)
    previous = stored.state if stored is not None else None
    if check == "verified":
        if previous == "verified":
            assert stored is not None
            return Advanced(dataclasses.replace(stored, failing_since=None), None)
        return Advanced(DomainState("verified", at), Transition(previous, "verified", at))
    if stored is None or previous == "failed":
        kept = stored if stored is not None else DomainState("failed", at)
        return Advanced(kept, None if stored is not None else Transition(None, "failed", at))
    streak = stored.failing_since if stored.failing_since is not None else at
    if at - streak >= GRACE:
        return Advanced(DomainState("failed", at), Transition("verified", "failed", at))
    return Advanced(dataclasses.replace(stored, failing_since=streak), None)
