"""Adopting an existing platform: record the list it already publishes as the ledger's baseline.

``egress ledger adopt --region R --published URL_OR_FILE`` reads the list another system publishes (the
classic ``{"ip_addresses": [...]}`` or a document of ours, with the daily job's strict fetch: an unusable
source raises :class:`~smtp_egress.errors.PublishedUnusable`, exit 3) and compares it with the plan as of
now (:func:`smtp_egress.baseline.fit`):

- a listed address the plan does not send from today is refused (:class:`PublishedNotPlanned`, exit 5):
  adopting must not hide an address the plan does not know;
- a region the ledger does not track yet (no recorded change): an address live today per the plan but not
  listed is refused (:class:`LivePlanAddressUnpublished`, exit 5: the plan says it sends, customers were
  never told); otherwise the past-dated changes the list reflects are recorded as one batch, the *adopted
  baseline*: told when recorded (by the real clock: ``moment``), with no workspace and no delivery, marked
  with the list's source and the SHA-256 of what was read. They are in effect as planned, never late
  (:mod:`smtp_egress.timeline`); changes still to come are left to the daily job, which announces them as usual;
- a region the ledger already tracks (a baseline, or the daily job's batches) is adopted again only if the
  two agree: the list is exactly what the ledger says is published today, and the ledger already holds every
  past-dated change the list reflects. Then nothing is recorded (so adopting twice is a no-op); otherwise it
  is refused (:class:`LedgerDisagrees`, exit 5; :class:`RegionAlreadyTracked`, exit 2), and nothing is recorded.

:func:`run_adopt` takes :class:`AdoptInputs` and returns an :class:`AdoptResult`; it prints nothing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from smtp_egress import errors
from smtp_egress.wording import count

if TYPE_CHECKING:
    from smtp_egress.baseline import BaselineFit
    from smtp_egress.checks.published_classic import PublishedList
    from smtp_egress.ledger_location import LedgerLocation
    from smtp_egress.plan import Change, Plan
    from smtp_egress.timeline import Recorded

SHOWN = 10  # addresses or changes named in a message


@dataclasses.dataclass(frozen=True)
class AdoptInputs:
    region: str
    published: str  # the list already published: an http(s) URL or a file
    plan_path: str
    db_url: LedgerLocation | str  # where the ledger is (it must exist: egress ledger init creates it)
    moment: dt.datetime  # now, by the real clock (aware UTC): when the baseline is recorded


@dataclasses.dataclass(frozen=True)
class AdoptResult:
    region: str
    moment: dt.datetime
    source: str  # the list's URL or file, credentials masked
    shape: str  # "classic" | "document"
    sha256: str  # of the bytes read
    published: tuple[str, ...]  # the listed addresses, sorted
    adopted: tuple[Change, ...]  # recorded as the baseline in this run
    batch_id: str | None  # the baseline's batch; None when nothing was recorded
    told_at: dt.datetime | None  # when the baseline counts as told (its recording, to the second)
    already_tracked: bool  # the ledger already tracked the region and agrees with the list: nothing recorded
    future: tuple[Change, ...]  # left to the daily job, announced as usual
    overdue: tuple[Change, ...]  # past removals still listed: not adopted, the daily job asks for notice
    warnings: tuple[str, ...] = ()


class AdoptRefused(errors.EgressError):
    """The list cannot be adopted as it stands; nothing was recorded."""


class PublishedNotPlanned(AdoptRefused):
    """The list holds addresses the plan does not send from today (unknown, or planned from a later day)."""

    exit_code = errors.DRIFT


class LivePlanAddressUnpublished(AdoptRefused):
    """The plan says an address sends today, but the list does not hold it: customers were never told."""

    exit_code = errors.DRIFT


class LedgerDisagrees(AdoptRefused):
    """The region is tracked, and the list is not what the ledger says is published today."""

    exit_code = errors.DRIFT


class RegionAlreadyTracked(AdoptRefused):
    """The region is tracked, and adopting would now record more: the ledger, not a list, is its record."""

    exit_code = errors.USAGE


def run_adopt(inputs: AdoptInputs, *, fetch: Callable[[str, str], PublishedList] | None = None) -> AdoptResult:
    """Adopt ``inputs.published`` as the baseline of ``inputs.region``; ``fetch(source, region)`` defaults to
    the strict fetch of either shape. Raises PublishedUnusable (exit 3) or an :class:`AdoptRefused`."""
    from smtp_egress.baseline import fit
    from smtp_egress.checks.published_classic import fetch_published_list
    from smtp_egress.ledger import Ledger
    from smtp_egress.masking import mask_url
    from smtp_egress.plan import load_plan

    plan = load_plan(inputs.plan_path)
    region, day = inputs.region, inputs.moment.date()
    plan.region(region)
    listed = (fetch or fetch_published_list)(inputs.published, region)
    source = mask_url(listed.source)
    found = fit(plan, region, [str(ip) for ip in listed.addresses], day)
    if found.unknown or found.early:
        raise PublishedNotPlanned(_not_planned(found, source))
    ledger = Ledger(inputs.db_url)
    try:
        with ledger.lock(f"notify-{region}"):
            records = ledger.recorded(region)
            if not records and found.unpublished:
                raise LivePlanAddressUnpublished(_unpublished(found, source, plan.notice_days))
            to_adopt = [c for c in found.adopt if c.change_id not in records]
            if records and to_adopt:
                raise RegionAlreadyTracked(_tracked(region, records, to_adopt))
            _check_agreement(plan, found, records, to_adopt, inputs.moment, source)
            batch = None
            if to_adopt:
                batch = ledger.record_adopted(
                    region, to_adopt, inputs.moment, plan.notice_days, plan.sha256, source, listed.sha256
                )
    finally:
        ledger.close()
    return AdoptResult(
        region=region,
        moment=inputs.moment,
        source=source,
        shape=listed.shape,
        sha256=listed.sha256,
        published=found.published,
        adopted=tuple(to_adopt),
        batch_id=batch.batch_id if batch else None,
        told_at=batch.told_at if batch else None,
        already_tracked=bool(records),
        future=found.future,
        overdue=found.overdue,
        warnings=tuple(_warnings(found, listed)),
    )


def _check_agreement(
    plan: Plan,
    found: BaselineFit,
    records: Mapping[str, Recorded],
    to_adopt: Sequence[Change],
    moment: dt.datetime,
    source: str,
) -> None:
    """The list must be exactly what the ledger (with the baseline about to be recorded) publishes today."""
    from smtp_egress.timeline import Announcement, announced, published_addresses

    anns = announced(records)
    for c in to_adopt:
        anns[c.change_id] = dataclasses.replace(Announcement.of(c, moment, plan.notice_days), adopted=True)
    expected = [str(ip) for ip in published_addresses(plan, found.region, anns, found.day)]
    lacking = [ip for ip in expected if ip not in found.published]
    extra = [ip for ip in found.published if ip not in expected]
    if lacking or extra:
        raise LedgerDisagrees(
            f"the list at {source} is not what the ledger says region {found.region!r} publishes today "
            f"({found.day.isoformat()}): {_listing('listed by the ledger, missing from the list', lacking)}"
            f"{'; ' if lacking and extra else ''}{_listing('listed, not published by the ledger', extra)}. "
            "Adopting must not overwrite the ledger's record: check --region and --published, or re-publish "
            "from the ledger (egress publish); nothing was recorded"
        )


def _not_planned(found: BaselineFit, source: str) -> str:
    named = [f"{ip} (not in the plan)" for ip in found.unknown]
    named += [f"{ip} (planned from {start.isoformat()})" for ip, start in found.early]
    return (
        f"the list at {source} publishes {count(len(named), 'address')} that the plan does not send from in region "
        f"{found.region!r} today ({found.day.isoformat()}): {_names(named)}. Adopting must not hide an address "
        "the plan does not know: add each to the plan (one already sending has no active_from, or a past one), "
        "or remove it from the published list, then adopt again; nothing was recorded"
    )


def _unpublished(found: BaselineFit, source: str, notice_days: int) -> str:
    return (
        f"the plan says {count(len(found.unpublished), 'address')} of region {found.region!r} "
        f"{'sends' if len(found.unpublished) == 1 else 'send'} today "
        f"({found.day.isoformat()}), but the list at {source} does not publish them: "
        f"{_names(found.unpublished)}. Customers were never told of them. Publish them first (and tell customers), "
        f"or give each an active_from at least {notice_days} days ahead so the daily job announces it, then adopt "
        "again; nothing was recorded"
    )


def _tracked(region: str, records: Mapping[str, Recorded], to_adopt: Sequence[Change]) -> str:
    first = min(r.recorded_at for r in records.values())
    changes = [f"{c.action} {c.ip} ({c.effective.isoformat()})" for c in to_adopt]
    return (
        f"the ledger already tracks region {region!r} ({count(len(records), 'recorded change')}, the first on "
        f"{first.date().isoformat()}); adopting records a baseline only for a region it does not track yet, and "
        f"would now also record {_names(changes)}. Announce them with egress notify (past their day: "
        "--allow-short-notice --reason TEXT), or move their dates; nothing was recorded"
    )


def _warnings(found: BaselineFit, listed: PublishedList) -> list[str]:
    out = [
        f"the removal of {c.ip} was planned for {c.effective.isoformat()}, but the list still publishes it: "
        "customers were not told, so it is not adopted; the daily job asks for notice (exit 4) until it is "
        "announced (egress notify --allow-short-notice --reason TEXT) or retire_on moves"
        for c in found.overdue
    ]
    if listed.document is not None and listed.document.upcoming:
        out.append(
            f"the document lists {count(len(listed.document.upcoming), 'upcoming change')}; adopting records none of "
            "them: the daily job announces each change of the plan still to come as usual"
        )
    return out


def _listing(label: str, addresses: Sequence[str]) -> str:
    return f"{label}: {_names(addresses)}" if addresses else ""


def _names(items: Sequence[str]) -> str:
    shown = ", ".join(items[:SHOWN])
    return shown + (f" and {len(items) - SHOWN} more" if len(items) > SHOWN else "")
