"""IpListPublisher: document placement, validation, the bucket policy, and the exact child contract under mocks."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

import pulumi
import pytest

from smtp_egress.components import iam_policies
from smtp_egress.components.publisher import (
    CACHING_OPTIMIZED,
    IpListPublisher,
    IpListPublisherArgs,
    PublishedFile,
    document_resource_name,
    object_keys,
    validate,
)
from smtp_egress.errors import ConfigError

TYPE = "smtp-egress:publish:IpListPublisher"
DIST_ARN = "arn:aws:cloudfront::123456789012:distribution/EDFDVBD6EXAMPLE"
BUCKET, DISTRIBUTION = "aws:s3/bucket:Bucket", "aws:cloudfront/distribution:Distribution"
CERT = "arn:aws:acm:us-east-1:123456789012:certificate/12345678-1234-1234-1234-123456789012"
JSON, TEXT, ATOM = "application/json", "text/plain; charset=utf-8", "application/atom+xml; charset=utf-8"
CC = "public, max-age=300"
SIG = "application/octet-stream"
DOCS = {
    "us/v1/info/ip_addresses": PublishedFile('{"ip_addresses": ["198.51.100.10"]}\n', JSON, CC),
    "us/v1/info/ip_addresses.txt": PublishedFile("198.51.100.10\n", TEXT, CC),
    "v1/info/ip_addresses/changes.json": PublishedFile('{"changes": []}\n', JSON, CC),
    "v1/info/ip_addresses/changes.atom": PublishedFile("<feed/>\n", ATOM, "public, max-age=60"),
}
ARGS = IpListPublisherArgs(region="us", documents=DOCS, tags={"team": "mail"})


def deploy(pulumi_mocks, check, args=ARGS):
    rec = pulumi_mocks()
    captured = []

    @pulumi.runtime.test
    def run():
        comp = IpListPublisher("us-ips", args)
        outs = [comp.bucket_name, comp.distribution_id, comp.distribution_domain_name, comp.url]
        return pulumi.Output.all(*outs).apply(captured.append)

    run()
    # run() returns once every registration has finished: check the whole recorded plan, not just what
    # had registered when the component's outputs resolved.
    assert len(captured) == 1, "the component's outputs never resolved"
    check(rec, captured[0])


# --- pure functions --------------------------------------------------------------------------------------


def test_region_files_stay_and_shared_files_move_under_the_region():
    assert list(object_keys("us", DOCS)) == [
        "us/v1/info/ip_addresses",
        "us/v1/info/ip_addresses.txt",
        "us/v1/info/ip_addresses/changes.atom",
        "us/v1/info/ip_addresses/changes.json",
    ]
    assert object_keys("us", DOCS)["us/v1/info/ip_addresses/changes.atom"] is DOCS["v1/info/ip_addresses/changes.atom"]


@pytest.mark.parametrize(
    "path, words",
    [
        ("eu/v1/info/ip_addresses", "neither under 'us/' nor shared"),
        ("/us/v1/info/ip_addresses", "must be relative"),
        ("us/v1/../../secret", "must be relative"),
        ("us//v1", "must be relative"),
        ("us/v1/info/ip addresses", "must be relative"),
    ],
)
def test_paths_this_host_cannot_serve_are_refused(path, words):
    with pytest.raises(ConfigError, match=words):
        object_keys("us", {**DOCS, path: DOCS["us/v1/info/ip_addresses"]})


def test_a_shared_file_and_its_region_copy_cannot_both_be_given():
    with pytest.raises(ConfigError, match=r"would both be stored at 'us/v1/info/ip_addresses/changes.json'"):
        object_keys("us", {**DOCS, "us/v1/info/ip_addresses/changes.json": DOCS["v1/info/ip_addresses/changes.json"]})


def test_resource_names_derive_from_the_object_key():
    assert document_resource_name("us-ips", "us/v1/info/ip_addresses.txt") == "us-ips-doc-us-v1-info-ip-addresses-txt"


def test_defaults_validate():
    assert set(validate(ARGS)) == set(object_keys("us", DOCS))


@pytest.mark.parametrize(
    "change, words",
    [
        ({"region": "v1"}, "region 'v1'"),
        (
            {"documents": {k: v for k, v in DOCS.items() if k != "us/v1/info/ip_addresses"}},
            "lack 'us/v1/info/ip_addresses'",
        ),
        ({"documents": {**DOCS, "us/v1/info/ip_addresses": PublishedFile("x", "", CC)}}, "needs content, content_type"),
        ({"documents": {**DOCS, "us/v1/info/ip_addresses": PublishedFile("", JSON, CC)}}, "needs content"),
        (
            {"documents": {**DOCS, "us/v1/info/ip_addresses.sig": PublishedFile("", SIG, CC, binary=True)}},
            "'us/v1/info/ip_addresses.sig' needs content",
        ),
        ({"aliases": ("us.ips.example.com",)}, "need certificate_arn"),
        ({"aliases": ("US.ips.example.com",), "certificate_arn": CERT}, "alias 'US.ips.example.com'"),
        ({"aliases": ("a.example.com", "a.example.com"), "certificate_arn": CERT}, "repeat a name"),
        ({"aliases": ("a.example.com",), "certificate_arn": CERT.replace("us-east-1", "eu-west-1")}, "in us-east-1"),
        ({"certificate_arn": CERT}, "aliases is empty"),
        ({"price_class": "PriceClass_Cheap"}, "price_class 'PriceClass_Cheap'"),
        ({"documents": {**DOCS, "us/v1/info/ip-addresses": DOCS["us/v1/info/ip_addresses"]}}, "collide"),
    ],
)
def test_validate_names_the_bad_value(change, words):
    with pytest.raises(ConfigError, match="IpListPublisher: ") as exc:
        validate(dataclasses.replace(ARGS, **change))
    assert words in str(exc.value)


def test_bucket_policy_lets_only_this_distribution_read_objects():
    policy = json.loads(iam_policies.cloudfront_read_policy("arn:aws:s3:::docs", DIST_ARN))
    allow, deny = policy["Statement"]
    assert allow == {
        "Sid": "AllowCloudFrontRead",
        "Effect": "Allow",
        "Principal": {"Service": "cloudfront.amazonaws.com"},
        "Action": "s3:GetObject",
        "Resource": "arn:aws:s3:::docs/*",
        "Condition": {"StringEquals": {"AWS:SourceArn": DIST_ARN}},
    }
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    with pytest.raises(ValueError, match="distribution_arn"):
        iam_policies.cloudfront_read_policy("arn:aws:s3:::docs", None)


# --- the child contract under mocks ----------------------------------------------------------------------


def test_children_types_names_and_parents(pulumi_mocks):
    def check(rec, _):
        (comp,) = [r for r in rec.sorted() if r.type == TYPE]
        children = [r for r in rec.sorted() if r.type != TYPE]
        assert comp.name == "us-ips" and all(r.parent == comp.urn for r in children)
        assert sorted((r.type, r.name) for r in children) == sorted(
            [
                ("aws:s3/bucket:Bucket", "us-ips-documents"),
                ("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "us-ips-documents-public-access-block"),
                ("aws:s3/bucketOwnershipControls:BucketOwnershipControls", "us-ips-documents-ownership"),
                (
                    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
                    "us-ips-documents-encryption",
                ),
                ("aws:s3/bucketVersioning:BucketVersioning", "us-ips-documents-versioning"),
                ("aws:s3/bucketPolicy:BucketPolicy", "us-ips-documents-policy"),
                ("aws:s3/bucketObjectv2:BucketObjectv2", "us-ips-doc-us-v1-info-ip-addresses"),
                ("aws:s3/bucketObjectv2:BucketObjectv2", "us-ips-doc-us-v1-info-ip-addresses-txt"),
                ("aws:s3/bucketObjectv2:BucketObjectv2", "us-ips-doc-us-v1-info-ip-addresses-changes-json"),
                ("aws:s3/bucketObjectv2:BucketObjectv2", "us-ips-doc-us-v1-info-ip-addresses-changes-atom"),
                ("aws:cloudfront/originAccessControl:OriginAccessControl", "us-ips-oac"),
                ("aws:cloudfront/distribution:Distribution", "us-ips-distribution"),
            ]
        )

    deploy(pulumi_mocks, check)


def test_outputs(pulumi_mocks):
    def check(rec, values):
        bucket, dist = rec.outputs_of(BUCKET, "us-ips-documents"), rec.one(DISTRIBUTION, "us-ips-distribution")
        domain = dist.outputs["domainName"]
        assert values == [bucket["bucket"], dist.id, domain, f"https://{domain}/v1/info/ip_addresses"]
        assert bucket["bucket"].startswith("us-ips-documents-") and domain.endswith(".cloudfront.net")

    deploy(pulumi_mocks, check)


def test_url_uses_the_first_alias_and_the_acm_certificate(pulumi_mocks):
    def check(rec, values):
        assert values[3] == "https://us.ips.example.com/v1/info/ip_addresses"
        dist = rec.inputs_of("aws:cloudfront/distribution:Distribution", "us-ips-distribution")
        assert dist["aliases"] == ["us.ips.example.com", "ips-us.example.com"]
        assert dist["viewerCertificate"] == {
            "acmCertificateArn": CERT,
            "sslSupportMethod": "sni-only",
            "minimumProtocolVersion": "TLSv1.2_2021",
        }

    deploy(
        pulumi_mocks,
        check,
        dataclasses.replace(ARGS, aliases=("us.ips.example.com", "ips-us.example.com"), certificate_arn=CERT),
    )


def test_one_object_per_document_with_its_type_and_cache_control(pulumi_mocks):
    def check(rec, _):
        bucket_id = rec.inputs_of("aws:s3/bucketVersioning:BucketVersioning", "us-ips-documents-versioning")["bucket"]
        objects = {o.inputs["key"]: o.inputs for o in rec.by_type("aws:s3/bucketObjectv2:BucketObjectv2")}
        expected = object_keys("us", DOCS)
        assert sorted(objects) == sorted(expected)
        for key, doc in expected.items():
            assert objects[key] == {
                "bucket": bucket_id,
                "key": key,
                "content": doc.content,
                "contentType": doc.content_type,
                "cacheControl": doc.cache_control,
            }

    deploy(pulumi_mocks, check)


def test_bucket_is_private_and_readable_only_by_the_distribution(pulumi_mocks):
    def check(rec, _):
        pab = rec.inputs_of(
            "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "us-ips-documents-public-access-block"
        )
        assert [
            pab[k] for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
        ] == [True] * 4
        assert rec.inputs_of("aws:s3/bucketOwnershipControls:BucketOwnershipControls", "us-ips-documents-ownership")[
            "rule"
        ] == {"objectOwnership": "BucketOwnerEnforced"}
        assert rec.inputs_of(
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
            "us-ips-documents-encryption",
        )["rules"] == [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}]
        assert rec.inputs_of("aws:s3/bucketVersioning:BucketVersioning", "us-ips-documents-versioning")[
            "versioningConfiguration"
        ] == {"status": "Enabled"}
        bucket = rec.inputs_of("aws:s3/bucket:Bucket", "us-ips-documents")
        assert "acl" not in bucket and "policy" not in bucket and "website" not in bucket
        policy = json.loads(rec.inputs_of("aws:s3/bucketPolicy:BucketPolicy", "us-ips-documents-policy")["policy"])
        bucket_arn = rec.outputs_of(BUCKET, "us-ips-documents")["arn"]
        dist_arn = rec.outputs_of(DISTRIBUTION, "us-ips-distribution")["arn"]
        assert dist_arn.startswith("arn:aws:cloudfront::123456789012:distribution/")
        assert policy == json.loads(iam_policies.cloudfront_read_policy(bucket_arn, dist_arn))
        allows = [s for s in policy["Statement"] if s["Effect"] == "Allow"]
        assert [(s["Principal"], s["Action"], s["Condition"]) for s in allows] == [
            ({"Service": "cloudfront.amazonaws.com"}, "s3:GetObject", {"StringEquals": {"AWS:SourceArn": dist_arn}})
        ]
        assert not rec.by_type("aws:cloudfront/originAccessIdentity:OriginAccessIdentity")

    deploy(pulumi_mocks, check)


def test_distribution_reads_the_region_folder_through_the_oac_over_https(pulumi_mocks):
    def check(rec, _):
        oac = rec.inputs_of("aws:cloudfront/originAccessControl:OriginAccessControl", "us-ips-oac")
        assert (oac["originAccessControlOriginType"], oac["signingBehavior"], oac["signingProtocol"]) == (
            "s3",
            "always",
            "sigv4",
        )
        dist = rec.inputs_of("aws:cloudfront/distribution:Distribution", "us-ips-distribution")
        (origin,) = dist["origins"]
        oac_id = rec.one("aws:cloudfront/originAccessControl:OriginAccessControl", "us-ips-oac").id
        assert origin["originAccessControlId"] == oac_id
        bucket = rec.outputs_of(BUCKET, "us-ips-documents")["bucket"]
        assert origin["domainName"] == f"{bucket}.s3.us-east-1.amazonaws.com"  # the regional domain, not the global one
        assert origin["originPath"] == "/us" and "s3OriginConfig" not in origin and "customOriginConfig" not in origin
        behavior = dist["defaultCacheBehavior"]
        assert behavior["targetOriginId"] == origin["originId"]
        assert behavior["viewerProtocolPolicy"] == "redirect-to-https"
        assert behavior["allowedMethods"] == ["GET", "HEAD"] and behavior["cachedMethods"] == ["GET", "HEAD"]
        assert behavior["cachePolicyId"] == CACHING_OPTIMIZED and "forwardedValues" not in behavior
        assert dist["enabled"] is True and dist["priceClass"] == "PriceClass_100"
        assert dist["viewerCertificate"] == {"cloudfrontDefaultCertificate": True} and "aliases" not in dist

    deploy(pulumi_mocks, check)


def test_documents_rendered_by_egress_publish_go_up_byte_for_byte(pulumi_mocks):
    """The static tree that `egress publish --static-dir` writes (headers.json keys) fits ``documents`` as is."""
    from smtp_egress.document import static_files
    from smtp_egress.plan import load_plan

    plan = load_plan(Path(__file__).resolve().parents[2] / "stacks" / "egress-ips.yaml")
    moment = dt.datetime(2026, 11, 26, tzinfo=dt.UTC)
    tree = static_files(plan, {}, moment, "https://us.ips.example.com")
    docs = {
        path: PublishedFile(data.decode("utf-8"), ctype, CC)
        for path, (data, ctype) in tree.items()
        if path.startswith(("us/", "v1/"))
    }
    assert len(docs) == 4

    def check(rec, _):
        objects = {o.inputs["key"]: o.inputs for o in rec.by_type("aws:s3/bucketObjectv2:BucketObjectv2")}
        assert objects["us/v1/info/ip_addresses"]["content"].encode() == tree["us/v1/info/ip_addresses"][0]
        assert objects["us/v1/info/ip_addresses"]["contentType"] == "application/json"
        assert (
            objects["us/v1/info/ip_addresses/changes.atom"]["content"].encode()
            == tree["v1/info/ip_addresses/changes.atom"][0]
        )

    deploy(pulumi_mocks, check, dataclasses.replace(ARGS, documents=docs))


def test_a_binary_file_goes_up_as_its_bytes_even_when_computed(pulumi_mocks):
    """A signature: base64 in ``content``, possibly an Output, stored as raw bytes (``content_base64``)."""
    import base64

    raw = bytes(range(64))
    sig = PublishedFile(pulumi.Output.from_input(base64.b64encode(raw).decode()), SIG, CC, binary=True)
    args = dataclasses.replace(ARGS, documents={**DOCS, "us/v1/info/ip_addresses.sig": sig})

    def check(rec, _):
        objects = {o.inputs["key"]: o.inputs for o in rec.by_type("aws:s3/bucketObjectv2:BucketObjectv2")}
        stored = objects["us/v1/info/ip_addresses.sig"]
        assert "content" not in stored and base64.b64decode(stored["contentBase64"]) == raw
        assert stored["contentType"] == SIG and "contentBase64" not in objects["us/v1/info/ip_addresses"]
        names = [o.name for o in rec.by_type("aws:s3/bucketObjectv2:BucketObjectv2")]
        assert "us-ips-doc-us-v1-info-ip-addresses-sig" in names

    deploy(pulumi_mocks, check, args)
