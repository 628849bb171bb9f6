"""IpListPublisher: the region's published IP list in a private S3 bucket behind CloudFront (one region per host).

Design. The original API serves one region per host at ``/v1/info/ip_addresses``; ``egress publish --static-dir``
writes ``<region>/v1/info/ip_addresses`` (+ ``.txt``) per region and the shared
``v1/info/ip_addresses/changes.json`` / ``changes.atom``. Each regional stack creates one publisher: one
bucket and one distribution whose origin path is ``/<region>``. ``documents`` is keyed like that static tree
(the keys of ``headers.json``) and may hold only this region's files and the shared ones; the shared files
are stored under ``<region>/`` as well, so that on this host every URL of the original layout works::

    https://HOST/v1/info/ip_addresses               -> s3://BUCKET/us/v1/info/ip_addresses
    https://HOST/v1/info/ip_addresses.txt           -> s3://BUCKET/us/v1/info/ip_addresses.txt
    https://HOST/v1/info/ip_addresses/changes.json  -> s3://BUCKET/us/v1/info/ip_addresses/changes.json

Each region's host thus carries its own copy of the changes feed (identical when both stacks publish the
same plan and ledger). The query string is not part of the cache key and never reaches S3, so
``?region=us`` on the US host is the US list, and ``?region=eu`` on the US host is also the US list: the
document names its ``region``, which ``egress notify`` checks.

The bucket is private (public access block, BucketOwnerEnforced, SSE-S3, versioned); CloudFront reads it
through an origin access control (SigV4), and the bucket policy lets ``cloudfront.amazonaws.com`` read
objects only for this distribution (``AWS:SourceArn``). Viewers are redirected to HTTPS; only GET and HEAD
are allowed; the managed CachingOptimized policy honours each object's ``Cache-Control`` (the documents
say ``max-age=300``, so a new list reaches every edge within five minutes of ``pulumi up``).

Children: ``{name}-documents`` (+ ``-public-access-block``, ``-ownership``, ``-encryption``, ``-versioning``,
``-policy``), ``{name}-doc-<object key slug>`` per document (e.g. ``{name}-doc-us-v1-info-ip-addresses-txt``),
``{name}-oac``, ``{name}-distribution``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi

from smtp_egress.errors import ConfigError

from . import aws, iam_policies
from .private_bucket import check_bucket_resource_name, private_bucket

CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"  # AWS managed cache policy
CORE_PATH = "v1/info/ip_addresses"  # the compatible core, served at https://HOST/v1/info/ip_addresses
ORIGIN_ID = "documents"
PRICE_CLASSES = ("PriceClass_100", "PriceClass_200", "PriceClass_All")

_REGION = re.compile(r"[a-z][a-z0-9-]{0,30}")
_PATH = re.compile(r"[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*")
_HOST = re.compile(r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")
_ACM_CERT = re.compile(r"arn:aws:acm:us-east-1:\d{12}:certificate/[0-9a-f-]{36}")


@dataclass(frozen=True)
class PublishedFile:
    """One object: ``content`` is its text, or with ``binary`` the base64 of its bytes (e.g. a signature,
    which may be an Output computed from a secret)."""

    content: pulumi.Input[str]
    content_type: str
    cache_control: str
    binary: bool = False


@dataclass(frozen=True)
class IpListPublisherArgs:
    """``documents``: static-tree path (``us/v1/...`` or shared ``v1/...``) -> file; ``aliases`` need an ACM
    certificate in us-east-1 (``certificate_arn``); the first alias is the host of ``url``."""

    region: str
    documents: Mapping[str, PublishedFile]
    aliases: Sequence[str] = ()
    certificate_arn: str | None = None
    price_class: str = "PriceClass_100"
    tags: Mapping[str, str] | None = None


def object_keys(region: str, documents: Mapping[str, PublishedFile]) -> dict[str, PublishedFile]:
    """Static-tree path -> S3 object key under ``<region>/``; refuses any path this host cannot serve."""
    keys: dict[str, PublishedFile] = {}
    for path in sorted(documents):
        if not _PATH.fullmatch(path) or any(part in (".", "..") for part in path.split("/")):
            raise ConfigError(
                f"document path {path!r} must be relative, like 'us/v1/info/ip_addresses' "
                "(letters, digits, '._-' between single slashes)"
            )
        if path.startswith(f"{region}/"):
            key = path
        elif path.startswith("v1/"):
            key = f"{region}/{path}"  # a shared file, copied onto this region's host
        else:
            raise ConfigError(
                f"document path {path!r} is neither under {region + '/'!r} nor shared under 'v1/': "
                f"pass the {region!r} files and the shared files of the static tree only"
            )
        if key in keys:
            raise ConfigError(f"document paths {path!r} and {key!r} would both be stored at {key!r}; pass one of them")
        keys[key] = documents[path]
    return keys


def document_resource_name(name: str, key: str) -> str:
    return f"{name}-doc-" + re.sub(r"[^a-z0-9]+", "-", key.lower()).strip("-")


def validate(args: IpListPublisherArgs) -> dict[str, PublishedFile]:
    """Raise ConfigError naming every bad value; returns the objects to store (key -> file)."""
    p = []
    if not _REGION.fullmatch(args.region) or args.region == "v1":
        p.append(f"region {args.region!r} must be a plan region name such as 'us'")
        raise ConfigError("IpListPublisher: " + "; ".join(p))
    objects = object_keys(args.region, args.documents)
    if f"{args.region}/{CORE_PATH}" not in objects:
        p.append(
            f"documents lack {args.region + '/' + CORE_PATH!r}, the list the endpoint serves; "
            "render it with egress.document for this region"
        )
    for key, doc in objects.items():
        if not isinstance(doc, PublishedFile):
            p.append(f"document {key!r} must be a PublishedFile, got {type(doc).__name__}")
        elif (
            (isinstance(doc.content, str) and not doc.content)
            or doc.content is None
            or not doc.content_type.strip()
            or not doc.cache_control.strip()
        ):
            size = f"{len(doc.content)} characters" if isinstance(doc.content, str) else "computed content"
            p.append(
                f"document {key!r} needs content, content_type and cache_control (got {doc.content_type!r}, "
                f"{doc.cache_control!r}, {size})"
            )
    for alias in args.aliases:
        if not _HOST.fullmatch(alias):
            p.append(f"alias {alias!r} is not a lowercase host name such as 'us.ips.example.com'")
    if len(set(args.aliases)) != len(args.aliases):
        p.append(f"aliases {list(args.aliases)!r} repeat a name")
    if args.aliases and args.certificate_arn is None:
        p.append(f"aliases {list(args.aliases)!r} need certificate_arn, an ACM certificate covering them")
    if args.certificate_arn is not None:
        if not _ACM_CERT.fullmatch(args.certificate_arn):
            p.append(
                f"certificate_arn {args.certificate_arn!r} must be an ACM certificate in us-east-1 "
                "(CloudFront uses only that region's certificates)"
            )
        if not args.aliases:
            p.append("certificate_arn is set but aliases is empty; add the host names it covers")
    if args.price_class not in PRICE_CLASSES:
        p.append(f"price_class {args.price_class!r} must be one of {', '.join(PRICE_CLASSES)}")
    names = [document_resource_name("x", key) for key in objects]
    if len(set(names)) != len(names):
        p.append(f"document keys {sorted(objects)!r} collide once made into resource names; rename one")
    if p:
        raise ConfigError("IpListPublisher: " + "; ".join(p))
    return objects


def viewer_certificate(certificate_arn: str | None) -> aws.cloudfront.DistributionViewerCertificateArgsDict:
    if certificate_arn is None:
        return {"cloudfront_default_certificate": True}
    return {
        "acm_certificate_arn": certificate_arn,
        "ssl_support_method": "sni-only",
        "minimum_protocol_version": "TLSv1.2_2021",
    }


class IpListPublisher(pulumi.ComponentResource):
    bucket_name: pulumi.Output[str]
    distribution_id: pulumi.Output[str]
    distribution_domain_name: pulumi.Output[str]
    url: pulumi.Output[str]

    def __init__(self, name: str, args: IpListPublisherArgs, opts: pulumi.ResourceOptions | None = None):
        objects = validate(args)
        check_bucket_resource_name(f"{name}-documents")
        super().__init__("smtp-egress:publish:IpListPublisher", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = {**(args.tags or {}), "smtp-egress:region": args.region}

        store = private_bucket(f"{name}-documents", self, tags)
        bucket = store.bucket
        ready = [store.public_access_block, store.ownership, store.encryption]
        for key, doc in objects.items():
            aws.s3.BucketObjectv2(
                document_resource_name(name, key),
                bucket=bucket.id,
                key=key,
                content=None if doc.binary else doc.content,
                content_base64=doc.content if doc.binary else None,
                content_type=doc.content_type,
                cache_control=doc.cache_control,
                opts=pulumi.ResourceOptions(parent=self, depends_on=ready),
            )

        oac = aws.cloudfront.OriginAccessControl(
            f"{name}-oac",
            description=f"smtp-egress published IP list ({args.region})",
            origin_access_control_origin_type="s3",
            signing_behavior="always",
            signing_protocol="sigv4",
            opts=child,
        )
        distribution = aws.cloudfront.Distribution(
            f"{name}-distribution",
            enabled=True,
            is_ipv6_enabled=True,
            http_version="http2and3",
            comment=f"smtp-egress published IP list ({args.region})",
            price_class=args.price_class,
            aliases=list(args.aliases) or None,
            origins=[
                {
                    "origin_id": ORIGIN_ID,
                    "domain_name": bucket.bucket_regional_domain_name,
                    "origin_path": f"/{args.region}",
                    "origin_access_control_id": oac.id,
                }
            ],
            default_cache_behavior={
                "target_origin_id": ORIGIN_ID,
                "viewer_protocol_policy": "redirect-to-https",
                "allowed_methods": ["GET", "HEAD"],
                "cached_methods": ["GET", "HEAD"],
                "cache_policy_id": CACHING_OPTIMIZED,
                "compress": True,
            },
            restrictions={"geo_restriction": {"restriction_type": "none"}},
            viewer_certificate=viewer_certificate(args.certificate_arn),
            tags=tags,
            opts=child,
        )
        aws.s3.BucketPolicy(
            f"{name}-documents-policy",
            bucket=bucket.id,
            policy=pulumi.Output.all(bucket.arn, distribution.arn).apply(
                lambda a: iam_policies.cloudfront_read_policy(*a)
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[store.public_access_block]),
        )

        host = args.aliases[0] if args.aliases else distribution.domain_name
        self.bucket_name = bucket.bucket
        self.distribution_id = distribution.id
        self.distribution_domain_name = distribution.domain_name
        self.url = pulumi.Output.concat("https://", host, f"/{CORE_PATH}")
        self.register_outputs(
            {
                "bucket_name": self.bucket_name,
                "distribution_id": self.distribution_id,
                "distribution_domain_name": self.distribution_domain_name,
                "url": self.url,
            }
        )
