"""Why a published document could not be used: one exception class per failure kind.

Every class is a :class:`smtp_egress.errors.PublishedUnusable` (exit code 3). A caller must never read one
of these as "the addresses were removed": the document was not used. Each message names the source (its
credentials masked: :func:`smtp_egress.masking.mask_url`), says what was seen (a body that is not the document
is described, never quoted: it may hold credentials), and ends with what to do; it says nothing of notices,
which only ``egress notify`` sends (and says, then, that it sent nothing).
"""

from __future__ import annotations

from smtp_egress.errors import PublishedUnusable
from smtp_egress.masking import mask_url, scrub

URL_ADVICE = "the document was not used: fix the endpoint or pass --published FILE"
FILE_ADVICE = "the document was not used: fix the file or pass another --published FILE"


class PublishedError(PublishedUnusable):
    """Base of the failures below; ``source`` is the URL or path, ``detail`` what was seen."""

    def __init__(self, source: str, detail: str, *, is_file: bool = False):
        shown = mask_url(source)
        self.source = shown
        self.detail = scrub(detail, source)
        super().__init__(f"published list {shown}: {self.detail}; {FILE_ADVICE if is_file else URL_ADVICE}")


class UnsupportedSource(PublishedError):
    """The source is neither an http(s) URL, a file:// URL nor a path."""


class SourceUnreadable(PublishedError):
    """A local file could not be read (missing, a directory, no permission)."""


class HTTPStatusError(PublishedError):
    """The server answered with an error status (after retries for 5xx and 429; at once for other 4xx)."""

    def __init__(self, source: str, detail: str, *, status: int, **kw):
        self.status = status
        super().__init__(source, detail, **kw)


class RedirectRefused(PublishedError):
    """A redirect that must not be followed: to a non-public host, from https to http, not http(s), too many."""


class RetryAfterTooLong(PublishedError):
    """A 429 asked to wait longer than the cap: fail now rather than wait."""


class FetchTimeout(PublishedError):
    """Every attempt timed out (connecting or reading)."""


class ConnectionFailed(PublishedError):
    """Every attempt failed to connect or was reset."""


class TruncatedBody(PublishedError):
    """The connection closed before the whole body (per Content-Length) arrived, on every attempt."""


class BodyTooLarge(PublishedError):
    """The body is larger than ``max_bytes``; reading stopped there."""


class WrongContentType(PublishedError):
    """Not served as application/json (e.g. an HTML error or login page)."""


class EmptyBody(PublishedError):
    """The body is empty (or only white space)."""


class MalformedJSON(PublishedError):
    """The body is not valid JSON (truncated, malformed, not UTF-8, a key given twice)."""


class SchemaViolation(PublishedError):
    """The JSON does not match ``ip_addresses.schema.json`` (missing or extra field, bad value)."""


class EmptyList(PublishedError):
    """``ip_addresses`` is empty: never read as "every address was removed"."""


class WrongRegion(PublishedError):
    """The document is for another region than the one asked for."""


class InvalidAddress(PublishedError):
    """An entry is not an IP address, or not a global unicast address."""


class DuplicateAddress(PublishedError):
    """The same address appears twice (also when spelled differently, e.g. IPv6 case)."""


class ChecksumMismatch(PublishedError):
    """``sha256`` does not match the listed addresses: the list was truncated or altered."""
