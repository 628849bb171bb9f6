"""``upload_region``: a region's tree to S3 (moto's standalone server over HTTP on loopback, real S3 and CloudFront
APIs through boto3), only what changed, make before break, then a CloudFront invalidation of the changed paths.

A :class:`FaultyProxy` (tests/conftest.py) sits in front of the server where a test needs to see the order of the
requests or to make the storage fail halfway."""

from __future__ import annotations

import datetime as dt
import hashlib
import socket
import uuid

import boto3
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from smtp_egress.checks.published import parse_published
from smtp_egress.dates import UTC
from smtp_egress.document import CACHE_CONTROL, static_files
from smtp_egress.errors import PublishedUnusable
from smtp_egress.jobs import object_store
from smtp_egress.jobs import upload_errors as errors
from smtp_egress.jobs.publish import PublishInputs, load_state
from smtp_egress.jobs.publish_upload import (
    CORE,
    TreeFile,
    UploadInputs,
    UploadTarget,
    check_tree,
    parse_target,
    upload_region,
)
from smtp_egress.ledger import Ledger
from smtp_egress.plan import load_plan

OLD = dt.datetime(2026, 12, 1, 6, 0, tzinfo=UTC)  # .11 announced, not yet live
NEW = dt.datetime(2026, 12, 11, 6, 0, tzinfo=UTC)  # .11 live: every file of the tree differs from OLD's
BASE_URL = "https://ips.example.com"
TXT, SIG, FEED, ATOM = f"{CORE}.txt", f"{CORE}.sig", f"{CORE}/changes.json", f"{CORE}/changes.atom"


@pytest.fixture
def site(example_plan, tmp_path, aws_env, moto_server):
    """The example plan, a ledger where the us addition (.11, 2026-12-10) was announced, a new bucket and a
    CloudFront distribution on the moto server."""
    db = f"sqlite:///{tmp_path}/ledger.db"
    plan = load_plan(example_plan)
    ledger = Ledger(db, create=True)
    for change in plan.changes():
        if change.ip == "198.51.100.11":
            ledger.announce(change, dt.datetime(2026, 11, 25, 9, tzinfo=UTC), plan.notice_days, plan.sha256, [])
    ledger.close()
    bucket = f"published-{uuid.uuid4().hex[:12]}"
    s3 = boto3.client("s3", endpoint_url=moto_server.url)
    s3.create_bucket(Bucket=bucket)
    cloudfront = boto3.client("cloudfront", endpoint_url=moto_server.url)
    distribution = moto_server.distribution(bucket, "/us")
    return Site(str(example_plan), db, bucket, distribution, s3, cloudfront, moto_server.url)


class Site:
    def __init__(self, plan, db, bucket, distribution, s3, cloudfront, endpoint):
        self.plan, self.db, self.bucket, self.distribution = plan, db, bucket, distribution
        self.s3, self.cloudfront, self.endpoint = s3, cloudfront, endpoint

    def inputs(self, moment=OLD, *, region="us", prefix="us", endpoint=None, invalidate=True, key=None):
        target = UploadTarget(self.bucket, prefix, endpoint or self.endpoint, self.distribution if invalidate else None)
        return UploadInputs(PublishInputs(self.plan, self.db, moment), region, target, BASE_URL, key)

    def objects(self, prefix="us/") -> dict[str, bytes]:
        listed = self.s3.list_objects_v2(Bucket=self.bucket, Prefix=prefix).get("Contents", [])
        return {o["Key"]: self.s3.get_object(Bucket=self.bucket, Key=o["Key"])["Body"].read() for o in listed}

    def expected(self, moment, key=None) -> dict[str, bytes]:
        """The tree as the stack stores it (``us/`` + host path) at ``moment``."""
        state = load_state(self.plan, self.db)
        files = static_files(state.plan, state.announcements, moment, BASE_URL, ["us"], key)
        return {"us/" + rel.removeprefix("us/"): data for rel, (data, _) in files.items()}

    def invalidations(self) -> list[list[str]]:
        listed = self.cloudfront.list_invalidations(DistributionId=self.distribution)["InvalidationList"]
        ids = [i["Id"] for i in listed.get("Items", [])]
        got = [self.cloudfront.get_invalidation(DistributionId=self.distribution, Id=i)["Invalidation"] for i in ids]
        return [inv["InvalidationBatch"]["Paths"]["Items"] for inv in sorted(got, key=lambda i: i["CreateTime"])]


