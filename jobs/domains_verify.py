"""``egress domains verify``: check workspaces' tracking-domain records, move their states, record the history,
and tell the workspaces whose state changed.

:func:`run_verify` takes :class:`VerifyInputs` and returns a :class:`VerifyResult`. Workspaces are checked
concurrently, at most ``concurrency`` at once, each within the engine's time budget
(:mod:`.domains_engine`); each outcome is recorded as it arrives (:mod:`smtp_egress.domains.store`), moved by the
one rule (:func:`smtp_egress.domains.state.advance`), and a transition is announced on the workspace's notice
channels (:mod:`.domains_notices`) once the run's checks are done. The run's moment is the real time, or on a
simulation ledger the date option's (``--at``), as for every command that records.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import sys
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Never

from smtp_egress import errors
from smtp_egress.domains.expected import BrandedDomains, expected_records
from smtp_egress.domains.state import DomainState, Transition, advance
from smtp_egress.masking import excerpt

from .domains_engine import Engine, bounded_check, default_engine

if TYPE_CHECKING:
    from tqdm import tqdm

    from smtp_egress.domains.records import DomainCheck
    from smtp_egress.ledger import Ledger
    from smtp_egress.ledger_location import LedgerLocation

    from .domains_notices import NoticeOutcome
    from .notices import NoticeSettings

# Exit codes of egress domains verify (README, "Branded tracking domains"); 6 is errors.DELIVERY_INCOMPLETE.
DOMAIN_FAILED = 7
DOMAIN_UNKNOWN = 8
DEFAULT_TIMEOUT = 2.0
RECORD_GROUP = 500  # outcomes recorded in one transaction ...
RECORD_WINDOW_S = 1.0  # ... and none waits longer than this (checked as outcomes arrive)
DEFAULT_CONCURRENCY = 200


class UnknownDomain(errors.InputError):
    """A domain or workspace asked for is not a branded domain of any workspace in the ledger."""


@dataclasses.dataclass(frozen=True)
class Selection:
    """Which workspaces: ``workspace_id``, or those whose tracking or sending domain is in ``domains``
    (stored form), or every one (``all``)."""

    workspace_id: str | None = None
    domains: tuple[str, ...] = ()
    all: bool = False


@dataclasses.dataclass(frozen=True)
class VerifyInputs:
    db: LedgerLocation | str
    platform_domains: Mapping[str, str]  # region -> the stack's trackingDomain
    selection: Selection
    moment: dt.datetime
    moment_option: str | None = None  # "--at 2026-12-01"; None: the real clock
    nameserver: tuple[str, int] | None = None  # None: the system's resolver
    authoritative: bool = False
    timeout: float = DEFAULT_TIMEOUT
    concurrency: int = DEFAULT_CONCURRENCY
    notices: NoticeSettings | None = None  # None: no transition notice is sent
    progress: bool | None = None  # None: a progress bar only on a terminal
    engine: Engine | None = None  # None: smtp_egress.checks.domains


@dataclasses.dataclass(frozen=True)
class Verified:
    """One workspace: its names, this check, the state stored after it, and the transition it made."""

    domains: BrandedDomains
    check: DomainCheck
    state: DomainState | None
    transition: Transition | None


@dataclasses.dataclass(frozen=True)
class VerifyResult:
    moment: dt.datetime
    items: tuple[Verified, ...]
    notices: NoticeOutcome | None = None
    simulated: bool = False

    @property
    def exit_code(self) -> int:
        """6 when a transition notice was not delivered, else 7 when a check failed, else 8 when one was unknown."""
        if self.notices is not None and self.notices.failed:
            return errors.DELIVERY_INCOMPLETE
        statuses = {i.check.status for i in self.items}
        if "failed" in statuses:
            return DOMAIN_FAILED
        return DOMAIN_UNKNOWN if "unknown" in statuses else errors.OK


def run_verify(inputs: VerifyInputs) -> VerifyResult:
    from smtp_egress.domains import store
    from smtp_egress.ledger import Ledger
    from smtp_egress.simulation import recording_moment

    ledger = Ledger(inputs.db)
    try:
        with ledger.lock("domains-verify"):  # two runs at once would each move the states they read
            chosen = select(ledger, inputs.selection)
            check_regions(chosen, inputs.platform_domains)
            moment = recording_moment(ledger, inputs.moment, inputs.moment_option)
            stored = store.states(ledger, chosen)
            # A loop of its own: asyncio.run() would leave the thread without a current event loop afterwards, which
            # breaks a caller that still uses asyncio.get_event_loop() (the Pulumi engine, in the same process).
            with asyncio.Runner(loop_factory=asyncio.new_event_loop) as runner:
                items = runner.run(_verify_all(ledger, chosen, stored, inputs, moment))
            notices = None
            if inputs.notices is not None and any(i.transition for i in items):
                from .domains_notices import announce

                changed = [i for i in items if i.transition]
                notices = announce(ledger, changed, inputs.notices, moment, ledger.simulation)
        return VerifyResult(moment, tuple(items), notices, ledger.simulation)
    finally:
        ledger.close()


def select(ledger: Ledger, selection: Selection) -> list[BrandedDomains]:
    from smtp_egress.domains import store

    if selection.all:
        return store.branded(ledger)
    if selection.workspace_id is not None:
        found = store.branded(ledger, [selection.workspace_id])
        if not found:
            raise UnknownDomain(
                f"workspace {excerpt(selection.workspace_id, 80)} is not in the ledger or has no branded domains "
                "(import it with the columns sending_domain,tracking_domain); nothing was done"
            )
        return found
    owners = store.workspace_by_domain(ledger, selection.domains)
    missing = [d for d in selection.domains if d not in owners]
    if missing:
        raise UnknownDomain(
            f"no workspace has the tracking or sending domain {', '.join(excerpt(d, 80) for d in missing[:5])}; "
            "egress workspaces list shows them; nothing was done"
        )
    return store.branded(ledger, sorted(set(owners.values())))


def check_regions(chosen: Sequence[BrandedDomains], platform: Mapping[str, str]) -> None:
    lacking = sorted({d.region for d in chosen} - set(platform))
    if lacking:
        raise errors.ConfigError(
            f"no platform tracking domain for region {', '.join(map(repr, lacking))}: set trackingDomain in "
            "the region's stack file or EGRESS_TRACKING_DOMAIN; nothing was checked"
        )


async def _verify_all(
    ledger: Ledger,
    chosen: Sequence[BrandedDomains],
    stored: Mapping[str, DomainState],
    inputs: VerifyInputs,
    moment: dt.datetime,
) -> list[Verified]:
    from smtp_egress.domains import store

    if not chosen:
        return []
    engine = inputs.engine or default_engine()
    resolver = engine.resolver(inputs.nameserver, inputs.authoritative, inputs.timeout, inputs.concurrency)
    slots = asyncio.Semaphore(inputs.concurrency)

    async def one(d: BrandedDomains) -> tuple[BrandedDomains, DomainCheck]:
        async with slots:
            expected = expected_records(d, inputs.platform_domains[d.region])
            return d, await bounded_check(engine, resolver, d.workspace_id, expected, inputs.timeout)

    out: list[Verified] = []
    pending: list[store.Recorded] = []
    flushed = time.monotonic()
    bar = _bar(len(chosen), inputs.progress)
    try:
        for next_done in asyncio.as_completed([one(d) for d in chosen]):
            d, check = await next_done
            check = dataclasses.replace(check, checked_at=moment)
            step = advance(stored.get(d.workspace_id), check.status, moment)
            pending.append((d, check, step))
            out.append(Verified(d, check, step.stored, step.transition))
            bar.update(1)
            if len(pending) >= RECORD_GROUP or time.monotonic() - flushed > RECORD_WINDOW_S:
                store.record(ledger, pending)
                pending, flushed = [], time.monotonic()
        store.record(ledger, pending)
    finally:
        bar.close()
        closing = getattr(resolver, "aclose", None)
        if closing is not None:
            await closing()
    return sorted(out, key=lambda v: v.domains.workspace_id)


def _bar(total: int, progress: bool | None) -> tqdm[Never]:
    from tqdm import tqdm as progress_bar

    show = sys.stderr.isatty() if progress is None else progress
    return progress_bar(total=total, unit="workspace", disable=not show, file=sys.stderr, desc="verifying")
