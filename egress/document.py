"""The published document: what ``/v1/info/ip_addresses`` serves, derived from the plan and the ledger.

JSON keeps the compatible core ``{"ip_addresses": [...]}`` and adds ``region``, ``sync_token``,
``created_at``, ``sha256``, ``notice_days`` and ``upcoming`` (announced future changes only: announced means
told, every workspace reached, at that moment; see :func:`smtp_egress.timeline.told_at`). The
``.txt`` form is the address list, one per line; its bytes are exactly what ``sha256`` covers. A document
rendered from a simulation ledger (tests, demos) carries ``"simulated": true`` (so do ``changes.json`` and
the Atom feed's title); a real one never carries the key, so its bytes are what they always were.

``created_at`` is the moment the content last changed (the latest announcement or effective day up to
the rendering moment), so re-rendering unchanged content gives the same bytes, ETag and sync token.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, NotRequired, TypedDict
from xml.sax.saxutils import escape

from .dates import rfc3339, start_of
from .jsontypes import JSONObject
from .plan import Plan
from .schema import build_schema
from .signing import SIGNATURE_SUFFIX, sign
from .timeline import Announcement, published_addresses, upcoming

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

EPOCH = start_of(dt.date(2020, 1, 1))

# How the documents are served and published (egress serve, egress publish --static-dir, the CDN stack).
BASE_PATH = "/v1/info/ip_addresses"
JSON_TYPE = "application/json"
TEXT_TYPE = "text/plain; charset=utf-8"
ATOM_TYPE = "application/atom+xml; charset=utf-8"
CACHE_CONTROL = "public, max-age=300"
SIGNATURE_TYPE = "application/octet-stream"  # <document>.sig: the raw 64-byte Ed25519 signature
SIMULATED_TITLE = "[SIMULATION, not a real list] "  # the Atom feed's title prefix from a simulation ledger


class UpcomingEntry(TypedDict):
    """One announced future change in a region document's ``upcoming`` list."""

    ip: str
    action: str  # "add" or "remove"
    effective: str  # YYYY-MM-DD
    announced_at: str  # RFC 3339, UTC


class RegionDocument(TypedDict):
    """A region's published document (the JSON that ``/v1/info/ip_addresses`` serves); see :mod:`.schema`."""

    ip_addresses: list[str]
    region: str
    sync_token: str
    created_at: str
    sha256: str
    notice_days: int
    upcoming: list[UpcomingEntry]
    simulated: NotRequired[bool]  # present (true) only when rendered from a simulation ledger


class ChangeEntry(TypedDict):
    """One announced change in ``changes.json``."""

    id: str
    region: str
    ip: str
    action: str
    planned: str
    effective: str
    announced_at: str
    notice_lead_days: int
    short_notice_reason: str | None
    state: str  # "in effect" or "upcoming"


class ChangesDocument(TypedDict):
    """``changes.json``: every announced change of every region."""

    created_at: str
    sync_token: str
    notice_days: int
    changes: list[ChangeEntry]
    simulated: NotRequired[bool]  # present (true) only when rendered from a simulation ledger


def load_schema() -> JSONObject:
    """The document's JSON Schema, built from the code's constants (:mod:`smtp_egress.schema`)."""
    return build_schema()


def canonical_text(addresses: Iterable[str]) -> str:
    """The canonical address list: one address per line, sorted as published, newline-terminated."""
    return "".join(f"{ip}\n" for ip in addresses)


def list_sha256(addresses: Iterable[str]) -> str:
    return hashlib.sha256(canonical_text(addresses).encode()).hexdigest()


@dataclasses.dataclass(frozen=True)
class Rendered:
    region: str
    document: RegionDocument
    created_at: dt.datetime

    @property
    def json_bytes(self) -> bytes:
        return (json.dumps(self.document, indent=2) + "\n").encode()

    @property
    def txt_bytes(self) -> bytes:
        return canonical_text(self.document["ip_addresses"]).encode()