def test_first_upload_writes_the_tree_with_headers_and_invalidates_it(site):
    result = upload_region(site.inputs())
    assert result.uploaded == ("us/" + TXT, "us/" + CORE, "us/" + FEED, "us/" + ATOM)
    assert result.unchanged == () and result.deleted == () and not result.signed
    assert site.objects() == site.expected(OLD)
    doc = parse_published(site.objects()["us/" + CORE], "bucket", "us")
    assert [str(ip) for ip in doc.addresses] == ["198.51.100.10", "198.51.100.12"]
    assert (result.addresses, result.sha256) == (2, doc.sha256)
    types = {TXT: "text/plain; charset=utf-8", CORE: "application/json", ATOM: "application/atom+xml; charset=utf-8"}
    for path, ctype in types.items():
        head = site.s3.head_object(Bucket=site.bucket, Key=f"us/{path}")
        assert (head["ContentType"], head["CacheControl"]) == (ctype, CACHE_CONTROL)
        assert head["Metadata"]["sha256"] == hashlib.sha256(site.objects()[f"us/{path}"]).hexdigest()
    assert result.invalidated == tuple(f"/{p}" for p in (TXT, CORE, FEED, ATOM))
    assert site.invalidations() == [list(result.invalidated)]
    assert result.invalidation_id is not None


def test_a_second_run_uploads_nothing_and_invalidates_nothing(site, s3_proxy):
    upload_region(site.inputs())
    proxy = s3_proxy()
    again = upload_region(site.inputs(endpoint=proxy.url))
    assert (again.uploaded, again.deleted, again.invalidated, again.invalidation_id) == ((), (), (), None)
    assert len(again.unchanged) == 4 and not again.changed
    assert set(proxy.methods()) == {"GET", "HEAD"}, proxy.log
    assert again.requests == len(proxy.log) == 7  # listing, 4 headers, the latest invalidation (listing, reading)
    assert len(site.invalidations()) == 1


def test_only_the_changed_files_are_uploaded_and_invalidated(site):
    upload_region(site.inputs(OLD))
    ledger = Ledger(site.db)
    plan = load_plan(site.plan)
    (removal,) = [c for c in plan.changes() if c.ip == "198.51.100.12"]
    ledger.announce(removal, dt.datetime(2026, 12, 1, 7, tzinfo=UTC), plan.notice_days, plan.sha256, [])
    ledger.close()
    later = OLD + dt.timedelta(hours=2)  # the removal is upcoming: the list (.txt) is the same
    result = upload_region(site.inputs(later))
    assert result.uploaded == ("us/" + CORE, "us/" + FEED, "us/" + ATOM)
    assert result.unchanged == ("us/" + TXT,)
    assert result.invalidated == (f"/{CORE}", f"/{FEED}", f"/{ATOM}")
    assert site.objects() == site.expected(later)


def test_order_refers_last_and_a_signature_that_left_is_deleted_after_the_uploads(site, s3_proxy):
    key = Ed25519PrivateKey.generate()
    signed = upload_region(site.inputs(OLD, key=key))
    assert signed.uploaded == tuple(f"us/{p}" for p in (TXT, CORE, SIG, FEED, ATOM)) and signed.signed
    assert site.objects() == site.expected(OLD, key)
    proxy = s3_proxy()
    unsigned = upload_region(site.inputs(NEW, endpoint=proxy.url))
    writes = [(m, p.split("/", 2)[2]) for m, p in proxy.log if m in ("PUT", "DELETE")]
    assert writes == [("PUT", f"us/{p}") for p in (TXT, CORE, FEED, ATOM)] + [("DELETE", f"us/{SIG}")]
    assert unsigned.deleted == ("us/" + SIG,)
    assert f"/{SIG}" in unsigned.invalidated
    assert site.objects() == site.expected(NEW)


def test_same_bytes_with_wrong_headers_are_uploaded_again(site):
    upload_region(site.inputs())
    data = site.objects()["us/" + TXT]
    meta = {"sha256": hashlib.sha256(data).hexdigest(), "egress-region": "us"}
    site.s3.put_object(Bucket=site.bucket, Key="us/" + TXT, Body=data, ContentType="text/html", Metadata=meta)
    result = upload_region(site.inputs())
    assert result.uploaded == ("us/" + TXT,)
    assert site.s3.head_object(Bucket=site.bucket, Key="us/" + TXT)["ContentType"] == "text/plain; charset=utf-8"


def test_objects_changed_since_the_latest_invalidation_are_invalidated_once(site):
    """A run without a distribution (or one killed between its upload and its invalidation, or pulumi up) leaves
    the CDN's copies stale: the next run with the distribution invalidates them, the one after does nothing."""
    upload_region(site.inputs(invalidate=False))
    assert site.invalidations() == []
    caught_up = upload_region(site.inputs())
    assert caught_up.uploaded == () and caught_up.invalidated == tuple(f"/{p}" for p in (TXT, CORE, FEED, ATOM))
    assert upload_region(site.inputs()).invalidated == ()


