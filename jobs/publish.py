"""Publishing: a region's document as it stands at a moment, or the whole static tree for object storage + CDN.

:func:`render_region` returns the region's :class:`~smtp_egress.document.Rendered` document (the caller prints
it or writes it). :func:`write_static_tree` writes every region's files under a folder, each atomically, with
``headers.json`` (each file's Content-Type and Cache-Control, for the uploader) written last, and returns what
it wrote; with a signing key each region's document gets its Ed25519 signature beside it (``.sig``), and
without one a signature left by an earlier signed run is removed (it would not match). A region whose list
would be empty is refused (:class:`~smtp_egress.errors.PublishedUnusable`). Checking what was published
against its signatures is :mod:`smtp_egress.jobs.verify_published`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path
from typing import TYPE_CHECKING

from smtp_egress.files import write_atomic

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from smtp_egress.document import Rendered
    from smtp_egress.ledger_location import LedgerLocation
    from smtp_egress.plan import Plan
    from smtp_egress.timeline import Announcement

HEADERS = "headers.json"


@dataclasses.dataclass(frozen=True)
class PublishInputs:
    plan_path: str
    db_url: LedgerLocation | str  # where the ledger is (it must exist)
    moment: dt.datetime  # the documents as they stand at this moment


@dataclasses.dataclass(frozen=True)
class State:
    """The plan and every announcement of the ledger; ``simulated``: the ledger is a simulation."""

    plan: Plan
    announcements: dict[str, Announcement]
    simulated: bool


@dataclasses.dataclass(frozen=True)
class StaticTree:
    root: Path
    files: tuple[Path, ...]  # every file written, in order (headers.json not included)
    headers: Path  # headers.json, written last
    simulated: bool = False  # made from a simulation ledger: the documents say so


def render_region(inputs: PublishInputs, region: str) -> Rendered:
    from smtp_egress.document import render_published

    state = load_state(inputs.plan_path, inputs.db_url, region=region)
    return render_published(state.plan, region, state.announcements, inputs.moment, simulated=state.simulated)


def write_static_tree(
    inputs: PublishInputs, root: Path, base_url: str, key: Ed25519PrivateKey | None = None
) -> StaticTree:
    """Write the static tree of every region into ``root``; ``base_url`` is where it is served (feed links);
    ``key`` signs each region's document."""
    import contextlib

    from smtp_egress.document import CACHE_CONTROL, document_path, static_files
    from smtp_egress.signing import SIGNATURE_SUFFIX

    state = load_state(inputs.plan_path, inputs.db_url)
    files = static_files(state.plan, state.announcements, inputs.moment, base_url, key=key, simulated=state.simulated)
    if key is None:  # a signature left from an earlier signed run would not match the new document
        for region in state.plan.regions:
            with contextlib.suppress(FileNotFoundError):
                (root / (document_path(region) + SIGNATURE_SUFFIX)).unlink()
    written = []
    for rel, (data, _) in files.items():
        write_atomic(root / rel, data, make_parents=True)
        written.append(root / rel)
    headers = {
        rel: {"Content-Type": ctype, "Cache-Control": CACHE_CONTROL} for rel, (_, ctype) in sorted(files.items())
    }
    write_atomic(root / HEADERS, (json.dumps(headers, indent=2) + "\n").encode(), make_parents=True)
    return StaticTree(root, tuple(written), root / HEADERS, state.simulated)


def load_state(plan_path: str, db_url: LedgerLocation | str, *, region: str | None = None) -> State:
    """The plan and every announcement in the ledger. An unknown ``region`` is named before the ledger is opened."""
    from smtp_egress.ledger import Ledger
    from smtp_egress.plan import load_plan

    plan = load_plan(plan_path)
    if region is not None:
        plan.region(region)
    ledger = Ledger(db_url)
    try:
        return State(plan, ledger.announcements(), ledger.simulation)
    finally:
        ledger.close()


def region_static_files(
    state: State,
    region: str,
    moment: dt.datetime,
    base_url: str,
    keep_listed: frozenset[str] = frozenset(),
    key: Ed25519PrivateKey | None = None,
) -> dict[str, tuple[bytes, str]]:
    """One region's host's files of the static tree (path -> (bytes, Content-Type)): its document, ``.txt`` and
    ``.sig``, and the changes feed of this region. ``keep_listed``: addresses the gateways hold now, which stay in
    the document and ``.txt`` even if their removal is in effect (:func:`smtp_egress.addresses.listed_while_attached`:
    detach, then unpublish); the feed says what was announced, as always. The daily task's publishers (to a folder,
    to S3) and ``egress publish --upload`` (nothing kept) all render with this one function."""
    from smtp_egress.addresses import listed_while_attached
    from smtp_egress.document import static_files

    anns, simulated = state.announcements, state.simulated
    feed = static_files(state.plan, anns, moment, base_url, [region], key, simulated=simulated)
    if not keep_listed:
        return feed
    held = listed_while_attached(anns, region, keep_listed, moment.date())
    kept = static_files(state.plan, held, moment, base_url, [region], key, simulated=simulated)
    return {path: kept[path] if path.startswith(f"{region}/") else data for path, data in feed.items()}
