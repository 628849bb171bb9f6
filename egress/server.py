"""The HTTP server for the published list: ``/v1/info/ip_addresses`` and friends, stdlib only.

Routes (GET and HEAD; any other method is 405):

- ``/v1/info/ip_addresses?region=R``: the region's JSON document (no ``region``: the default region)
- ``/v1/info/ip_addresses.txt?region=R``: the canonical address list, the bytes ``sha256`` covers
- ``/v1/info/ip_addresses/changes.json`` and ``/changes.atom``: every announced change, all regions
- ``/healthz``: 200 when the ledger can be read (503 otherwise); never rate limited

Every document is rendered per request from the plan and a fresh read of the ledger at the current
time, so a new announcement shows up without a restart. Responses carry a strong ``ETag``,
``Last-Modified`` and ``Cache-Control``; ``If-None-Match`` gives 304. (``If-Modified-Since`` is not
honoured: a plan edit can change a list without moving its ``created_at``, so only the ETag, a hash of
the exact bytes, can say "unchanged".) Each client IP gets a token bucket; over it the reply is 429 with
``Retry-After``. Errors are JSON bodies with a non-2xx status, never an HTML page a sync script could
mistake for a list. A client that disconnects before its answer is written (a reset, a closed socket) is one
log line, never a traceback; the listen backlog is :data:`LISTEN_BACKLOG`.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
import json
import math
import socket
import socketserver
import sys
import threading
import traceback
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import parse_qs, urlsplit

from .dates import parse_rfc3339, utc_now
from .document import (
    ATOM_TYPE,
    BASE_PATH,
    CACHE_CONTROL,
    JSON_TYPE,
    TEXT_TYPE,
    atom_feed,
    changes_document,
    changes_json_bytes,
    render,
)
from .errors import ConfigError
from .masking import excerpt, mask_url
from .plan import Plan
from .ratelimit import RateLimiter

if TYPE_CHECKING:
    from .ledger_location import LedgerLocation
    from .timeline import Announcement

DEFAULT_RATE = 10.0
LISTEN_BACKLOG = 128  # socketserver's default is 5: a burst of sync scripts would be refused at connect
GONE = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, TimeoutError)  # a client went away


def strong_etag(body: bytes) -> str:
    return f'"{hashlib.sha256(body).hexdigest()[:32]}"'


def http_date(moment: dt.datetime) -> str:
    return email.utils.format_datetime(moment.astimezone(dt.UTC).replace(microsecond=0), usegmt=True)


class Doc(NamedTuple):
    body: bytes
    content_type: str
    etag: str
    modified: dt.datetime


class Problem(Exception):
    """A request that gets a JSON error reply with ``status``."""

    def __init__(self, status: int, message: str):
        self.status = status
        super().__init__(message)


class Publisher:
    """Renders the documents from the plan and a fresh read of the ledger (one shared connection)."""

    def __init__(
        self,
        plan: Plan,
        ledger_url: LedgerLocation | str,
        default_region: str,
        base_url: str,
        clock: Callable[[], dt.datetime] = utc_now,
    ):
        from .ledger import Ledger

        plan.region(default_region)  # ConfigError naming it and the known regions
        self.plan, self.default_region, self.base_url, self.clock = plan, default_region, base_url, clock
        self.ledger = Ledger(ledger_url)
        try:
            self.simulated = self.ledger.simulation  # fixed at the ledger's creation: read once
        except BaseException:
            self.ledger.close()
            raise
        self._lock = threading.Lock()

    def announcements(self) -> dict[str, Announcement]:
        import sqlalchemy as sa

        with self._lock:
            try:
                return self.ledger.announcements()
            except sa.exc.SQLAlchemyError as exc:
                self.ledger.close()  # the next request reconnects
                raise Problem(503, f"the ledger cannot be read ({type(exc).__name__}); try again later") from None

    def region_doc(self, region: str | None, text: bool) -> Doc:
        region = region or self.default_region
        if region not in self.plan.regions:
            known = ", ".join(sorted(self.plan.regions))
            raise Problem(404, f"region {region!r} is not published here (regions: {known})")
        anns = self.announcements()
        rendered = render(self.plan, region, anns, self.clock(), simulated=self.simulated)
        if not rendered.document["ip_addresses"]:
            raise Problem(503, f"region {region!r} has no published address yet; refusing to serve an empty list")
        if text:
            return Doc(rendered.txt_bytes, TEXT_TYPE, strong_etag(rendered.txt_bytes), rendered.created_at)
        return Doc(rendered.json_bytes, JSON_TYPE, strong_etag(rendered.json_bytes), rendered.created_at)

    def changes_doc(self, atom: bool) -> Doc:
        anns = self.announcements()
        changes = changes_document(self.plan, anns, self.clock(), simulated=self.simulated)
        body = atom_feed(changes, self.base_url) if atom else changes_json_bytes(changes)
        return Doc(body, ATOM_TYPE if atom else JSON_TYPE, strong_etag(body), parse_rfc3339(changes["created_at"]))


class ReadOnlyHandler(BaseHTTPRequestHandler):
    """A handler of GET and HEAD only, both answered by ``_respond``; any other method by ``_not_allowed``."""

    server_version = "smtp-egress"
    protocol_version = "HTTP/1.1"

    def version_string(self) -> str:
        return self.server_version

    def do_GET(self) -> None:
        self._respond(body=True)

    def do_HEAD(self) -> None:
        self._respond(body=False)

    def _respond(self, body: bool) -> None:
        raise NotImplementedError

    def _not_allowed(self) -> None:
        raise NotImplementedError

    def _other_method(self) -> None:
        self._not_allowed()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_TRACE = do_CONNECT = _other_method


class Handler(ReadOnlyHandler):
    server: EgressServer
    timeout = 30  # an idle keep-alive connection frees its thread after this many seconds

    def _not_allowed(self) -> None:
        self._send_body = True
        self.close_connection = True  # a request body we did not read must not be parsed as a request
        if self._limited():
            return
        self._error(405, f"method {self.command} is not allowed; use GET or HEAD", {"Allow": "GET, HEAD"})

    def _respond(self, body: bool) -> None:
        self._send_body = body
        url = urlsplit(self.path)
        try:
            if url.path == "/healthz":
                self.server.publisher.announcements()
                self._send(200, json.dumps({"status": "ok"}).encode() + b"\n", JSON_TYPE, {"Cache-Control": "no-store"})
                return
            if self._limited():
                return
            region = parse_qs(url.query).get("region", [None])[-1]
            routes = {
                BASE_PATH: lambda: self.server.publisher.region_doc(region, text=False),
                BASE_PATH + ".txt": lambda: self.server.publisher.region_doc(region, text=True),
                BASE_PATH + "/changes.json": lambda: self.server.publisher.changes_doc(atom=False),
                BASE_PATH + "/changes.atom": lambda: self.server.publisher.changes_doc(atom=True),
            }
            if url.path not in routes:
                raise Problem(404, f"no such path {url.path!r}; the list is at {BASE_PATH}?region=R")
            self._send_doc(routes[url.path]())
        except Problem as exc:
            self._error(exc.status, str(exc), {"Retry-After": "60"} if exc.status == 503 else None)
        except GONE:
            raise  # the client disconnected while its answer was written: EgressServer.handle_error says so
        except Exception:  # a bug: answer 500 (JSON, not a page) and log the traceback
            traceback.print_exc(file=sys.stderr)
            self._error(500, "internal error")

    def _limited(self) -> bool:
        wait = self.server.limiter.take(self.client_address[0])
        if wait:
            retry = max(1, math.ceil(wait))
            self._error(
                429,
                f"rate limit exceeded ({self.server.limiter.rate:g} requests/s); retry in {retry} s",
                {"Retry-After": str(retry)},
            )
        return bool(wait)

    def _send_doc(self, doc: Doc) -> None:
        headers = {"ETag": doc.etag, "Last-Modified": http_date(doc.modified), "Cache-Control": CACHE_CONTROL}
        if self._not_modified(doc):
            self._send_body = False
            self._send(304, b"", doc.content_type, headers, length=False)
            return
        self._send(200, doc.body, doc.content_type, headers)

    def _not_modified(self, doc: Doc) -> bool:
        inm = self.headers.get("If-None-Match")
        if inm is None:
            return False
        tags = [t.strip() for t in inm.split(",")]
        return "*" in tags or doc.etag in tags or f"W/{doc.etag}" in tags

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The base class's errors (malformed request, unknown method) as JSON too, not an HTML page."""
        self.close_connection = True
        self._send_body = self.command != "HEAD"
        self._error(code, message or self.responses.get(code, ("error",))[0])

    def _error(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        body = json.dumps({"error": message, "status": status}).encode() + b"\n"
        self._send(status, body, JSON_TYPE, {"Cache-Control": "no-store", **(headers or {})})

    def _send(
        self, status: int, body: bytes, content_type: str, headers: Mapping[str, str], length: bool = True
    ) -> None:
        self.send_response(status)
        base = {"Content-Type": content_type, "Content-Length": str(len(body)), "X-Content-Type-Options": "nosniff"}
        if not length:  # a 304 has no body; its Content-Length would describe the 200 it stands for
            del base["Content-Length"]
        for name, value in {**base, **headers}.items():
            self.send_header(name, value)
        self.end_headers()
        if getattr(self, "_send_body", False):
            self.wfile.write(body)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """The path as :func:`~smtp_egress.masking.mask_url` shows it: a client's ``?token=`` is not logged."""
        path = mask_url(getattr(self, "path", "-"))
        self.log_message("%s %s %s", excerpt(self.command or "-", 20)[1:-1], path, getattr(code, "value", code))

    def log_message(self, format: str, *args: object) -> None:
        """One line per request on stderr: client IP, method, path, status (no date, no DNS lookup)."""
        if self.server.log:
            line = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in format % args)
            _log_line(f"{self.client_address[0]} {line}")


