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
    from smtp_egress.plan import Plan
    from smtp_egress.timeline import Announcement

HEADERS = "headers.json"


@dataclasses.dataclass(frozen=True)
class PublishInputs:
    plan_path: str
    db_url: str | None  # None: the embedded SQLite ledger
    moment: dt.datetime  # the documents as they stand at this moment


@dataclasses.dataclass(frozen=True)
class StaticTree:
    root: Path
    files: tuple[Path, ...]  # every file written, in order (headers.json not included)
    headers: Path  # headers.json, written last


def render_region(inputs: PublishInputs, region: str) -> Rendered:
    from smtp_egress.document import render_published

    plan, anns = load_state(inputs.plan_path, inputs.db_url, region=region)
    return render_published(plan, region, anns, inputs.moment)


def write_static_tree(
    inputs: PublishInputs, root: Path, base_url: str, key: Ed25519PrivateKey | None = None
) -> StaticTree:
    """Write the static tree of every region into ``root``; ``base_url`` is where it is served (feed links);
    ``key`` signs each region's document."""
    import contextlib

    from smtp_egress.document import CACHE_CONTROL, document_path, static_files
    from smtp_egress.signing import SIGNATURE_SUFFIX

    plan, anns = load_state(inputs.plan_path, inputs.db_url)
    files = static_files(plan, anns, inputs.moment, base_url, key=key)
    if key is None:  # a signature left from an earlier signed run would not match the new document
        for region in plan.regions:
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
    return StaticTree(root, tuple(written), root / HEADERS)


def load_state(
    plan_path: str, db_url: str | None, *, region: str | None = None
) -> tuple[Plan, dict[str, Announcement]]:
    """The plan and every announcement in the ledger. An unknown ``region`` is named before the ledger is opened."""
    from smtp_egress.ledger import Ledger
    from smtp_egress.plan import load_plan

    plan = load_plan(plan_path)
    if region is not None:
        plan.region(region)
    ledger = Ledger(db_url)
    try:
        return plan, ledger.announcements()
    finally:
        ledger.close()
