"""Fetch the currently published IP-list document and validate it strictly.

:func:`fetch_published` reads an http(s) URL (bounded retries, timeouts, a size cap) or a local file
(a path or a ``file://`` URL) and returns a :class:`PublishedDocument` only if every check passes.
Anything else raises one of the :mod:`smtp_egress.checks.published_errors` classes (exit code 3): a failed fetch,
an HTML error page or an empty list is never read as "these addresses were removed". Its parts serve the
classic shape too (:mod:`smtp_egress.checks.published_classic`): :func:`fetch_source` (the bytes),
:func:`decode_json` and :func:`check_addresses`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import json
import time
import urllib.parse
import urllib.request
from typing import TYPE_CHECKING, Any, cast

import jsonschema

from smtp_egress.dates import parse_rfc3339
from smtp_egress.document import RegionDocument, UpcomingEntry, list_sha256, load_schema
from smtp_egress.limits import MAX_JSON_DEPTH, json_too_deep
from smtp_egress.masking import excerpt, mask_url, printable, shorten
from smtp_egress.plan import IPAddress, parse_address

from .published_errors import (
    BodyTooLarge,
    ChecksumMismatch,
    DuplicateAddress,
    EmptyBody,
    EmptyList,
    InvalidAddress,
    MalformedJSON,
    SchemaViolation,
    SourceUnreadable,
    UnsupportedSource,
    WrongRegion,
)

if TYPE_CHECKING:
    import requests


@dataclasses.dataclass(frozen=True)
class PublishedDocument:
    source: str  # the URL or path, as messages may show it (credentials masked)
    region: str
    addresses: tuple[IPAddress, ...]  # parsed, in document order
    sync_token: str
    created_at: dt.datetime  # aware UTC
    sha256: str
    notice_days: int
    upcoming: tuple[UpcomingEntry, ...]
    raw: RegionDocument  # as parsed, after every check passed


def fetch_published(source: str, region: str, **options: Any) -> PublishedDocument:
    """Fetch and validate ``region``'s published document from a URL or a file (``options`` as
    :func:`fetch_source`: timeout, attempts, max_bytes, max_retry_after, sleep, session); raise PublishedUnusable."""
    got = fetch_source(source, **options)
    return parse_published(got.body, source, region, content_type=got.content_type, is_file=got.is_file)


@dataclasses.dataclass(frozen=True)
class Fetched:
    """The bytes read from a source, before any parsing."""

    body: bytes
    content_type: str | None  # None for a file
    is_file: bool


def fetch_source(
    source: str,
    *,
    timeout: float = 10.0,
    attempts: int = 4,
    max_bytes: int = 1_048_576,
    max_retry_after: float = 60.0,
    sleep=time.sleep,
    session: requests.Session | None = None,
) -> Fetched:
    """The bytes of an http(s) URL (bounded retries, timeouts, a size cap; a non-empty body must be served
    as application/json) or of a local file (a path or a ``file://`` URL); raise PublishedUnusable."""
    try:
        parts = urllib.parse.urlsplit(source)
        _ = parts.port  # a port that is not a number raises here
    except ValueError:  # its message would quote a piece of the URL: a password holding "/" is cut there
        raise UnsupportedSource(
            source,
            "the URL does not parse (is the port a number? are / # ? @ % : in a user name or password "
            "percent-encoded, e.g. %2F for /?)",
        ) from None
    scheme = parts.scheme.lower()
    if scheme in ("http", "https"):
        import requests  # here, not at the top: reading a file (egress synth --published) needs no HTTP client

        from .published_http import fetch_bytes

        own = session is None
        session = session or requests.Session()
        try:
            body, ctype = fetch_bytes(
                session,
                source,
                timeout=timeout,
                attempts=attempts,
                max_bytes=max_bytes,
                max_retry_after=max_retry_after,
                sleep=sleep,
            )
        finally:
            if own:
                session.close()
        return Fetched(body, ctype, False)
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise UnsupportedSource(
                source, f"file URL names host {excerpt(parts.hostname, 60)}; only local files can be read", is_file=True
            )
        path = urllib.request.url2pathname(parts.path)
    elif "://" in source:
        raise UnsupportedSource(
            source, f"scheme {excerpt(scheme, 30)} is not supported; use an http(s) URL or a file path"
        )
    else:
        path = source
    try:
        with open(path, "rb") as f:
            body = f.read(max_bytes + 1)
    except OSError as exc:
        raise SourceUnreadable(source, f"cannot read the file: {exc.strerror or exc}", is_file=True) from None
    if len(body) > max_bytes:
        raise BodyTooLarge(source, f"the file is larger than the {max_bytes}-byte limit", is_file=True)
    return Fetched(body, None, True)


@functools.cache
def _validator() -> jsonschema.protocols.Validator:
    schema = load_schema()
    return jsonschema.validators.validator_for(schema)(schema)


def _is_address_entry(path: list[object]) -> bool:
    """``$.ip_addresses[i]`` or ``$.upcoming[i].ip``: where the schema checks that a string is an IP address."""
    return (len(path) == 2 and path[0] == "ip_addresses") or (len(path) == 3 and path[::2] == ["upcoming", "ip"])


def _object(pairs):
    out = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"key {excerpt(key, 40)} appears twice in one object")
        out[key] = value
    return out


def parse_published(
    body: bytes, source: str, region: str, *, content_type: str | None = None, is_file: bool = False
) -> PublishedDocument:
    """Validate a document's bytes strictly (JSON, schema, region, addresses, sha256); raise PublishedUnusable."""
    doc = decode_json(body, source, content_type=content_type, is_file=is_file)
    return validate_document(doc, source, region, is_file=is_file)


