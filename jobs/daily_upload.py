"""The daily task's publish step to the publisher bucket: what customers fetch (``egress daily --upload``).

:class:`S3Publisher` is the :class:`~smtp_egress.jobs.daily.Publisher` of the Fargate task. Each call renders the
region's tree once, with the daily step's hold rule (:attr:`~smtp_egress.jobs.daily.PublishRequest.keep_listed`:
an address the gateways still hold stays listed; :func:`~smtp_egress.jobs.publish.region_static_files`, the
function the folder publisher renders with), checks it (:func:`~smtp_egress.jobs.publish_upload.render_tree`: the
daily job's strict parser, never an empty list, never a simulation), and uploads exactly those bytes
(:func:`~smtp_egress.jobs.publish_upload.upload_tree`: only what changed, make before break, then the CloudFront
invalidation). A failure raises an :mod:`~smtp_egress.jobs.upload_errors` class (exit 2 or 3), which stops the
daily run before the gateways change.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from .daily import Published, PublishRequest

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from smtp_egress.ledger_location import LedgerLocation

    from .publish_upload import UploadResult, UploadTarget


@dataclasses.dataclass
class S3Publisher:
    """Upload the region's tree to ``target`` (``s3://BUCKET/<region>``, with its distribution to invalidate);
    ``base_url``: the region's public host (links of the feed). ``results``: every upload's result, in order."""

    plan_path: str
    db_url: LedgerLocation | str
    target: UploadTarget
    base_url: str
    key: Ed25519PrivateKey | None = None
    session: Any = None  # a boto3 Session (default: a new one from the environment)
    results: list[UploadResult] = dataclasses.field(default_factory=list)

    def __call__(self, request: PublishRequest) -> Published:
        from .publish import PublishInputs
        from .publish_upload import UploadInputs, render_tree, upload_tree

        inputs = UploadInputs(
            PublishInputs(self.plan_path, self.db_url, request.moment),
            request.region,
            self.target,
            self.base_url,
            self.key,
            keep_listed=request.keep_listed,
        )
        tree, doc = render_tree(inputs)
        result = upload_tree(inputs, tree, doc, session=self.session)
        self.results.append(result)
        listed = tuple(str(ip) for ip in doc.raw["ip_addresses"])
        return Published(listed, result.target, result.uploaded)
