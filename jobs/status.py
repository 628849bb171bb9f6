"""``egress status``: is the promise safe right now? What an on-call engineer runs first.

For one region, from the plan, the ledger and the live published document, at a moment (:class:`StatusInputs`),
:func:`run_status` gathers (:class:`StatusResult`):

- **the daily job**: its last successful run (the ledger's latest heartbeat); none for
  :data:`~smtp_egress.heartbeats.SILENCE_HOURS` hours is the silence the CloudWatch alarm reports (exit 6);
- **the publication**: the live document, fetched as the daily job fetches it (:mod:`smtp_egress.checks.published`:
  the same guards, a bad fetch is exit 3), against the document the plan and the ledger say must be published now
  (rendered as ``egress publish`` renders it): equal bytes (sha256), or which addresses and announced changes
  differ (exit 5). Announcements less than a day old missing from ``upcoming`` are a note: the next publication
  adds them;
- **notices**: every batch of the region with notices neither delivered nor accepted undelivered (exit 6: the
  next run retries them, or a human decides);
- **changes** planned within ``notice_days`` (or past their day and not in effect): announced and delivered, held
  (exit 6), too close to announce in time (exit 4), due (the next run announces them), announced late;
- **gateways**: what the timeline attaches today and what changes on the gateways today; an attached address the
  live list lacks (exit 5: it would send while customers do not list it); the deploy guard's refusals (exit 4:
  the plan is ahead of the notices). Given the deployed stack's outputs (``egress status --stack``, read through
  the Automation API as ``egress deploy`` does), it compares what the gateways hold with the timeline: an
  address attached there and missing from the live list is exit 5, and so are gateways out of step with the
  timeline, except today's moves before today's daily run has succeeded (a note). Without them, what is
  deployed is ``unknown``.

:attr:`StatusResult.problems` are what a human must act on, each with the README's exit code; exit 0 only when
there is none.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from smtp_egress import errors
from smtp_egress.heartbeats import Heartbeat
from smtp_egress.ledger import NoticeTally

from .notify import Problem

if TYPE_CHECKING:
    from smtp_egress.ledger_location import LedgerLocation

DEPLOYED_UNKNOWN = "unknown"  # without --stack, status reads no cloud or Pulumi state


@dataclasses.dataclass(frozen=True)
class StatusInputs:
    region: str
    plan_path: str
    db_url: LedgerLocation | str  # the ledger (it must exist)
    published: str  # the live document: an http(s) URL or a file
    moment: dt.datetime  # "now" (aware UTC)
    deployed: Callable[[], Mapping[str, Any]] | None = None  # the deployed stack's outputs (None: not read)
    stack: str | None = None  # the stack ``deployed`` reads, for messages


@dataclasses.dataclass(frozen=True)
class Publication:
    """The live document against the one the plan and the ledger say must be published at the moment."""

    source: str  # credentials masked
    expected_sha256: str | None  # of the document rendered now (None: the region's list would be empty)
    live_sha256: str | None = None  # of the bytes fetched (None: unusable)
    unusable: str | None = None  # why the live document could not be used
    live_created_at: dt.datetime | None = None
    missing: tuple[str, ...] = ()  # must be listed now, and is not
    unexpected: tuple[str, ...] = ()  # listed, and must not be
    upcoming_missing: tuple[str, ...] = ()  # announced changes the live 'upcoming' lacks ("ip action effective")
    upcoming_fresh: tuple[str, ...] = ()  # ... of which announced less than a day ago (a note)
    upcoming_extra: tuple[str, ...] = ()  # in the live 'upcoming', not announced (or no longer upcoming)

    @property
    def matches(self) -> bool:
        return self.live_sha256 is not None and self.live_sha256 == self.expected_sha256

    @property
    def only_fresh_lag(self) -> bool:
        """Differs only by announcements less than a day old that the next publication adds."""
        lagging = set(self.upcoming_missing) == set(self.upcoming_fresh)
        return bool(self.upcoming_fresh) and lagging and not (self.missing or self.unexpected or self.upcoming_extra)


@dataclasses.dataclass(frozen=True)
class ChangeStatus:
    """A planned change that matters now, and how its notice stands."""

    change_id: str
    ip: str
    action: str
    planned: dt.date
    status: str  # smtp_egress.timeline.NoticeStatus value
    announced_at: dt.datetime | None
    effective: dt.date | None
    earliest_compliant: dt.date
    tally: NoticeTally | None = None  # its batch's notices (None: not recorded)
    batch_id: str | None = None


@dataclasses.dataclass(frozen=True)
class Backlog:
    """A batch of the region whose notices did not all reach their workspaces."""

    batch_id: str
    tally: NoticeTally


@dataclasses.dataclass(frozen=True)
class Gateways:
    attached: tuple[str, ...]  # what the timeline attaches today
    attach_today: tuple[str, ...]
    detach_today: tuple[str, ...]
    attached_not_published: tuple[str, ...]  # attached by the timeline, absent from the live list
    guard: tuple[str, ...]  # the deploy guard's refusals: the plan wants what the notices do not allow yet
    deployed_attached: tuple[str, ...] | None = None  # what the stack's outputs say is attached (None: not read)
    stack: str | None = None

    @property
    def deployed(self) -> str:
        """``unknown`` (the stack was not read), ``in step`` or ``out of step`` with the timeline."""
        if self.deployed_attached is None:
            return DEPLOYED_UNKNOWN
        return "in step" if set(self.deployed_attached) == set(self.attached) else "out of step"

    @property
    def attach_pending(self) -> tuple[str, ...]:
        """Attached by the timeline today, not on the deployed gateways."""
        on = set(self.deployed_attached or ())
        return () if self.deployed_attached is None else tuple(ip for ip in self.attached if ip not in on)

    @property
    def detach_pending(self) -> tuple[str, ...]:
        """On the deployed gateways, no longer attached by the timeline today: it still sends."""
        return (
            ()
            if self.deployed_attached is None
            else tuple(ip for ip in self.deployed_attached if ip not in self.attached)
        )


@dataclasses.dataclass(frozen=True)
class StatusResult:
    region: str
    moment: dt.datetime
    notice_days: int
    simulated: bool
    last_run: Heartbeat | None
    publication: Publication
    changes: tuple[ChangeStatus, ...]
    backlog: tuple[Backlog, ...]
    gateways: Gateways

    @property
    def silent_for(self) -> dt.timedelta | None:
        """How long since the last successful run finished (None: never)."""
        return None if self.last_run is None else self.moment - self.last_run.finished_at

    @property
    def problems(self) -> list[Problem]:
        """What a human must act on now, each with its exit code (README, "Exit codes")."""
        from .status_problems import problems

        return problems(self)

    @property
    def notes(self) -> list[str]:
        from .status_problems import notes

        return notes(self)

    @property
    def exit_code(self) -> int:
        return errors.most_urgent(p.exit_code for p in self.problems)


def run_status(inputs: StatusInputs) -> StatusResult:
    """Look at the region's plan, ledger and live document; raise EgressError only for bad inputs (the plan, the
    ledger); an unusable live document is a finding."""
    from smtp_egress.addresses import address_states, guard_violations
    from smtp_egress.ledger import Ledger
    from smtp_egress.plan import load_plan
    from smtp_egress.timeline import announced, held

    plan = load_plan(inputs.plan_path)
    plan.region(inputs.region)
    region, now = inputs.region, inputs.moment
    ledger = Ledger(inputs.db_url)
    try:
        simulated = ledger.simulation
        last_run = ledger.last_heartbeat(region)
        records = ledger.recorded(region)
        anns = announced(records)
        changes = _changes(plan, region, anns, held(records), now)
        # Only a batch with an unsent delivery can have a workspace not told; the changes' batches for their tally.
        batch_of = {c.change_id: records[c.change_id].batch_id for c in changes if c.change_id in records}
        tallies = ledger.tallies(region, only=ledger.with_unsent(region) | set(batch_of.values()))
        every = ledger.announcements()  # what egress publish renders from
    finally:
        ledger.close()
    changes = tuple(
        dataclasses.replace(c, tally=tallies.get(batch_of[c.change_id], NoticeTally()), batch_id=batch_of[c.change_id])
        if c.change_id in batch_of
        else c
        for c in changes
    )
    publication, live = _publication(inputs, plan, every, simulated)
    states = address_states(plan, region, anns, now.date())
    attached = tuple(s.ip for s in states if s.attached)
    deployed_attached = None
    if inputs.deployed is not None:
        from .deploy import attached as attached_on

        deployed_attached = tuple(sorted(attached_on(inputs.deployed(), f"stack {inputs.stack}")))
    # What sends today or will once the deploy runs: the timeline's and what the stack has attached.
    on_gateways = tuple(dict.fromkeys([*attached, *(deployed_attached or ())]))
    gateways = Gateways(
        attached=attached,
        attach_today=tuple(s.ip for s in states if s.attached and s.attach_from == now.date()),
        detach_today=tuple(s.ip for s in states if s.detach_from == now.date() and not s.attached),
        attached_not_published=() if live is None else tuple(ip for ip in on_gateways if ip not in live),
        guard=tuple(v.message for v in guard_violations(plan, region, anns, now)),
        deployed_attached=deployed_attached,
        stack=inputs.stack,
    )
    backlog = tuple(Backlog(b, t) for b, t in sorted(tallies.items()) if t.undelivered)
    return StatusResult(region, now, plan.notice_days, simulated, last_run, publication, changes, backlog, gateways)


def _publication(inputs: StatusInputs, plan, every, simulated: bool) -> tuple[Publication, frozenset[str] | None]:
    """The live document against the expected one, and the live list's addresses (None: unusable)."""
    from smtp_egress.checks.published import fetch_source, parse_published
    from smtp_egress.document import render_published
    from smtp_egress.masking import mask_url

    source = mask_url(inputs.published)
    try:
        expected = render_published(plan, inputs.region, every, inputs.moment, simulated=simulated)
    except errors.PublishedUnusable as exc:
        return Publication(source, None, unusable=f"nothing can be published: {exc}"), None
    want = expected.json_bytes
    try:
        got = fetch_source(inputs.published)
        doc = parse_published(
            got.body, inputs.published, inputs.region, content_type=got.content_type, is_file=got.is_file
        )
    except errors.PublishedUnusable as exc:
        return Publication(source, _sha(want), unusable=str(exc)), None
    live = frozenset(str(ip) for ip in doc.addresses)
    must = set(expected.document["ip_addresses"])

    def entries(upcoming) -> dict[str, str]:
        return {f"{u['ip']} {u['action']} {u['effective']}": u["announced_at"] for u in upcoming}

    want_up, live_up = entries(expected.document["upcoming"]), entries(doc.upcoming)
    missing_up = tuple(k for k in want_up if k not in live_up)
    day_ago = inputs.moment - dt.timedelta(days=1)
    fresh = tuple(k for k in missing_up if _rfc3339(want_up[k]) > day_ago)
    publication = Publication(
        source=doc.source,
        expected_sha256=_sha(want),
        live_sha256=_sha(got.body),
        live_created_at=doc.created_at,
        missing=tuple(sorted(must - live)),
        unexpected=tuple(sorted(live - must)),
        upcoming_missing=missing_up,
        upcoming_fresh=fresh,
        upcoming_extra=tuple(k for k in live_up if k not in want_up),
    )
    return publication, live


def _changes(plan, region, anns, held_ids, now: dt.datetime) -> tuple[ChangeStatus, ...]:
    """The region's planned changes within notice_days of today (or past their day and not in effect)."""
    from smtp_egress.timeline import NoticeStatus, notice_status

    horizon = now.date() + dt.timedelta(days=plan.notice_days)
    out = []
    for change in plan.changes(region):
        if change.effective > horizon:
            continue
        notice = notice_status(change, anns, now, plan.notice_days, held_ids)
        if notice.status is NoticeStatus.IN_EFFECT and notice.effective != now.date():
            continue  # in effect before today: nothing left to watch
        out.append(
            ChangeStatus(
                change.change_id,
                change.ip,
                change.action,
                change.effective,
                notice.status.value,
                notice.announced_at,
                notice.effective,
                notice.earliest_compliant,
                None,  # filled in from the ledger's tallies when it is recorded
            )
        )
    return tuple(out)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _rfc3339(text: str) -> dt.datetime:
    from smtp_egress.dates import parse_rfc3339

    return parse_rfc3339(text)
