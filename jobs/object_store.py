"""The S3 bucket and the CloudFront distribution that serve a region's published tree, through boto3.

:class:`ObjectStore` lists, reads the headers of, writes and deletes objects; :class:`Cdn` reads the latest
invalidation and creates one. Each translates botocore's exceptions into the classes of
:mod:`smtp_egress.jobs.upload_errors`, with the target, the endpoint and the code AWS answered. Credentials come
from boto3's usual chain (environment, shared files, the task's or instance's role) and are never shown.
``requests`` counts the HTTP requests sent (retries included), for the result and the benchmark.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from smtp_egress.masking import excerpt, mask_url, shorten

from . import upload_errors as errors

CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 30.0
ATTEMPTS = 4  # boto3's standard retry mode: 5xx, throttling and connection errors, with backoff
DENIED = {"AccessDenied", "Forbidden", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken"}
DENIED |= {"InvalidClientTokenId", "UnrecognizedClientException", "AccessDeniedException", "AllAccessDisabled"}


@dataclasses.dataclass(frozen=True)
class StoredObject:
    """An object's headers as the bucket serves them; ``metadata`` are its ``x-amz-meta-*`` values."""

    key: str
    content_type: str | None
    cache_control: str | None
    metadata: dict[str, str]
    last_modified: dt.datetime


class Connection:
    """One boto3 session's clients for ``endpoint_url`` (None: AWS itself), counting the requests they send."""

    def __init__(self, target: str, endpoint_url: str | None = None, session: Any = None):
        import boto3
        from botocore.config import Config

        self.target = target
        self.endpoint_url = endpoint_url
        self.requests = 0
        self._session: Any = session or boto3.session.Session()
        self._config = Config(
            connect_timeout=CONNECT_TIMEOUT,
            read_timeout=READ_TIMEOUT,
            retries={"mode": "standard", "max_attempts": ATTEMPTS},
        )

    def client(self, service: str) -> Any:
        import botocore.exceptions

        with self.translated(f"{service} client"):
            try:
                client = self._session.client(service, endpoint_url=self.endpoint_url, config=self._config)
            except botocore.exceptions.NoRegionError:
                client = self._session.client(
                    service, endpoint_url=self.endpoint_url, config=self._config, region_name="us-east-1"
                )
        client.meta.events.register("before-send", self._count)
        return client

    def _count(self, **_: object) -> None:
        self.requests += 1

    def where(self) -> str:
        return f" at endpoint {mask_url(self.endpoint_url)}" if self.endpoint_url else ""

    @contextmanager
    def translated(
        self, doing: str, *, missing: Callable[[], errors.UploadConfigError] | None = None
    ) -> Iterator[None]:
        """Turn botocore's exceptions raised while ``doing`` into ours; ``missing`` for a 404 NoSuch* answer."""
        import botocore.exceptions as bx

        head = f"{self.target}: {doing}{self.where()}"
        try:
            yield
        except bx.NoCredentialsError:
            raise errors.NoCredentials(
                f"{head}: no AWS credentials found (environment variables, shared config files, the task's or "
                "instance's role); give the job a role or credentials allowed to write this prefix"
            ) from None
        except (bx.EndpointConnectionError, bx.ConnectionClosedError, bx.ConnectTimeoutError) as exc:
            raise errors.EndpointUnreachable(
                f"{head}: the endpoint cannot be reached after {ATTEMPTS} attempts ({type(exc).__name__}); "
                f"check --endpoint-url and the network; {errors.RERUN}"
            ) from None
        except (bx.ReadTimeoutError, bx.ConnectionError, bx.HTTPClientError) as exc:
            raise errors.EndpointUnreachable(
                f"{head}: the connection failed after {ATTEMPTS} attempts ({type(exc).__name__}); {errors.RERUN}"
            ) from None
        except bx.ClientError as exc:
            raise self._client_error(head, exc, missing) from None
        except bx.BotoCoreError as exc:  # a local problem of the SDK (a bad endpoint URL, a bad parameter)
            raise errors.BadTarget(f"{head}: {shorten(str(exc), 300)}") from None

    def _client_error(self, head: str, exc: Any, missing: Callable[[], errors.UploadConfigError] | None) -> Exception:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "")) or "?"
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        said = f"{excerpt(code, 60)} (HTTP {status}): {shorten(str(error.get('Message') or ''), 200)}".rstrip(": ")
        if code in DENIED or status == 403:
            return errors.AccessDenied(
                f"{head}: access denied, {said}; the credentials in use must be valid and allowed to list, read, "
                "write and delete under this prefix (and to invalidate the distribution)"
            )
        if missing is not None and (code.startswith("NoSuch") or status == 404):
            return missing()
        if (status is not None and status >= 500) or code in ("SlowDown", "Throttling", "RequestTimeout"):
            return errors.StorageFailed(f"{head}: the service failed after {ATTEMPTS} attempts, {said}; {errors.RERUN}")
        return errors.StorageFailed(f"{head}: refused, {said}; {errors.RERUN} once the cause is fixed")