def test_an_invalidation_that_failed_after_the_upload_is_made_by_the_rerun(site, s3_proxy, monkeypatch):
    monkeypatch.setattr(object_store, "ATTEMPTS", 1)
    upload_region(site.inputs(OLD))
    proxy = s3_proxy()
    proxy.fault = lambda method, path, puts: 503 if method == "POST" else None
    with pytest.raises(errors.StorageFailed, match="invalidating 4 path"):
        upload_region(site.inputs(NEW, endpoint=proxy.url))
    assert site.objects() == site.expected(NEW) and len(site.invalidations()) == 1
    rerun = upload_region(site.inputs(NEW))
    assert rerun.uploaded == () and rerun.invalidated == tuple(f"/{p}" for p in (TXT, CORE, FEED, ATOM))
    assert upload_region(site.inputs(NEW)).invalidated == ()


def test_a_storage_failure_halfway_leaves_a_valid_tree_and_a_rerun_completes(site, s3_proxy, monkeypatch):
    """The server stops answering (503 to everything) after two objects of the new tree were written: each object
    in the bucket is whole, the old or the new one, the document passes the strict parser, nothing was deleted;
    the rerun writes the rest and invalidates every path that changed in either run."""
    monkeypatch.setattr(object_store, "ATTEMPTS", 2)  # keep the retries short
    upload_region(site.inputs(OLD))
    old, new = site.expected(OLD), site.expected(NEW)
    assert all(old[k] != new[k] for k in old)
    proxy = s3_proxy()
    proxy.fault = lambda method, path, puts: 503 if puts >= 2 else None
    with pytest.raises(errors.StorageFailed) as failed:
        upload_region(site.inputs(NEW, endpoint=proxy.url))
    assert "'ServiceUnavailable' (HTTP 503)" in str(failed.value) and f"s3://{site.bucket}/us" in str(failed.value)
    assert failed.value.exit_code == 3
    now = site.objects()
    assert set(now) == set(old)
    assert {k for k in now if now[k] == new[k]} == {"us/" + TXT, "us/" + CORE}
    assert all(now[k] in (old[k], new[k]) for k in now)
    parse_published(now["us/" + CORE], "bucket", "us")
    rerun = upload_region(site.inputs(NEW))
    assert rerun.uploaded == ("us/" + FEED, "us/" + ATOM)
    assert set(rerun.invalidated) == {f"/{p}" for p in (TXT, CORE, FEED, ATOM)}
    assert site.objects() == new


def test_a_server_that_drops_every_connection_halfway_is_unreachable_and_a_rerun_completes(site, s3_proxy, monkeypatch):
    monkeypatch.setattr(object_store, "ATTEMPTS", 2)
    upload_region(site.inputs(OLD))
    proxy = s3_proxy()
    proxy.fault = lambda method, path, puts: "drop" if puts >= 3 else None  # dies after 3 writes
    with pytest.raises(errors.EndpointUnreachable, match=r"uploading 'us/v1/info/ip_addresses/changes.atom'") as e:
        upload_region(site.inputs(NEW, endpoint=proxy.url))
    assert e.value.exit_code == 3 and "rerun to complete the upload" in str(e.value)
    old, new, now = site.expected(OLD), site.expected(NEW), site.objects()
    assert {k for k in now if now[k] == new[k]} == {"us/" + TXT, "us/" + CORE, "us/" + FEED}
    assert now["us/" + ATOM] == old["us/" + ATOM]
    assert upload_region(site.inputs(NEW)).uploaded == ("us/" + ATOM,) and site.objects() == new


def test_a_transient_failure_is_retried(site, s3_proxy):
    proxy = s3_proxy()
    failures = iter([503])
    proxy.fault = lambda method, path, puts: next(failures, None) if method == "PUT" else None
    result = upload_region(site.inputs(endpoint=proxy.url))
    assert len(result.uploaded) == 4 and proxy.methods().count("PUT") == 5
    assert site.objects() == site.expected(OLD)


def test_access_denied_midway_names_the_key_and_never_the_secret(site, s3_proxy):
    proxy = s3_proxy()
    proxy.fault = lambda method, path, puts: 403 if method == "PUT" and path.endswith("changes.json") else None
    with pytest.raises(errors.AccessDenied) as denied:
        upload_region(site.inputs(endpoint=proxy.url))
    text = str(denied.value)
    assert f"s3://{site.bucket}/us: uploading 'us/{FEED}'" in text and "'AccessDenied' (HTTP 403)" in text
    assert "test-secret-Zq8vN3pLkW" not in text and denied.value.exit_code == 2
    assert set(site.objects()) == {"us/" + TXT, "us/" + CORE}  # written before; the rest stays as it was


