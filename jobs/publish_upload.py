"""Publishing a region's tree to its S3 bucket and CloudFront distribution: only what changed, make before break.

:func:`upload_region` renders the region's files as ``egress publish --static-dir`` does (the document, its
``.txt`` list, its ``.sig`` with a signing key, and the changes feed as JSON and Atom, limited to this region as
the stack publishes them) and stores them in ``s3://BUCKET/PREFIX``, where PREFIX is the root of the region's host
(the distribution's origin path; the stack's publisher uses ``<region>``)::

    s3://BUCKET/PREFIX/v1/info/ip_addresses               https://HOST/v1/info/ip_addresses
    s3://BUCKET/PREFIX/v1/info/ip_addresses.txt           ...
    s3://BUCKET/PREFIX/v1/info/ip_addresses.sig           (signed only)
    s3://BUCKET/PREFIX/v1/info/ip_addresses/changes.json
    s3://BUCKET/PREFIX/v1/info/ip_addresses/changes.atom

The order is the safety:

1. Nothing is sent before every file passed its check: the document through the daily job's own strict parser
   (:func:`smtp_egress.checks.published.parse_published`: never an empty, truncated or wrong-region list), the
   ``.txt`` against the document, the signature against the signing key's public half, the feeds as JSON and XML.
   A simulation ledger is refused.
2. Each object's headers are read (``x-amz-meta-sha256`` of its bytes, its region, Content-Type, Cache-Control):
   an object whose four match is not sent again. An object holding another region's files is refused.
3. New and changed objects are written one by one (S3 replaces an object atomically), each after the ones it
   refers to: the ``.txt`` list (whose sha256 the document states), the document, its signature, then the feeds
   that link to the document. Only then are objects of the tree that are no longer in it deleted (the ``.sig``
   of a tree that is no longer signed); no other key is ever touched.
4. With a distribution, the paths of every object written or deleted are invalidated. Each invalidation's caller
   reference carries a digest of the whole tree it made current; when the distribution's latest invalidation is not
   for the tree the bucket held before this run (a run was interrupted between its upload and its invalidation, or
   ran without ``--invalidate``, or ``pulumi up`` wrote the objects), every path of the tree is invalidated. So a rerun
   on an unchanged bucket sends and invalidates nothing, and no change stays cached at the edges.

A failure at any step raises an :mod:`~smtp_egress.jobs.upload_errors` class: the objects already written are each
whole and valid, the others are the previous ones, and a rerun completes the upload.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from smtp_egress.masking import excerpt

from . import upload_errors as errors
from .publish import PublishInputs, load_state, region_static_files

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from .object_store import StoredObject

CORE = "v1/info/ip_addresses"
# Every path of a region's host, in upload order: an object comes after those it refers to.
ORDER = (f"{CORE}.txt", CORE, f"{CORE}.sig", f"{CORE}/changes.json", f"{CORE}/changes.atom")
SHA256 = "sha256"  # x-amz-meta-sha256: the object's bytes, for the next run's comparison
REGION = "egress-region"  # x-amz-meta-egress-region: whose files these are
REFERENCE = "smtp-egress"  # invalidations' caller references: smtp-egress:<tree digest>:<UTC time>


@dataclasses.dataclass(frozen=True)
class UploadTarget:
    """``s3://bucket/prefix``: ``prefix`` is the region host's root folder ("" for the bucket's root)."""

    bucket: str
    prefix: str = ""
    endpoint_url: str | None = None  # None: AWS; else an S3- and CloudFront-compatible endpoint
    distribution_id: str | None = None  # invalidate the changed paths there

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}".rstrip("/")

    def key(self, path: str) -> str:
        return f"{self.prefix}/{path}" if self.prefix else path


@dataclasses.dataclass(frozen=True)
class UploadInputs:
    publish: PublishInputs  # the plan, the ledger and the moment
    region: str
    target: UploadTarget
    base_url: str  # the public URL the tree is served from (links of changes.atom)
    key: Ed25519PrivateKey | None = None  # signs the document (.sig)
    # the addresses the gateways hold now (the daily task's publish steps): they stay listed even if their removal
    # is in effect (detach, then unpublish); empty for `egress publish --upload`
    keep_listed: frozenset[str] = frozenset()


