"""The daily task's publish step into a folder: the region's static tree, as ``egress publish --static-dir``
lays it out (``<region>/v1/info/ip_addresses``, ``.txt``, ``.sig`` with a key, the region's changes feed) and
``headers.json`` last, each file written atomically.

It honours :attr:`~smtp_egress.jobs.daily.PublishRequest.keep_listed`: the region's document and ``.txt`` are
rendered from :func:`smtp_egress.addresses.listed_while_attached`, so an address the gateways still hold stays
listed; the changes feed says what was announced, as always. The uploader to the publisher bucket
(:class:`~smtp_egress.jobs.daily_upload.S3Publisher`) renders the same files with the same function
(:func:`~smtp_egress.jobs.publish.region_static_files`).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING

from smtp_egress.files import write_atomic

from .daily import Published, PublishRequest
from .publish import HEADERS, load_state, region_static_files

if TYPE_CHECKING:
    import datetime as dt

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from smtp_egress.ledger_location import LedgerLocation


def region_files(
    plan_path: str,
    db_url: LedgerLocation | str,
    region: str,
    moment: dt.datetime,
    base_url: str,
    keep_listed: frozenset[str],
    key: Ed25519PrivateKey | None = None,
) -> tuple[dict[str, tuple[bytes, str]], tuple[str, ...]]:
    """The region's files (path -> (bytes, Content-Type)) and the addresses its list holds."""
    from smtp_egress.document import document_path

    state = load_state(plan_path, db_url, region=region)
    files = region_static_files(state, region, moment, base_url, keep_listed, key)
    listed = tuple(json.loads(files[document_path(region)][0])["ip_addresses"])
    return files, listed


@dataclasses.dataclass(frozen=True)
class DirectoryPublisher:
    """Publish into ``root`` (what a CDN or a web server serves); ``base_url``: where it is served."""

    plan_path: str
    db_url: LedgerLocation | str
    root: Path
    base_url: str
    key: Ed25519PrivateKey | None = None

    def __call__(self, request: PublishRequest) -> Published:
        from smtp_egress.document import CACHE_CONTROL

        files, listed = region_files(
            self.plan_path, self.db_url, request.region, request.moment, self.base_url, request.keep_listed, self.key
        )
        changed = []
        for rel, (data, _) in sorted(files.items()):
            path = self.root / rel
            if not path.is_file() or path.read_bytes() != data:
                write_atomic(path, data, make_parents=True)
                changed.append(rel)
        headers = {rel: {"Content-Type": ctype, "Cache-Control": CACHE_CONTROL} for rel, (_, ctype) in files.items()}
        write_atomic(self.root / HEADERS, (json.dumps(headers, indent=2, sort_keys=True) + "\n").encode())
        return Published(listed, str(self.root), tuple(changed))
