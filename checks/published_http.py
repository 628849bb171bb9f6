"""HTTP transport for the published document: bounded retries, timeouts, a size cap, strict status handling.

:func:`fetch_bytes` returns the body of a 200 response served as ``application/json`` or raises one of the
:mod:`smtp_egress.checks.published_errors` classes. Retries (with the injectable ``sleep``) cover 5xx, 429 (honouring
Retry-After up to a cap), timeouts, refused or reset connections and truncated bodies; other 4xx fail at once.

Redirects are followed as :mod:`.published_redirects` allows (never to a non-public address). A body that is not
the document is never quoted (an error or login page may hold credentials): its size, type and kind are named.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import time

import requests
import urllib3.exceptions

import smtp_egress
from smtp_egress.dates import UTC
from smtp_egress.masking import excerpt

from .published_body import describe_body, kind_of
from .published_errors import (
    BodyTooLarge,
    ConnectionFailed,
    FetchTimeout,
    HTTPStatusError,
    RetryAfterTooLong,
    TruncatedBody,
    WrongContentType,
)
from .published_redirects import REDIRECTS, guarded_get

BACKOFF = 0.5  # seconds before the 2nd attempt; doubles for each further attempt
CHUNK = 65536


def fetch_bytes(
    session: requests.Session,
    source: str,
    *,
    timeout: float,
    attempts: int,
    max_bytes: int,
    max_retry_after: float,
    sleep,
) -> tuple[bytes, str]:
    """(body, Content-Type) of a 200 response; a non-empty body must be served as application/json."""
    body, ctype = _fetch_http(session, source, timeout, max(1, attempts), max_bytes, max_retry_after, sleep)
    if body.strip():
        _check_content_type(body, ctype, source)
    return body, ctype


class _Retry(Exception):
    """One attempt failed in a way that may pass on retry; raised as ``cls`` once attempts run out."""

    def __init__(self, cls, detail: str, outcome: str, wait: float | None = None, **kw):
        super().__init__(detail)
        self.cls, self.detail, self.outcome, self.wait, self.kw = cls, detail, outcome, wait, kw


def _fetch_http(session, source, timeout, attempts, max_bytes, max_retry_after, sleep) -> tuple[bytes, str]:
    outcomes: list[str] = []
    for attempt in range(1, attempts + 1):
        try:
            return _attempt(session, source, timeout, max_bytes, max_retry_after)
        except _Retry as failed:
            outcomes.append(failed.outcome)
            if attempt == attempts:
                tried = f"{attempts} attempts" if attempts > 1 else "1 attempt"
                detail = f"{failed.detail} (gave up after {tried}: {', '.join(outcomes)})"
                raise failed.cls(source, detail, **failed.kw) from None
            sleep(failed.wait if failed.wait is not None else BACKOFF * 2 ** (attempt - 1))
    raise AssertionError("unreachable")


def _attempt(session, source, timeout, max_bytes, max_retry_after) -> tuple[bytes, str]:
    headers = {"Accept": "application/json", "User-Agent": f"smtp-egress/{smtp_egress.__version__}"}
    try:
        with guarded_get(session, source, headers=headers, timeout=(timeout, timeout)) as resp:
            return _answer(resp, source, timeout, max_bytes, max_retry_after)
    except requests.RequestException as exc:
        cls, outcome, detail = _transport(exc, timeout)
        if cls is None:
            raise ConnectionFailed(source, f"the request could not be made ({type(exc).__name__})") from None
        raise _Retry(cls, detail, outcome) from None


def _answer(resp, source, timeout, max_bytes, max_retry_after) -> tuple[bytes, str]:
    status = resp.status_code
    if status == 200:
        return _read_body(resp, source, max_bytes, timeout), resp.headers.get("Content-Type", "")
    try:
        head = next(resp.iter_content(4096), b"")
    except requests.RequestException:
        head = b""
    seen = f"HTTP {status} {excerpt(resp.reason or '', 60)[1:-1]}".rstrip() + f", {describe_body(head, resp)}"
    if status == 429:
        header = resp.headers.get("Retry-After")
        wait = _retry_after(header)
        if wait is not None and wait > max_retry_after:
            raise RetryAfterTooLong(
                source,
                f"{seen}: Retry-After {excerpt(header, 40)} asks to wait {wait:.0f}s, "
                f"longer than the {max_retry_after:g}s cap; not waiting",
            )
        raise _Retry(HTTPStatusError, seen, "429", wait, status=status)
    if status >= 500:
        raise _Retry(HTTPStatusError, seen, str(status), status=status)
    if status in REDIRECTS:
        raise HTTPStatusError(source, f"{seen}: a redirect without a Location", status=status)
    raise HTTPStatusError(source, f"{seen} (not retried: a {status} does not go away by retrying)", status=status)


# The whole body must arrive within this many read timeouts: a server that trickles one byte per
# read timeout would otherwise hold the daily job for hours.
BODY_DEADLINE_FACTOR = 3


def _read_body(resp, source, max_bytes, timeout) -> bytes:
    declared = resp.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise BodyTooLarge(
            source, f"Content-Length {declared} is larger than the {max_bytes}-byte limit; the body was not read"
        )
    chunks, size = [], 0
    deadline = time.monotonic() + BODY_DEADLINE_FACTOR * timeout
    try:
        for chunk in _arriving(resp.raw):
            if time.monotonic() > deadline:
                raise _Retry(
                    FetchTimeout,
                    f"the body took longer than {BODY_DEADLINE_FACTOR * timeout:g}s to arrive "
                    f"({size} bytes so far): a server trickling its answer",
                    "timeout",
                )
            size += len(chunk)
            if size > max_bytes:
                raise BodyTooLarge(
                    source, f"the body is larger than the {max_bytes}-byte limit (stopped reading at {size} bytes)"
                )
            chunks.append(chunk)
    except requests.RequestException as exc:
        cls, outcome, detail = _transport(exc, timeout)
        if cls in (TruncatedBody, ConnectionFailed, None):
            size = max([size, *(n for e in _causes(exc) if isinstance(n := getattr(e, "partial", None), int))])
            of = f" of the {declared} announced by Content-Length" if declared else ""
            cls, outcome, detail = (
                TruncatedBody,
                "truncated",
                f"the connection closed after {size} bytes{of}: truncated body",
            )
        raise _Retry(cls, detail, outcome) from None
    return b"".join(chunks)


def _arriving(raw):
    """Chunks as they arrive (``iter_content`` blocks until a whole chunk is in, so a trickle would
    never reach the deadline check), with urllib3's errors mapped as ``iter_content`` maps them."""
    while True:
        try:
            chunk = raw.read1(CHUNK, decode_content=True)
        except urllib3.exceptions.ProtocolError as exc:
            raise requests.exceptions.ChunkedEncodingError(exc) from exc
        except urllib3.exceptions.DecodeError as exc:
            raise requests.exceptions.ContentDecodingError(exc) from exc
        except urllib3.exceptions.ReadTimeoutError as exc:
            raise requests.exceptions.ConnectionError(exc) from exc
        except urllib3.exceptions.SSLError as exc:
            raise requests.exceptions.SSLError(exc) from exc
        if not chunk:
            return
        yield chunk