def decode_json(body: bytes, source: str, *, content_type: str | None = None, is_file: bool = False) -> object:
    """The JSON value of a non-empty UTF-8 body in which no object repeats a key; raise PublishedUnusable."""
    if not body.strip():
        served = f" (HTTP 200, Content-Type {excerpt(content_type, 60)})" if content_type is not None else ""
        raise EmptyBody(source, f"the document is empty: {len(body)} bytes{served}", is_file=is_file)
    try:
        text = body.decode("utf-8")
        if json_too_deep(text):  # json.loads would recurse, and so would every repr of what it built
            detail = f"JSON nested deeper than {MAX_JSON_DEPTH} levels, {len(body)} bytes; the document nests 3"
        else:
            return json.loads(text, object_pairs_hook=_object)
    except UnicodeDecodeError as exc:
        detail = f"the body is not UTF-8 text ({exc.reason} at byte {exc.start} of {len(body)})"
    except json.JSONDecodeError as exc:
        at = len(exc.doc[: exc.pos].encode())
        detail = f"truncated or malformed JSON at byte {at} of {len(body)} ({exc.msg})"
    except (ValueError, RecursionError) as exc:
        detail = f"malformed JSON ({shorten(str(exc), 200) or 'nested too deeply'}), {len(body)} bytes"
    raise MalformedJSON(source, detail, is_file=is_file)


def empty_list(source: str, *, is_file: bool = False) -> EmptyList:
    return EmptyList(
        source,
        "'ip_addresses' is an empty list; a region always has addresses, so this is a broken "
        "publication, not the removal of every address",
        is_file=is_file,
    )


def check_addresses(items: list[str], source: str, *, is_file: bool = False) -> tuple[IPAddress, ...]:
    """The parsed addresses of ``ip_addresses``, in order: each a global address, none twice."""
    seen: dict[IPAddress, int] = {}
    for i, text in enumerate(items):
        try:
            ip = parse_address(text)
        except ValueError as exc:
            raise InvalidAddress(source, f"ip_addresses[{i}] {excerpt(text, 64)} {exc}", is_file=is_file) from None
        if ip in seen:
            j = seen[ip]
            raise DuplicateAddress(
                source,
                f"ip_addresses[{i}] {excerpt(text, 64)} duplicates ip_addresses[{j}] {excerpt(items[j], 64)}",
                is_file=is_file,
            )
        seen[ip] = i
    return tuple(seen)


def validate_document(doc: object, source: str, region: str, *, is_file: bool = False) -> PublishedDocument:
    """Check a decoded document against the schema, ``region``, its addresses and its sha256."""

    def fail(cls, detail: str):
        return cls(source, detail, is_file=is_file)

    if not isinstance(doc, dict):
        raise fail(SchemaViolation, f"the document is a JSON {type(doc).__name__}, not an object with 'ip_addresses'")
    if doc.get("ip_addresses") == []:
        raise empty_list(source, is_file=is_file)
    if set(doc) == {"ip_addresses"}:
        raise fail(
            SchemaViolation,
            "this is the classic shape {\"ip_addresses\": [...]}, without 'region', 'sha256' and the other fields "
            "of our document, which is needed here (its sha256 shows a truncated list). A platform that publishes "
            "the classic list adopts it once (egress ledger adopt), then publishes our document from the ledger "
            "(egress publish or egress serve: its 'ip_addresses' is the same list)",
        )
    # Duplicates and entries that are not addresses get their own, more precise errors below (check_addresses).
    errors = [
        e
        for e in _validator().iter_errors(doc)
        if not (e.validator == "uniqueItems" and list(e.absolute_path) == ["ip_addresses"])
        and not (e.validator == "anyOf" and _is_address_entry(list(e.absolute_path)))
    ]
    if errors:
        first = min(errors, key=lambda e: [str(p) for p in e.absolute_path])
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        said = shorten(printable(first.message[:1000]), 300)
        raise fail(SchemaViolation, f"schema violation at {shorten(first.json_path, 100)}: {said}{more}")
    if doc["region"] != region:
        raise fail(WrongRegion, f"the document is for region {excerpt(doc['region'], 40)}, expected {region!r}")

    def moment(path: str, text: str, parse):
        try:
            return parse(text)
        except ValueError:
            raise fail(
                SchemaViolation, f"schema violation at $.{path}: {excerpt(text, 64)} is not a real date or time"
            ) from None

    addresses = check_addresses(doc["ip_addresses"], source, is_file=is_file)
    for i, u in enumerate(doc["upcoming"]):
        try:
            parse_address(u["ip"])
        except ValueError as exc:
            raise fail(InvalidAddress, f"upcoming[{i}].ip {excerpt(u['ip'], 64)} {exc}") from None
        moment(f"upcoming[{i}].effective", u["effective"], dt.date.fromisoformat)
        moment(f"upcoming[{i}].announced_at", u["announced_at"], parse_rfc3339)
    created_at = moment("created_at", doc["created_at"], parse_rfc3339)
    digest = list_sha256(doc["ip_addresses"])
    if digest != doc["sha256"]:
        raise fail(
            ChecksumMismatch,
            f"the list does not match its own sha256: truncated or altered (the document says "
            f"{doc['sha256']}, its {len(addresses)} addresses hash to {digest})",
        )
    valid = cast("RegionDocument", doc)  # every check above passed: it has the schema's shape
    return PublishedDocument(
        mask_url(source),
        region,
        addresses,
        valid["sync_token"],
        created_at,
        valid["sha256"],
        int(valid["notice_days"]),
        tuple(valid["upcoming"]),
        valid,
    )
