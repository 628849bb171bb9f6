"""The tracker: the HTTP server behind every branded tracking domain (``egress tracking serve``), stdlib only.

Routes (GET and HEAD; any other method is 405, and the connection is closed):

- ``/c/<token>``: 302 to the link's destination (the one the signed token carries), and a click recorded;
- ``/o/<token>.gif``: a 1x1 transparent GIF, and an open recorded;
- ``/healthz``: 200 when the ledger answers (503 otherwise), on any Host: for the load balancer.

A token answers only on the verified tracking domain it was issued for (the ``Host`` header, port ignored, asked
of :class:`~smtp_egress.tracking.domains.VerifiedDomains`). Everything else (an unverified or missing Host, a
forged, tampered, truncated or unknown-key token, a click token at ``/o/``, an unknown path) is the same bare 404:
nothing says which check failed. Responses are ``Cache-Control: no-store`` and carry no validator (no ETag, no
Last-Modified), so a mail client or proxy asks again for every open. A HEAD request (link checkers use them) gets
the same status and headers and records nothing. The event is recorded before the answer; a ledger that cannot
be written is one log line, and the redirect or the image is answered anyway. Clients that stall or disconnect
are handled as ``egress serve`` handles them: a per-read timeout, one log line and never a traceback, the same
listen backlog. The log never shows a whole token (it names its recipient).
"""

from __future__ import annotations

import datetime as dt
import socket
import socketserver
import sys
import traceback
from collections.abc import Callable, Mapping
from http.server import ThreadingHTTPServer
from typing import Any

import sqlalchemy as sa

from ..dates import utc_now
from ..server import GONE, LISTEN_BACKLOG, ReadOnlyHandler
from .domains import VerifiedDomains, host_name
from .events import EventKind, TrackingEvent, bounded_user_agent, client_network, record
from .tokens import InvalidToken, Kind, TokenSigner

PIXEL = bytes.fromhex("47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b")
NO_STORE = {"Cache-Control": "no-store, no-cache, must-revalidate, max-age=0, private", "Pragma": "no-cache"}
MAX_PATH = 4200


