"""The bucket deploy policy ``buckets-locked-down``: every S3 bucket has a public access block with all four
settings true and a server-side encryption configuration, found by the bucket's name or ID, or (during a
preview, where the ID is unknown) through the engine's property dependencies.
"""

from __future__ import annotations

from typing import Any

from .policy_findings import Finding, Undecided, Violation, first_unknown, is_unknown, references
from .policy_findings import inputs as _inputs

BUCKETS = ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")
PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
SSE_CONFIGS = (
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
)
PAB_FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")


def _bucket_keys(r: dict) -> set[Any]:
    """What a reference to this bucket may hold: its ID or name, or its URN (an ID unknown during a preview)."""
    return {k for k in (r.get("id"), _inputs(r).get("bucket")) if isinstance(k, str) and k} | {r["urn"]}


def _covered(keys: set[Any], sure: set[Any], maybe: set[Any]) -> bool | None:
    """True: a setting certainly covers the bucket; None: one might (a value unknown during a preview)."""
    if keys & sure:
        return True
    if keys & maybe or UNRESOLVED in sure | maybe:
        return None
    return False


UNRESOLVED = "<a bucket reference unknown during preview, with no dependency to resolve it>"


def buckets_locked_down(resources: list[dict]) -> list[Finding]:
    blocked: set[Any] = set()  # what the settings name: bucket names, IDs or URNs (None: no bucket named)
    maybe_blocked: set[Any] = set()  # the same for settings whose own values are unknown during a preview
    encrypted: set[Any] = set()
    maybe_encrypted: set[Any] = set()
    for r in resources:
        i = _inputs(r)
        targets = references(i.get("bucket")) or {UNRESOLVED}
        if r["type"] == PUBLIC_ACCESS_BLOCK:
            if all(i.get(flag) is True for flag in PAB_FLAGS):
                blocked |= targets
            elif first_unknown({flag: i.get(flag) for flag in PAB_FLAGS}) is not None:
                maybe_blocked |= targets
        if r["type"] in SSE_CONFIGS:
            if is_unknown(i.get("rules")):
                maybe_encrypted |= targets
            elif i.get("rules"):
                encrypted |= targets
    out: list[Finding] = []
    for r in resources:
        if r["type"] not in BUCKETS:
            continue
        keys, inline = _bucket_keys(r), _inputs(r).get("serverSideEncryptionConfiguration")
        block = _covered(keys, blocked, maybe_blocked)
        sse = True if inline and not is_unknown(inline) else _covered(keys, encrypted, maybe_encrypted)
        if sse is False and is_unknown(inline):
            sse = None
        undecided = [what for what, known in (("public access block", block), ("encryption", sse)) if known is None]
        if undecided:
            unknown = f"which {' and '.join(undecided)} applies to it"
            out.append(Undecided("buckets-locked-down", r["urn"], unknown))
        if block is False:
            out.append(
                Violation(
                    "buckets-locked-down",
                    r["urn"],
                    (
                        f"bucket {r.get('name')!r} has no BucketPublicAccessBlock with {', '.join(PAB_FLAGS)} "
                        "all true; the archive holds customers' mail and the publisher serves only through the CDN"
                    ),
                )
            )
        if sse is False:
            out.append(
                Violation(
                    "buckets-locked-down",
                    r["urn"],
                    (
                        f"bucket {r.get('name')!r} has no server-side encryption configuration; add a "
                        "BucketServerSideEncryptionConfiguration (aws:kms or AES256)"
                    ),
                )
            )
    return out
