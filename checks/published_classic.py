"""A region's list as another system publishes it: the classic shape, or a document of ours.

The classic endpoint (``GET /v1/info/ip_addresses``, one region per host) serves ``{"ip_addresses": [...]}``
and nothing else. :func:`fetch_published_list` reads a source with the same strict, bounded fetch as the daily
job (:func:`smtp_egress.checks.published.fetch_source`) and accepts either

- the classic shape: a JSON object whose only key is ``ip_addresses``, a non-empty list of global addresses
  (IPv4 or IPv6), none twice. Any other key is refused: a list with extra fields is not the classic shape,
  and reading only part of a document we do not know could hide what it says. It names no region: the
  caller's region is taken on trust, so point it at the region's own host;
- a document of ours (it has ``region``), validated exactly as ``egress notify`` validates it.

Anything else (an HTML page, an empty body, malformed JSON, an empty or invalid list) raises one of the
:mod:`smtp_egress.checks.published_errors` classes (exit code 3), as the daily job does.
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import TYPE_CHECKING, Any

from smtp_egress.masking import mask_url

from .published import PublishedDocument, check_addresses, decode_json, empty_list, fetch_source, validate_document
from .published_errors import SchemaViolation

if TYPE_CHECKING:
    from smtp_egress.plan import IPAddress

CLASSIC, DOCUMENT = "classic", "document"


@dataclasses.dataclass(frozen=True)
class PublishedList:
    """What a source publishes for a region, whichever shape it has."""

    source: str  # as messages may show it (credentials masked)
    region: str
    shape: str  # CLASSIC | DOCUMENT
    addresses: tuple[IPAddress, ...]  # parsed, in the source's order
    sha256: str  # SHA-256 of the exact bytes read (hex): what was fetched, for the record
    document: PublishedDocument | None = None  # a document of ours: all of it


def fetch_published_list(source: str, region: str, **fetch_options: Any) -> PublishedList:
    """Fetch ``source`` (an http(s) URL or a file; options as :func:`fetch_source`) and parse it as
    :func:`parse_published_list` does; raise PublishedUnusable."""
    got = fetch_source(source, **fetch_options)
    return parse_published_list(got.body, source, region, content_type=got.content_type, is_file=got.is_file)


def parse_published_list(
    body: bytes, source: str, region: str, *, content_type: str | None = None, is_file: bool = False
) -> PublishedList:
    """The list in ``body``: the classic shape, or a document of ours (it has ``region``)."""
    digest = hashlib.sha256(body).hexdigest()
    doc = decode_json(body, source, content_type=content_type, is_file=is_file)
    if isinstance(doc, dict) and "region" in doc:
        ours = validate_document(doc, source, region, is_file=is_file)
        return PublishedList(mask_url(source), region, DOCUMENT, ours.addresses, digest, ours)
    return PublishedList(mask_url(source), region, CLASSIC, _classic(doc, source, is_file), digest)


def _classic(doc: object, source: str, is_file: bool) -> tuple[IPAddress, ...]:
    def violation(detail: str) -> SchemaViolation:
        return SchemaViolation(
            source,
            f"{detail}; the classic shape is an object holding only 'ip_addresses' (a list of addresses), and a "
            "document of ours also has 'region', 'sha256' and the other fields of ip_addresses.schema.json",
            is_file=is_file,
        )

    if not isinstance(doc, dict):
        raise violation(f"the body is a JSON {_json_type(doc)}, not an object")
    if "ip_addresses" not in doc:
        keys = ", ".join(repr(k[:40]) for k in list(doc)[:5]) or "none"
        raise violation(f"the object has no 'ip_addresses' (its keys: {keys})")
    extra = [k for k in doc if k != "ip_addresses"]
    if extra:
        shown = ", ".join(repr(k[:40]) for k in extra[:5]) + (" ..." if len(extra) > 5 else "")
        raise violation(f"the object has keys besides 'ip_addresses' ({shown}) and no 'region'")
    items = doc["ip_addresses"]
    if not isinstance(items, list):
        raise violation(f"'ip_addresses' is a JSON {_json_type(items)}, not a list")
    if not items:
        raise empty_list(source, is_file=is_file)
    for i, item in enumerate(items):
        if not isinstance(item, str):
            raise violation(f"ip_addresses[{i}] is a JSON {_json_type(item)}, not a string")
    return check_addresses(items, source, is_file=is_file)


def _json_type(value: object) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", int: "number", float: "number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)