def _log_line(line: str) -> None:
    """One write per line: lines of concurrent requests never interleave."""
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


class EgressServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = LISTEN_BACKLOG

    def handle_error(self, request: socket.socket | tuple[bytes, socket.socket], client_address: Any) -> None:
        """A client that went away is one line (when logging); anything else is a bug: its traceback."""
        gone = sys.exc_info()[1]
        if not isinstance(gone, GONE):
            super().handle_error(request, client_address)
            return
        if self.log:
            host = client_address[0] if isinstance(client_address, tuple) else "-"
            _log_line(f"{host} client disconnected early ({type(gone).__name__})")

    def __init__(self, address: tuple[str, int], publisher: Publisher, limiter: RateLimiter, log: bool):
        self.publisher, self.limiter, self.log = publisher, limiter, log
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, Handler)

    def server_bind(self) -> None:
        socketserver.TCPServer.server_bind(self)  # not HTTPServer's: it does a reverse DNS lookup
        self.server_name, self.server_port = self.host_port

    def server_close(self) -> None:
        super().server_close()
        self.publisher.ledger.close()

    @property
    def host_port(self) -> tuple[str, int]:
        """The bound host and port (``server_address`` holds what ``getsockname()`` returned: a str host)."""
        host, port = self.server_address[:2]
        if not isinstance(host, str):
            raise TypeError(f"an internet socket's host is a str, not {type(host).__name__}")
        return host, port

    @property
    def url(self) -> str:
        host, port = self.host_port
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def make_server(
    plan: Plan,
    ledger_url: LedgerLocation | str,
    host: str = "127.0.0.1",
    port: int = 8080,
    *,
    default_region: str | None = None,
    rate: float = DEFAULT_RATE,
    burst: int | None = None,
    base_url: str | None = None,
    clock: Callable[[], dt.datetime] = utc_now,
    log: bool = True,
) -> EgressServer:
    """A bound, not yet serving, server; call ``serve_forever()`` (tests run it in a thread, port 0)."""
    default_region = default_region or next(iter(plan.regions))
    if rate <= 0:
        raise ConfigError(f"rate {rate!r} (--rate) must be a positive number of requests per second")
    burst = max(1, math.ceil(rate)) if burst is None else burst
    if burst < 1:
        raise ConfigError(f"burst {burst!r} (--burst) must be at least 1 request")
    publisher = Publisher(plan, ledger_url, default_region, base_url or "", clock)
    try:
        server = EgressServer((host, port), publisher, RateLimiter(rate, burst), log)
    except OSError as exc:
        publisher.ledger.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}; pick another --host/--port") from None
    if not base_url:
        publisher.base_url = server.url
    return server