def _causes(exc: BaseException) -> list[BaseException]:
    """``exc`` and everything it wraps (causes, contexts, exception arguments, urllib3 ``reason``)."""
    out: list[BaseException] = []
    todo = [exc]
    while todo and len(out) < 20:
        e = todo.pop()
        if any(e is o for o in out):
            continue
        out.append(e)
        nested = [e.__cause__, e.__context__, getattr(e, "reason", None), *getattr(e, "args", ())]
        todo += [n for n in nested if isinstance(n, BaseException)]
    return out


def _transport(exc: requests.RequestException, timeout: float):
    """(error class, short outcome, detail) for a transport failure; class None if retrying cannot help."""
    causes = _causes(exc)
    unresolved = [e for e in causes if isinstance(e, urllib3.exceptions.NameResolutionError)]
    if unresolved:  # a NewConnectionError too (below): tell it first
        return ConnectionFailed, "name not resolved", f"the host name did not resolve ({_root(unresolved[0])})"
    # urllib3's NewConnectionError (refused, unreachable) subclasses its ConnectTimeoutError: not a timeout.
    chain = [e for e in causes if not isinstance(e, urllib3.exceptions.NewConnectionError)]

    def has(*types):
        return any(isinstance(e, types) for e in chain)

    if has(requests.Timeout, urllib3.exceptions.TimeoutError, TimeoutError):
        phase = (
            "connecting"
            if has(requests.ConnectTimeout, urllib3.exceptions.ConnectTimeoutError)
            else "waiting for the response"
        )
        return FetchTimeout, "timeout", f"timed out {phase} ({timeout:g}s connect/read timeout)"
    if has(ConnectionRefusedError):
        return (
            ConnectionFailed,
            "connection refused",
            "the connection was refused (is anything listening on that host and port?)",
        )
    if has(urllib3.exceptions.IncompleteRead):
        return TruncatedBody, "truncated", "the connection closed before the whole body arrived: truncated body"
    if has(ConnectionResetError, ConnectionAbortedError, urllib3.exceptions.ProtocolError):
        return ConnectionFailed, "connection reset", "the connection was reset or closed without a response"
    if isinstance(
        exc,
        (
            requests.exceptions.InvalidURL,
            requests.exceptions.TooManyRedirects,
            requests.exceptions.InvalidSchema,
            requests.exceptions.MissingSchema,
        ),
    ):
        return None, "", ""
    return ConnectionFailed, "connection failed", f"the connection failed: {_root(exc)}"


def _root(exc: BaseException) -> str:
    """What went wrong at the bottom of ``exc``'s chain, whole (the outer layers only repeat it with object
    reprs around it): e.g. ``gaierror: [Errno -2] Name or service not known``."""
    seen = [exc]
    while len(seen) < 20:
        e = seen[-1]
        nested = [n for n in (e.__cause__, getattr(e, "reason", None), e.__context__) if isinstance(n, BaseException)]
        if not nested or any(nested[0] is s for s in seen):
            break
        seen.append(nested[0])
    root = seen[-1]
    return " ".join(f"{type(root).__name__}: {root}".split())


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait per a Retry-After header (delta-seconds or HTTP-date); None if absent or unreadable."""
    value = (value or "").strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - dt.datetime.now(UTC)).total_seconds())


def _check_content_type(body: bytes, ctype: str, source: str) -> None:
    media = ctype.split(";")[0].strip().lower()
    if media == "application/json":
        return
    raise WrongContentType(
        source,
        f"served as {excerpt(ctype or 'no Content-Type', 60)} instead of application/json: {len(body)} bytes with "
        f"status 200, {kind_of(body, media)}",
    )