def last_changed(plan: Plan, region: str | None, anns: dict[str, Announcement], moment: dt.datetime) -> dt.datetime:
    """The latest moment up to ``moment`` at which a region's published content changed."""
    day = moment.date()
    times = [EPOCH]
    for a in anns.values():
        if region and a.region != region:
            continue
        if a.announced_at <= moment:
            times.append(a.announced_at)
        if a.in_effect_on(day):
            times.append(start_of(a.effective))
    return max(times)


def render(
    plan: Plan, region: str, anns: dict[str, Announcement], moment: dt.datetime, *, simulated: bool = False
) -> Rendered:
    """The region's document as it stands at ``moment`` (announcements made later are ignored);
    ``simulated``: the announcements come from a simulation ledger, and the document says so."""
    known = {k: a for k, a in anns.items() if a.region == region and a.announced_at <= moment}
    day = moment.date()
    addresses = [str(ip) for ip in published_addresses(plan, region, known, day)]
    created = last_changed(plan, region, known, moment)
    doc: RegionDocument = {
        "ip_addresses": addresses,
        "region": region,
        "sync_token": str(int(created.timestamp())),
        "created_at": rfc3339(created),
        "sha256": list_sha256(addresses),
        "notice_days": plan.notice_days,
        "upcoming": [
            {
                "ip": u.ip,
                "action": u.action,
                "effective": u.effective.isoformat(),
                "announced_at": rfc3339(u.announced_at),
            }
            for u in upcoming(plan, region, known, day)
        ],
    }
    if simulated:
        doc["simulated"] = True
    return Rendered(region, doc, created)


def render_published(
    plan: Plan, region: str, anns: dict[str, Announcement], moment: dt.datetime, *, simulated: bool = False
) -> Rendered:
    """:func:`render`, refusing a document whose list is empty: customers' sync scripts read an empty list
    as "remove every address" and wipe their allowlists, so an empty list is never published."""
    from .dates import rfc3339
    from .errors import PublishedUnusable

    rendered = render(plan, region, anns, moment, simulated=simulated)
    if not rendered.document["ip_addresses"]:
        raise PublishedUnusable(
            f"region {region!r} would publish an empty list at {rfc3339(moment)} (none of its additions is "
            "announced and in effect yet); an empty list makes customers' sync scripts wipe their allowlists, "
            "so nothing was published: announce an addition first, or keep an undated address"
        )
    return rendered


def changes_json_bytes(changes: ChangesDocument) -> bytes:
    """``changes.json`` as served and published: the same layout as the region documents."""
    return (json.dumps(changes, indent=2) + "\n").encode()


def document_path(region: str) -> str:
    """Where a region's document lives in the static tree (its host serves that folder at ``/``)."""
    return f"{region}{BASE_PATH}"


def static_files(
    plan: Plan,
    anns: dict[str, Announcement],
    moment: dt.datetime,
    base_url: str,
    regions: list[str] | None = None,
    key: Ed25519PrivateKey | None = None,
    *,
    simulated: bool = False,
) -> dict[str, tuple[bytes, str]]:
    """The static tree (relative POSIX path -> (bytes, Content-Type)) that ``egress publish --static-dir``
    writes and each regional CDN serves: ``<region>/v1/info/ip_addresses`` (+ ``.txt``) per region and the
    shared ``v1/info/ip_addresses/changes.json`` and ``changes.atom``. With a signing ``key``, each region's
    document has its signature beside it, ``<region>/v1/info/ip_addresses.sig`` (the raw Ed25519 signature of
    the document's exact bytes; the document's ``sha256`` covers the ``.txt`` form).

    With ``regions`` (one regional host, one region per host as in the original API) the changes feed lists
    only those regions' changes, so every link in it points at a list that host really serves."""
    from .errors import ConfigError

    base = BASE_PATH.lstrip("/")
    files: dict[str, tuple[bytes, str]] = {}
    for region in regions or list(plan.regions):
        if region == base.split("/")[0]:
            raise ConfigError(
                f"region {region!r} clashes with the shared {base}/ folder of the static tree; rename the region"
            )
        rendered = render_published(plan, region, anns, moment, simulated=simulated)
        files[document_path(region)] = (rendered.json_bytes, JSON_TYPE)
        if key is not None:
            files[document_path(region) + SIGNATURE_SUFFIX] = (sign(key, rendered.json_bytes), SIGNATURE_TYPE)
        files[f"{region}/{base}.txt"] = (rendered.txt_bytes, TEXT_TYPE)
    if regions:
        anns = {k: a for k, a in anns.items() if a.region in regions}
    changes = changes_document(plan, anns, moment, simulated=simulated)
    files[f"{base}/changes.json"] = (changes_json_bytes(changes), JSON_TYPE)
    files[f"{base}/changes.atom"] = (atom_feed(changes, base_url), ATOM_TYPE)
    return files