def test_a_missing_bucket_is_named_with_the_endpoint(site):
    inputs = site.inputs()
    missing = UploadInputs(inputs.publish, "us", UploadTarget("no-such-bucket-x1", "us", site.endpoint), BASE_URL)
    with pytest.raises(errors.BucketMissing, match=r"bucket 'no-such-bucket-x1' does not exist at endpoint http://"):
        upload_region(missing)


def test_an_unreachable_endpoint_fails_cleanly(site, monkeypatch):
    monkeypatch.setattr(object_store, "ATTEMPTS", 2)
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(errors.EndpointUnreachable, match=rf"at endpoint http://127.0.0.1:{port}: the endpoint cannot"):
        upload_region(site.inputs(endpoint=f"http://127.0.0.1:{port}"))


def test_a_missing_distribution_is_named(site):
    inputs = site.inputs()
    target = UploadTarget(site.bucket, "us", site.endpoint, "ENOSUCHDIST")
    with pytest.raises(errors.DistributionMissing, match=r"'ENOSUCHDIST' \(--invalidate\) does not exist"):
        upload_region(UploadInputs(inputs.publish, "us", target, BASE_URL))
    # AWS answers ListInvalidations with NoSuchDistribution, before any write; moto lists none and refuses only
    # the invalidation, after the upload. Either way the run with the right distribution invalidates the tree.
    assert upload_region(site.inputs()).invalidated == tuple(f"/{p}" for p in (TXT, CORE, FEED, ATOM))


def test_another_regions_prefix_or_objects_are_refused_before_any_write(site):
    with pytest.raises(errors.BadTarget, match="the prefix names region 'eu', but this is region 'us'"):
        upload_region(site.inputs(prefix="eu"))
    upload_region(site.inputs(region="eu", prefix="hosts/x"))
    with pytest.raises(errors.BadTarget, match="holds region 'eu'"):
        upload_region(site.inputs(region="us", prefix="hosts/x"))
    assert site.objects() == {}


def test_a_simulation_ledger_is_never_uploaded(site, tmp_path):
    db = f"sqlite:///{tmp_path}/sim.db"
    Ledger(db, create=True, simulation=True).close()
    inputs = site.inputs()
    sim = UploadInputs(PublishInputs(site.plan, db, OLD), "us", inputs.target, BASE_URL)
    with pytest.raises(errors.SimulationNotUploaded):
        upload_region(sim)
    assert site.objects() == {}


@pytest.mark.parametrize(
    ("path", "tamper", "why"),
    [
        (CORE, lambda b: b[: len(b) // 2], "truncated or malformed JSON"),
        (CORE, lambda b: b.replace(b'"198.51.100.12"', b'"198.51.100.99"'), "does not match its own sha256"),
        (TXT, lambda b: b"", "differs from the document"),
        (SIG, lambda b: bytes(64), "signature"),
        (ATOM, lambda b: b"<feed>", "does not parse"),
    ],
)
def test_a_tree_that_fails_its_checks_is_refused(site, path, tamper, why):
    key = Ed25519PrivateKey.generate()
    files = site.expected(OLD, key)
    tree = [TreeFile(k.removeprefix("us/"), d, "x", CACHE_CONTROL) for k, d in files.items()]
    tree = [TreeFile(f.path, tamper(f.data), f.content_type, f.cache_control) if f.path == path else f for f in tree]
    with pytest.raises(errors.InvalidUpload, match=why):
        check_tree(site.inputs(key=key), tree)


def test_an_empty_list_is_never_uploaded(site, tmp_path):
    plan = tmp_path / "empty.yaml"
    plan.write_text("regions:\n  us:\n    - ip: 192.0.2.7\n      active_from: 2026-12-10\n")
    db = f"sqlite:///{tmp_path}/empty.db"
    Ledger(db, create=True).close()
    inputs = UploadInputs(PublishInputs(str(plan), db, OLD), "us", site.inputs().target, BASE_URL)
    with pytest.raises(PublishedUnusable, match="would publish an empty list"):
        upload_region(inputs)
    assert site.objects() == {}


@pytest.mark.parametrize(
    "url", ["s3:/b/us", "https://b/us", "s3://", "s3://b//us", "s3://b/us?x=1", "s3://u@b/us", "s3://[::1/x"]
)
def test_targets_that_are_not_s3_urls_are_refused(url):
    with pytest.raises(errors.BadTarget, match="is not s3://BUCKET/PREFIX"):
        parse_target(url)


def test_target_parts():
    assert parse_target("s3://b/us/") == ("b", "us")
    assert parse_target("s3://b") == ("b", "")
    assert UploadTarget("b", "").key(CORE) == CORE and UploadTarget("b", "x/us").url == "s3://b/x/us"
