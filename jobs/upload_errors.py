"""Why ``egress publish --upload`` stopped: one exception class per failure kind.

Each message names the target (``s3://BUCKET/PREFIX``), the endpoint when one was given, what the storage or the
CDN answered (its error code, never a credential: AWS error messages carry none, and the target's URL has no user
part) and what to do. Nothing is deleted before the new objects are in place, so after any of these the bucket
holds the previous tree, or the new objects uploaded so far beside it: a rerun completes the upload.

Exit 2 (configuration: the target, the credentials or the permissions are wrong; a rerun fails the same way):
:class:`BadTarget`, :class:`BucketMissing`, :class:`AccessDenied`, :class:`NoCredentials`,
:class:`DistributionMissing`, :class:`SimulationNotUploaded`. Exit 3 (the list could not be published this time):
:class:`EndpointUnreachable`, :class:`StorageFailed`, :class:`InvalidUpload`.
"""

from __future__ import annotations

from smtp_egress.errors import ConfigError, PublishedUnusable

RERUN = "objects already uploaded stay in place and nothing was deleted; rerun to complete the upload"


class UploadError(PublishedUnusable):
    """Base of the failures of an upload that a rerun can get past (exit 3)."""


class EndpointUnreachable(UploadError):
    """The S3 or CloudFront endpoint could not be reached (connection refused or reset, a timeout), after retries."""


class StorageFailed(UploadError):
    """The storage or the CDN answered with an error that is not about the configuration (5xx after retries)."""


class InvalidUpload(UploadError):
    """What would be uploaded is not a valid published tree (it would fail the daily job's own strict parser)."""


class UploadConfigError(ConfigError):
    """Base of the failures that the target, the credentials or the permissions cause (exit 2)."""


class BadTarget(UploadConfigError):
    """The upload target is not ``s3://BUCKET[/PREFIX]``, or it holds another region's documents."""


class BucketMissing(UploadConfigError):
    """The bucket does not exist (at the endpoint used)."""


class AccessDenied(UploadConfigError):
    """The credentials are refused (unknown key, bad signature) or lack a permission the upload needs."""


class NoCredentials(UploadConfigError):
    """No AWS credentials were found (environment, shared config files, the container's or instance's role)."""


class DistributionMissing(UploadConfigError):
    """The CloudFront distribution given to ``--invalidate`` does not exist."""


class SimulationNotUploaded(UploadConfigError):
    """The ledger is a simulation: its documents say ``"simulated": true`` and must never reach customers."""
