"""The daily task of one region: the whole day's work, in the order that keeps the promise.

1. **notify**: announce what is due and deliver the notices (:func:`smtp_egress.jobs.notify.run_notify`).
2. **publish**: the region's list as of the run, except that an address the gateways still hold stays listed
   even if its removal is in effect today (:func:`smtp_egress.addresses.listed_while_attached`): today's
   additions are published before anything can send from them.
3. **gateways**: bring the NAT gateways to the day's state (``egress deploy``: :mod:`smtp_egress.jobs.deploy`),
   which attaches today's additions and detaches today's removals, or does nothing when they are already there.
4. **publish again**, only when the gateways changed: the detached addresses now leave the list.

So at no moment can an address send while it is not in the published list (additions: publish, then attach),
and no address leaves the list while it can still send (removals: detach, then publish). A step that fails
stops the run there, and every state it can stop in is safe: the list only ever holds more than the gateways.

5. **heartbeat**, only when every step succeeded (each exit 0, none stopped): the day's heartbeat
   (:func:`smtp_egress.jobs.heartbeat.record_heartbeat`, ``job="daily"``). The notify step records none of its
   own: a run that notified and then failed to publish or to move the gateways is not a successful run, and the
   silence alarm must go on counting the hours.

The steps are parameters, so the scheduled task, a person and a test run the same order:
:class:`Publisher` puts the region's tree live (:class:`~smtp_egress.jobs.daily_upload.S3Publisher` uploads it to
the publisher bucket, what customers fetch; :class:`~smtp_egress.jobs.daily_publish.DirectoryPublisher` writes it
into a folder),
:class:`Gateways` reads and changes what the gateways hold, ``notify`` runs the notice job. A notify run that
reports problems (exit 3 to 6) does not stop the others: what is published and attached follows what customers
were told, which the ledger says; a notify that raises (a bad setting) stops the run before anything moves.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from smtp_egress import errors
from smtp_egress.wording import count

if TYPE_CHECKING:
    from .heartbeat import HeartbeatResult
    from .notify import NotifyResult


@dataclasses.dataclass(frozen=True)
class PublishRequest:
    """Put the region's tree live as of ``moment``; ``keep_listed``: the addresses the gateways hold now,
    which stay in the list even if their removal is in effect (they can still send)."""

    region: str
    moment: dt.datetime
    keep_listed: frozenset[str]


@dataclasses.dataclass(frozen=True)
class Published:
    """What a publish step put live: the region's listed addresses and where."""

    addresses: tuple[str, ...]
    where: str
    changed: tuple[str, ...] = ()  # the paths whose content changed (all of them for a plain folder)


class Publisher(Protocol):
    def __call__(self, request: PublishRequest) -> Published: ...


@dataclasses.dataclass(frozen=True)
class GatewayChange:
    """The gateways step: whether it changed anything, what they hold after it, and its own words."""

    changed: bool
    attached: frozenset[str]
    message: str


class Gateways(Protocol):
    def attached(self) -> frozenset[str]:
        """The addresses the region's NAT gateways hold now (the deployed stack's outputs)."""
        ...

    def bring_to_day(self) -> GatewayChange:
        """Attach and detach what the day needs (``egress deploy``), or nothing when they are already there."""
        ...


@dataclasses.dataclass(frozen=True)
class Step:
    name: str  # notify | publish | gateways | publish-again | heartbeat
    exit_code: int
    message: str


@dataclasses.dataclass(frozen=True)
class DailyResult:
    region: str
    steps: tuple[Step, ...]
    notify: NotifyResult | None = None
    stopped: str | None = None  # the step that failed and stopped the run (its message is its Step's)
    heartbeat: HeartbeatResult | None = None  # recorded: every step succeeded

    @property
    def exit_code(self) -> int:
        return errors.most_urgent(s.exit_code for s in self.steps)


def run_daily(
    region: str,
    moment: dt.datetime,
    notify: Callable[[], NotifyResult],
    publish: Publisher,
    gateways: Gateways,
    heartbeat: Callable[[NotifyResult], HeartbeatResult] | None = None,
) -> DailyResult:
    """Run the day's steps in order (module docstring); a step's EgressError stops the run, recorded.
    ``heartbeat`` records the day's successful run (given the notify step's result, for its moment)."""
    steps: list[Step] = []

    def stop(name: str, exc: errors.EgressError, notified: NotifyResult | None = None) -> DailyResult:
        steps.append(Step(name, exc.exit_code, f"{exc}; the later steps did not run"))
        return DailyResult(region, tuple(steps), notified, stopped=name)

    try:
        notified = notify()
    except errors.EgressError as exc:
        return stop("notify", exc)
    problems = "; ".join(p.message for p in notified.problems)
    steps.append(
        Step("notify", notified.exit_code, problems or f"{count(len(notified.announced), 'change')} announced")
    )
    # the tree as of the latest announcement this run made (told after the run's start, on the real clock): the
    # first publish already shows it in `upcoming`, or tomorrow's notify would find it missing from the list
    moment = max([moment, *(when for _, when in notified.told)])
    try:
        before = gateways.attached()
    except errors.EgressError as exc:  # the deployed stack cannot be read: nothing is published or changed
        return stop("gateways", exc, notified)
    try:
        first = publish(PublishRequest(region, moment, before))
    except errors.EgressError as exc:
        return stop("publish", exc, notified)
    steps.append(Step("publish", errors.OK, _listed(first)))
    try:
        change = gateways.bring_to_day()
    except errors.EgressError as exc:
        return stop("gateways", exc, notified)
    steps.append(Step("gateways", errors.OK, change.message))
    if change.changed:
        try:
            again = publish(PublishRequest(region, moment, change.attached))
        except errors.EgressError as exc:
            return stop("publish-again", exc, notified)
        steps.append(Step("publish-again", errors.OK, _listed(again)))
    if heartbeat is None or any(s.exit_code != errors.OK for s in steps):
        return DailyResult(region, tuple(steps), notified)
    try:
        beat = heartbeat(notified)
    except errors.EgressError as exc:
        return stop("heartbeat", exc, notified)
    steps.append(Step("heartbeat", errors.OK, f"the day's successful run recorded in the ledger; {_metric(beat)}"))
    return DailyResult(region, tuple(steps), notified, heartbeat=beat)


def _metric(beat: HeartbeatResult) -> str:
    words = {
        "put": f"the metric put in CloudWatch namespace {beat.namespace!r}",
        "simulation": "no metric (a simulation)",
        "failed": f"the metric was NOT put: {beat.metric_error}",
    }
    return words.get(beat.metric, "no metric namespace configured")


def _listed(published: Published) -> str:
    return f"{count(len(published.addresses), 'address')} listed at {published.where}"