@dataclasses.dataclass(frozen=True)
class UploadResult:
    region: str
    target: str  # s3://bucket/prefix
    uploaded: tuple[str, ...]  # object keys written, in order
    unchanged: tuple[str, ...]  # keys already holding the same bytes and headers
    deleted: tuple[str, ...]  # keys of the tree no longer in it
    invalidated: tuple[str, ...]  # CDN paths invalidated
    invalidation_id: str | None
    addresses: int  # in the document
    sha256: str  # the document's sha256 (of its .txt list)
    signed: bool
    requests: int  # HTTP requests sent to S3 and CloudFront, retries included

    @property
    def changed(self) -> bool:
        return bool(self.uploaded or self.deleted)


@dataclasses.dataclass(frozen=True)
class TreeFile:
    path: str  # on the host, e.g. v1/info/ip_addresses.txt
    data: bytes
    content_type: str
    cache_control: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def parse_target(url: str) -> tuple[str, str]:
    """(bucket, prefix) of ``s3://BUCKET[/PREFIX]``; BadTarget naming the value otherwise."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unclosed [ of an IPv6 host
        parts = urlsplit("")
    bucket, prefix = parts.netloc, parts.path.strip("/")
    if parts.scheme != "s3" or not bucket or parts.query or parts.fragment or "//" in parts.path or "@" in bucket:
        raise errors.BadTarget(f"{excerpt(url)} is not s3://BUCKET/PREFIX (e.g. s3://my-published-bucket/us)")
    return bucket, prefix


def render_tree(inputs: UploadInputs) -> tuple[list[TreeFile], Any]:
    """The region's files, in upload order, each checked (see step 1); and the validated document."""
    from smtp_egress.document import CACHE_CONTROL

    state = load_state(inputs.publish.plan_path, inputs.publish.db_url, region=inputs.region)
    if state.simulated:
        raise errors.SimulationNotUploaded(
            f'{inputs.target.url}: the ledger is a simulation; its documents say "simulated": true and are never '
            "uploaded (publish from the real ledger)"
        )
    named = inputs.target.prefix.rsplit("/", 1)[-1]
    if named in state.plan.regions and named != inputs.region:  # the other region's customers would get this list
        raise errors.BadTarget(
            f"{inputs.target.url}: the prefix names region {named!r}, but this is region {inputs.region!r}'s list; "
            f"upload each region to its own host's prefix (s3://{inputs.target.bucket}/{inputs.region})"
        )
    files = region_static_files(
        state, inputs.region, inputs.publish.moment, inputs.base_url, inputs.keep_listed, inputs.key
    )
    by_path = {_host_path(rel, inputs.region): (data, ctype) for rel, (data, ctype) in files.items()}
    tree = [TreeFile(p, *by_path[p], CACHE_CONTROL) for p in ORDER if p in by_path]
    assert len(tree) == len(by_path), f"unexpected files in the static tree: {sorted(by_path)}"
    return tree, check_tree(inputs, tree)


def _host_path(rel: str, region: str) -> str:
    return rel.removeprefix(f"{region}/")


def check_tree(inputs: UploadInputs, tree: list[TreeFile]) -> Any:
    """Step 1: every file is what the daily job, a customer or a feed reader would accept; InvalidUpload if not."""
    import json
    import xml.etree.ElementTree as ET

    from smtp_egress.checks.published import parse_published
    from smtp_egress.errors import EgressError
    from smtp_egress.signing import verify

    files = {f.path: f.data for f in tree}
    source = f"{inputs.target.url}/{CORE}"

    def bad(path: str, why: str) -> errors.InvalidUpload:
        return errors.InvalidUpload(f"{inputs.target.url}/{path}: {why}; nothing was uploaded")

    try:
        doc = parse_published(files[CORE], source, inputs.region, content_type="application/json")
    except EgressError as exc:
        raise errors.InvalidUpload(
            f"the document to upload fails the strict check: {exc}; nothing was uploaded"
        ) from None
    listed = [str(ip) for ip in doc.raw["ip_addresses"]]
    if files.get(f"{CORE}.txt", b"").decode("utf-8", "replace").splitlines() != listed:
        raise bad(f"{CORE}.txt", "the address list differs from the document's ip_addresses")
    if inputs.key is not None:
        try:
            verify(inputs.key.public_key(), files[CORE], files.get(f"{CORE}.sig", b""), "the document to upload")
        except EgressError as exc:
            raise bad(f"{CORE}.sig", f"the signature does not match the document ({exc})") from None
    try:
        feed = json.loads(files[f"{CORE}/changes.json"])
        ET.fromstring(files[f"{CORE}/changes.atom"])
    except (ValueError, ET.ParseError) as exc:
        raise bad(f"{CORE}/changes.*", f"the changes feed does not parse ({excerpt(str(exc), 120)})") from None
    if not isinstance(feed, dict) or not isinstance(feed.get("changes"), list):
        raise bad(f"{CORE}/changes.json", "the feed has no 'changes' list")
    return doc