class ObjectStore:
    """The objects of ``bucket`` under the keys a region's tree uses."""

    def __init__(self, connection: Connection, bucket: str):
        self.connection = connection
        self.bucket = bucket
        self._s3 = connection.client("s3")

    def _missing(self) -> errors.BucketMissing:
        return errors.BucketMissing(
            f"{self.connection.target}: bucket {excerpt(self.bucket, 80)} does not exist{self.connection.where()}; "
            "check the bucket name (the stack's publisher bucket) and the account the credentials belong to"
        )

    def keys(self, prefix: str) -> set[str]:
        """Every key that starts with ``prefix`` (all pages)."""
        found: set[str] = set()
        with self.connection.translated(f"listing {excerpt(prefix, 120)}", missing=self._missing):
            for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
                found.update(item["Key"] for item in page.get("Contents", ()))
        return found

    def head(self, key: str) -> StoredObject | None:
        """The object's headers, None when it is gone (deleted since it was listed)."""
        import botocore.exceptions

        with self.connection.translated(f"reading the headers of {excerpt(key, 120)}", missing=self._missing):
            try:
                got = self._s3.head_object(Bucket=self.bucket, Key=key)
            except botocore.exceptions.ClientError as exc:
                if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404:
                    return None
                raise
        return StoredObject(key, got.get("ContentType"), got.get("CacheControl"), got["Metadata"], got["LastModified"])

    def put(self, key: str, data: bytes, content_type: str, cache_control: str, metadata: dict[str, str]) -> None:
        """Write the object whole (S3 replaces an object atomically: readers see the old one or the new one)."""
        md5 = base64.b64encode(hashlib.md5(data).digest()).decode()
        with self.connection.translated(f"uploading {excerpt(key, 120)}", missing=self._missing):
            self._s3.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=data,
                ContentType=content_type,
                CacheControl=cache_control,
                ContentMD5=md5,
                Metadata=metadata,
            )

    def delete(self, key: str) -> None:
        with self.connection.translated(f"deleting {excerpt(key, 120)}", missing=self._missing):
            self._s3.delete_object(Bucket=self.bucket, Key=key)


class Cdn:
    """The CloudFront distribution ``distribution_id``."""

    def __init__(self, connection: Connection, distribution_id: str):
        self.connection = connection
        self.distribution_id = distribution_id
        self._cloudfront = connection.client("cloudfront")

    def _missing(self) -> errors.DistributionMissing:
        return errors.DistributionMissing(
            f"{self.connection.target}: CloudFront distribution {excerpt(self.distribution_id, 40)} (--invalidate) "
            f"does not exist{self.connection.where()}; give the publisher's distribution ID (a stack output)"
        )

    def latest_reference(self) -> str | None:
        """The caller reference of the distribution's newest invalidation (None: it has none). The first page of
        the listing holds the newest ones."""
        doing = f"reading the latest invalidation of distribution {excerpt(self.distribution_id, 40)}"
        with self.connection.translated(doing, missing=self._missing):
            listed = self._cloudfront.list_invalidations(DistributionId=self.distribution_id)["InvalidationList"]
            items = listed.get("Items") or []
            if not items:
                return None
            newest = max(items, key=lambda item: item["CreateTime"])
            got = self._cloudfront.get_invalidation(DistributionId=self.distribution_id, Id=newest["Id"])
        return str(got["Invalidation"]["InvalidationBatch"]["CallerReference"])

    def invalidate(self, paths: list[str], reference: str) -> str:
        """Create an invalidation of ``paths`` (``reference`` makes a retried request idempotent); its ID."""
        doing = f"invalidating {len(paths)} path(s) on distribution {excerpt(self.distribution_id, 40)}"
        with self.connection.translated(doing, missing=self._missing):
            made = self._cloudfront.create_invalidation(
                DistributionId=self.distribution_id,
                InvalidationBatch={"Paths": {"Quantity": len(paths), "Items": paths}, "CallerReference": reference},
            )
        return str(made["Invalidation"]["Id"])