def changes_document(
    plan: Plan, anns: dict[str, Announcement], moment: dt.datetime, *, simulated: bool = False
) -> ChangesDocument:
    """Every announced change of every region, newest announcement first (``changes.json``). The adopted
    baseline is left out: those changes were in effect before the ledger, announced by no notice of ours."""
    known = [a for a in anns.values() if a.announced_at <= moment and a.region in plan.regions and not a.adopted]
    known.sort(key=lambda a: (a.announced_at, a.change_id), reverse=True)
    created = last_changed(plan, None, {a.change_id: a for a in known}, moment)
    doc: ChangesDocument = {
        "created_at": rfc3339(created),
        "sync_token": str(int(created.timestamp())),
        "notice_days": plan.notice_days,
        "changes": [
            {
                "id": a.change_id,
                "region": a.region,
                "ip": a.ip,
                "action": a.action,
                "planned": a.planned.isoformat(),
                "effective": a.effective.isoformat(),
                "announced_at": rfc3339(a.announced_at),
                "notice_lead_days": a.lead,
                "short_notice_reason": a.exception_reason,
                "state": "in effect" if a.in_effect_on(moment.date()) else "upcoming",
            }
            for a in known
        ],
    }
    if simulated:
        doc["simulated"] = True
    return doc


def atom_feed(changes: ChangesDocument, base_url: str) -> bytes:
    """An Atom feed (RFC 4287) of the changes document, one entry per announced change."""
    base = base_url.rstrip("/")
    out = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<feed xmlns="http://www.w3.org/2005/Atom">',
        f"  <title>{SIMULATED_TITLE if changes.get('simulated') else ''}smtp-egress IP address changes</title>",
        f"  <id>{escape(base)}/v1/info/ip_addresses/changes.atom</id>",
        f'  <link rel="self" href="{escape(base)}/v1/info/ip_addresses/changes.atom"/>',
        f'  <link rel="alternate" type="application/json" href="{escape(base)}/v1/info/ip_addresses/changes.json"/>',
        f"  <updated>{changes['created_at']}</updated>",
        "  <author><name>smtp-egress</name></author>",
    ]
    for c in changes["changes"]:
        verb = "added to" if c["action"] == "add" else "removed from"
        title = f"{c['ip']} will be {verb} the {c['region']} list on {c['effective']} (UTC)"
        summary = f"{title}. Announced {c['announced_at']} ({c['notice_lead_days']} days of notice). " + (
            "Allow it on your SMTP server before that day."
            if c["action"] == "add"
            else "You may remove it from your allowlist from that day on."
        )
        out += [
            "  <entry>",
            f"    <title>{escape(title)}</title>",
            f"    <id>urn:smtp-egress:change:{escape(c['id'])}</id>",
            f"    <updated>{c['announced_at']}</updated>",
            f'    <link href="{escape(base)}/v1/info/ip_addresses?region={escape(c["region"])}"/>',
            f"    <summary>{escape(summary)}</summary>",
            "  </entry>",
        ]
    out.append("</feed>")
    return ("\n".join(out) + "\n").encode()