def upload_region(inputs: UploadInputs, *, session: Any = None) -> UploadResult:
    """Render, check, upload what changed, delete what left the tree, invalidate (see the module docstring).
    ``session``: a boto3 Session (default: a new one from the environment)."""
    tree, doc = render_tree(inputs)
    return upload_tree(inputs, tree, doc, session=session)


def upload_tree(inputs: UploadInputs, tree: list[TreeFile], doc: Any, *, session: Any = None) -> UploadResult:
    """Steps 2 to 4 for ``tree`` and its validated document ``doc``, as :func:`render_tree` returned them: what is
    uploaded is exactly what was rendered and checked."""
    from .object_store import Cdn, Connection, ObjectStore

    target = inputs.target
    connection = Connection(target.url, target.endpoint_url, session)
    store = ObjectStore(connection, target.bucket)
    existing = store.keys(target.key(CORE))
    stored = {p: store.head(target.key(p)) for p in ORDER if target.key(p) in existing}
    for path, obj in stored.items():
        if obj is not None and obj.metadata.get(REGION, inputs.region) != inputs.region:
            raise errors.BadTarget(
                f"{target.url}: {target.key(path)} holds region {excerpt(obj.metadata[REGION], 40)}'s files, not "
                f"{inputs.region!r}'s; upload each region to its own host's prefix (nothing was uploaded)"
            )
    changed = [f for f in tree if not _same(stored.get(f.path), f)]
    stale = [p for p, obj in stored.items() if obj is not None and p not in {f.path for f in tree}]
    written = {f.path for f in changed} | set(stale)
    cdn = None if target.distribution_id is None else Cdn(connection, target.distribution_id)
    if cdn is not None:  # read before any write: a wrong distribution stops the run with the bucket untouched
        before = tree_digest(
            (p, o.metadata.get(SHA256), o.content_type, o.cache_control) for p, o in stored.items() if o
        )
        if not (cdn.latest_reference() or "").startswith(f"{REFERENCE}:{before}:"):
            written |= {f.path for f in tree} | set(stored)  # the edges may still cache an earlier change
    for f in changed:
        store.put(
            target.key(f.path), f.data, f.content_type, f.cache_control, {SHA256: f.sha256, REGION: inputs.region}
        )
    for path in stale:
        store.delete(target.key(path))
    paths = [f"/{p}" for p in ORDER if p in written] if cdn is not None else []
    invalidation = None
    if cdn is not None and paths:
        after = tree_digest((f.path, f.sha256, f.content_type, f.cache_control) for f in tree)
        invalidation = cdn.invalidate(paths, f"{REFERENCE}:{after}:{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S.%f}")
    return UploadResult(
        region=inputs.region,
        target=target.url,
        uploaded=tuple(target.key(f.path) for f in changed),
        unchanged=tuple(target.key(f.path) for f in tree if f not in changed),
        deleted=tuple(target.key(p) for p in stale),
        invalidated=tuple(paths),
        invalidation_id=invalidation,
        addresses=len(doc.addresses),
        sha256=doc.sha256,
        signed=inputs.key is not None,
        requests=connection.requests,
    )


def _same(obj: StoredObject | None, f: TreeFile) -> bool:
    return (
        obj is not None
        and obj.metadata.get(SHA256) == f.sha256
        and obj.content_type == f.content_type
        and obj.cache_control == f.cache_control
    )


def tree_digest(files: Iterable[tuple[str, str | None, str | None, str | None]]) -> str:
    """What a tree serves, from each file's (path, sha256, Content-Type, Cache-Control), in 32 hex digits: the caller
    reference of the invalidation that made the tree current names it."""
    parts = sorted("\0".join(str(v) for v in f) for f in files)
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]
