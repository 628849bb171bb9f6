"""A private, encrypted, versioned S3 bucket: the part the archive and the published-documents bucket share.

Not a component of its own: the children are created directly under the calling component (``parent``),
so their URNs read ``<component type>$aws:s3/...`` and the caller adds its own policy and lifecycle.

Encryption is SSE-S3 (``AES256``): every object is encrypted at rest with S3-managed keys, and readers and
writers need no KMS permission, which keeps the delivery workers' policy to exactly the actions listed
in :mod:`smtp_egress.components.iam_policies`. (A customer-managed KMS key would add per-key audit and access
control at the price of ``kms:GenerateDataKey`` on the worker role and KMS request costs.)
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pulumi

from . import aws

SSE_ALGORITHM = "AES256"

# Pulumi appends "-" and 7 random characters to auto-named buckets; S3 allows 63 lowercase characters.
_BUCKET_RESOURCE_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,53}[a-z0-9]")


def check_bucket_resource_name(name: str) -> str:
    """The bucket's resource name must make a valid auto-generated S3 bucket name (lowercase, <= 55 chars)."""
    if not _BUCKET_RESOURCE_NAME.fullmatch(name) or "--" in name:
        raise ValueError(
            f"{name!r} cannot name an S3 bucket: use lowercase letters, digits and single hyphens, "
            f"at most 55 characters (Pulumi appends a random suffix), e.g. a component name like 'us-workers'"
        )
    return name


@dataclass(frozen=True)
class PrivateBucket:
    bucket: aws.s3.Bucket
    public_access_block: aws.s3.BucketPublicAccessBlock
    ownership: aws.s3.BucketOwnershipControls
    encryption: aws.s3.BucketServerSideEncryptionConfiguration
    versioning: aws.s3.BucketVersioning


def private_bucket(name: str, parent: pulumi.Resource, tags: dict[str, str] | None) -> PrivateBucket:
    """Children ``name``, ``name-public-access-block``, ``-ownership``, ``-encryption``, ``-versioning``."""
    check_bucket_resource_name(name)
    opts = pulumi.ResourceOptions(parent=parent)
    bucket = aws.s3.Bucket(name, force_destroy=False, tags=tags, opts=opts)
    pab = aws.s3.BucketPublicAccessBlock(
        f"{name}-public-access-block",
        bucket=bucket.id,
        block_public_acls=True,
        block_public_policy=True,
        ignore_public_acls=True,
        restrict_public_buckets=True,
        opts=opts,
    )
    ownership = aws.s3.BucketOwnershipControls(
        f"{name}-ownership", bucket=bucket.id, rule={"object_ownership": "BucketOwnerEnforced"}, opts=opts
    )
    encryption = aws.s3.BucketServerSideEncryptionConfiguration(
        f"{name}-encryption",
        bucket=bucket.id,
        rules=[{"apply_server_side_encryption_by_default": {"sse_algorithm": SSE_ALGORITHM}}],
        opts=opts,
    )
    versioning = aws.s3.BucketVersioning(
        f"{name}-versioning", bucket=bucket.id, versioning_configuration={"status": "Enabled"}, opts=opts
    )
    return PrivateBucket(bucket, pab, ownership, encryption, versioning)