class Tracker:
    """Checks a request's Host and token, records its event, and says what to answer."""

    def __init__(
        self,
        signer: TokenSigner,
        domains: VerifiedDomains,
        engine: sa.Engine,
        *,
        clock: Callable[[], dt.datetime] = utc_now,
        log: Callable[[str], None] | None = None,
    ):
        self.signer, self.domains, self.engine, self.clock, self.log = signer, domains, engine, clock, log

    def answer(self, path: str, host: str, *, record_event: bool, user_agent: str | None, client: str) -> str | None:
        """The destination (click) or "" (open) to answer with, None for a 404."""
        route = _route(path)
        domain = host_name(host)
        if route is None or not domain or not self.domains.is_verified(domain):
            return None
        kind, token = route
        try:
            claims = self.signer.verify(token, domain=domain, kind=kind)
        except InvalidToken:
            return None
        if record_event:
            event = TrackingEvent(
                kind=kind,
                message_id=claims.message_id,
                recipient=claims.recipient,
                tracking_domain=domain,
                occurred_at=self.clock(),
                link_index=claims.link_index,
                destination=claims.destination,
                user_agent=bounded_user_agent(user_agent),
                client_network=client_network(client),
            )
            self._record(event)
        return claims.destination or ""

    def _record(self, event: TrackingEvent) -> None:
        try:
            with self.engine.begin() as conn:
                record(conn, event)
        except sa.exc.SQLAlchemyError as exc:
            if self.log:
                self.log(f"{event.kind} event not recorded: the ledger failed ({type(exc).__name__})")

    def healthy(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(sa.select(1))
        except sa.exc.SQLAlchemyError:
            return False
        return True


def _route(path: str) -> tuple[Kind, str] | None:
    path = path.split("?", 1)[0]
    if len(path) > MAX_PATH:
        return None
    kind: EventKind
    if path.startswith("/c/"):
        kind, token = "click", path[3:]
    elif path.startswith("/o/") and path.endswith(".gif"):
        kind, token = "open", path[3:-4]
    else:
        return None
    ok = token and all(c.isascii() and (c.isalnum() or c in "-_") for c in token)
    return (kind, token) if ok else None


class TrackingHandler(ReadOnlyHandler):
    server: TrackingServer
    default_request_version = "HTTP/1.0"  # a malformed request line still gets a status line, not a bare body
    timeout = 10  # a client that sends nothing for this long loses its connection

    def _not_allowed(self) -> None:
        self.close_connection = True  # a request body we did not read must not be parsed as a request
        self._send(405, b"method not allowed\n", "text/plain", {"Allow": "GET, HEAD"}, body=self.command != "HEAD")

    def _respond(self, body: bool) -> None:
        if self.headers.get("Content-Length", "0").strip() not in ("", "0") or "Transfer-Encoding" in self.headers:
            self.close_connection = True  # a GET with a body: never read as the next request
        tracker = self.server.tracker
        try:
            if self.path == "/healthz":
                ok = tracker.healthy()
                self._send(200 if ok else 503, b"ok\n" if ok else b"unavailable\n", "text/plain", NO_STORE, body=body)
                return
            found = tracker.answer(
                self.path,
                self.headers.get("Host", ""),
                record_event=body,
                user_agent=self.headers.get("User-Agent"),
                client=self._client(),
            )
            if found is None:
                self._send(404, b"not found\n", "text/plain", NO_STORE, body=body)
            elif found:
                self._send(302, b"", "text/plain", {**NO_STORE, "Location": found}, body=body)
            else:
                self._send(200, PIXEL, "image/gif", NO_STORE, body=body)
        except GONE:
            raise  # the client went away while its answer was written: TrackingServer.handle_error says so
        except Exception:  # a bug: a bare 500, the traceback in the log
            traceback.print_exc(file=sys.stderr)
            self._send(500, b"internal error\n", "text/plain", NO_STORE, body=body)

    def _client(self) -> str:
        if self.server.forwarded_for:
            hops = [h.strip() for h in self.headers.get("X-Forwarded-For", "").split(",") if h.strip()]
            if hops:
                return hops[-1]  # the address the proxy in front of us saw
        return str(self.client_address[0])

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The base class's errors (malformed request, oversize line or headers) as a bare text body."""
        self.close_connection = True
        self._send(code, f"{code}\n".encode(), "text/plain", NO_STORE, body=self.command != "HEAD")

    def _send(self, status: int, data: bytes, content_type: str, headers: Mapping[str, str], *, body: bool) -> None:
        self.send_response(status)
        base = {"Content-Type": content_type, "Content-Length": str(len(data)), "X-Content-Type-Options": "nosniff"}
        if self.close_connection:
            base["Connection"] = "close"
        for name, value in {**base, **headers}.items():
            self.send_header(name, value)
        self.end_headers()
        if body:
            self.wfile.write(data)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Method, the route with the token cut to 8 characters (a token names its recipient), status."""
        path = getattr(self, "path", "-") or "-"
        route = _route(path)
        shown = f"/{route[0][0]}/{route[1][:8]}..." if route else path[:60]
        line = f"{(self.command or '-')[:10]} {shown} {getattr(code, 'value', code)}"
        self.server.write_log(f"{self.client_address[0]} " + "".join(c if c.isprintable() else "?" for c in line))

    def log_message(self, format: str, *args: object) -> None:
        self.server.write_log(f"{self.client_address[0]} " + (format % args)[:200])


class TrackingServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = LISTEN_BACKLOG

    def __init__(self, address: tuple[str, int], tracker: Tracker, *, log: bool, forwarded_for: bool = False):
        self.tracker, self.log, self.forwarded_for = tracker, log, forwarded_for
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, TrackingHandler)

    def write_log(self, line: str) -> None:
        if self.log:
            sys.stderr.write(line + "\n")
            sys.stderr.flush()

    def handle_error(self, request: socket.socket | tuple[bytes, socket.socket], client_address: Any) -> None:
        gone = sys.exc_info()[1]
        if not isinstance(gone, GONE):
            super().handle_error(request, client_address)
            return
        host = client_address[0] if isinstance(client_address, tuple) else "-"
        self.write_log(f"{host} client disconnected early ({type(gone).__name__})")

    def server_bind(self) -> None:
        socketserver.TCPServer.server_bind(self)  # not HTTPServer's: it does a reverse DNS lookup
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://[{host!s}]:{port}" if ":" in str(host) else f"http://{host!s}:{port}"
