"""Check published documents against their Ed25519 signatures, as a customer or an uploader would.

:func:`verify_published` takes a source and the platform's public key:

* a static tree (``egress publish --static-dir``): every ``<region>/v1/info/ip_addresses`` in it;
* a document file: the file and ``FILE.sig`` beside it;
* an http(s) URL: the document and the signature at the same URL with ``.sig`` appended to its path
  (``https://HOST/v1/info/ip_addresses?region=us`` -> ``https://HOST/v1/info/ip_addresses.sig?region=us``).

Each signature must be the raw 64-byte Ed25519 signature of the document's exact bytes, and each signed
document must be a valid published document (schema, addresses, its ``sha256``; in a tree, the region of its
folder). It returns a :class:`SignedDocument` per document, or raises: :class:`SignatureMissing` (nothing to
check against), :class:`SourceUnreadable` (a fetch or read failed), :class:`InvalidDocument` (signed, but not a
valid document) or :class:`~smtp_egress.signing.VerificationFailed` (a signature does not match); all exit 3.
"""

from __future__ import annotations

import dataclasses
import json
import urllib.parse
from pathlib import Path
from typing import TYPE_CHECKING

from smtp_egress.signing import SIGNATURE_SUFFIX, VerificationFailed

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

MAX_BYTES = 1_048_576
TIMEOUT = 10.0


class SignatureMissing(VerificationFailed):
    """A document has no signature beside it: it is not signed, or its signature was not uploaded."""


class SourceUnreadable(VerificationFailed):
    """A document or its signature could not be read (a missing file, an HTTP error, a timeout)."""


class InvalidDocument(VerificationFailed):
    """The signature matches, but what was signed is not a valid published document (or not the tree's region)."""


@dataclasses.dataclass(frozen=True)
class SignedDocument:
    source: str  # the document's path or URL
    signature: str  # where its signature was read
    region: str
    addresses: int
    sha256: str  # of the .txt form, as the signed document states it


def verify_published(source: str, public_key: Ed25519PublicKey) -> list[SignedDocument]:
    """Every document of ``source`` checked against its signature (see the module docstring)."""
    from smtp_egress.document import BASE_PATH

    if urllib.parse.urlsplit(source).scheme.lower() in ("http", "https"):
        sig_url = _signature_url(source)
        return [_check(source, _get(source), sig_url, _get(sig_url, signature=True), public_key)]
    path = Path(source)
    if path.is_dir():
        docs = sorted(p for p in path.glob(f"*{BASE_PATH}") if p.is_file())
        if not docs:
            raise SourceUnreadable(f"{source!r} holds no <region>{BASE_PATH}: it is not a tree egress publish wrote")
        return [_check_file(doc, public_key, region=doc.relative_to(path).parts[0]) for doc in docs]
    return [_check_file(path, public_key)]


def _check_file(path: Path, public_key: Ed25519PublicKey, region: str | None = None) -> SignedDocument:
    sig = Path(f"{path}{SIGNATURE_SUFFIX}")
    if not sig.is_file() and path.is_file():
        raise SignatureMissing(f"{str(path)!r} has no signature {str(sig)!r} beside it: it is not signed")
    return _check(str(path), _read(path), str(sig), _read(sig), public_key, region)


def _check(
    source: str,
    body: bytes,
    sig_source: str,
    signature: bytes,
    public_key: Ed25519PublicKey,
    region: str | None = None,
) -> SignedDocument:
    from smtp_egress.checks.published import parse_published
    from smtp_egress.checks.published_errors import PublishedError
    from smtp_egress.masking import mask_url
    from smtp_egress.signing import verify

    verify(public_key, body, signature, mask_url(source))
    try:
        named = json.loads(body).get("region")
    except (ValueError, AttributeError):
        named = None
    try:
        doc = parse_published(body, source, region or str(named))
    except PublishedError as exc:
        raise InvalidDocument(
            f"{mask_url(source)}: the signature matches, but the document is not valid: {exc.detail}"
        ) from None
    return SignedDocument(mask_url(source), mask_url(sig_source), doc.region, len(doc.addresses), doc.sha256)


def _signature_url(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(path=parts.path + SIGNATURE_SUFFIX, fragment=""))


def _read(path: Path) -> bytes:
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_BYTES + 1)
    except OSError as exc:
        raise SourceUnreadable(f"cannot read {str(path)!r}: {exc.strerror or exc}") from None
    if len(data) > MAX_BYTES:
        raise SourceUnreadable(f"{str(path)!r} is larger than {MAX_BYTES} bytes: not a published document")
    return data


def _get(url: str, *, signature: bool = False) -> bytes:
    """The body at ``url``, following redirects as the daily job's fetch does (never to a non-public address)."""
    import requests

    from smtp_egress.checks.published_errors import PublishedError
    from smtp_egress.checks.published_redirects import guarded_get
    from smtp_egress.masking import mask_url, scrub

    shown = mask_url(url)
    try:
        with requests.Session() as session, guarded_get(session, url, headers={}, timeout=TIMEOUT) as response:
            if signature and response.status_code in (403, 404):  # S3 behind CloudFront answers 403 for a missing key
                raise SignatureMissing(
                    f"{shown} answered HTTP {response.status_code}: the document is not signed, or its signature "
                    "was not uploaded"
                )
            if response.status_code != 200:
                raise SourceUnreadable(f"{shown} answered HTTP {response.status_code} {response.reason}")
            data = response.raw.read(MAX_BYTES + 1, decode_content=True)
    except PublishedError as exc:  # a redirect that must not be followed
        raise SourceUnreadable(f"cannot fetch {shown}: {exc.detail}") from None
    except requests.RequestException as exc:
        raise SourceUnreadable(f"cannot fetch {shown}: {type(exc).__name__}: {scrub(str(exc), url)}") from None
    if len(data) > MAX_BYTES:
        raise SourceUnreadable(f"{shown} sent more than {MAX_BYTES} bytes: not a published document")
    return data
