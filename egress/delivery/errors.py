"""Why a session could not carry a message: one class per kind, each saying how its recipients end up.

These never leave :class:`~smtp_egress.delivery.deliverer.Deliverer`: it turns them into per-recipient
outcomes. ``code``/``reply`` are the server's answer when there was one; ``permanent`` makes the recipients
``failed`` instead of ``deferred``. No message here carries a credential.
"""

from __future__ import annotations


class SessionError(Exception):
    """A session could not be opened or was lost (connection refused or reset, timeout): deferred."""

    permanent = False

    def __init__(self, reason: str, code: int | None = None):
        self.reason = reason
        self.code = code
        super().__init__(reason)


class SessionLost(SessionError):
    """The connection broke or a reply did not come in time, while a transaction was under way."""


class TlsFailure(SessionError):
    """TLS could not be had as the server's settings require: STARTTLS not offered although required or
    pinned (no silent downgrade), the handshake failed, or the certificate did not verify or match its
    fingerprint. Deferred (a stripped STARTTLS or a renewed certificate can be transient); nothing was sent."""


class AuthFailure(SessionError):
    """The server refused the credentials (5xx: failed, 4xx: deferred), or could not be asked for them safely
    (no TLS, no PLAIN/LOGIN offered). The password is never part of the reason."""

    def __init__(self, reason: str, code: int | None = None):
        super().__init__(reason, code)
        self.permanent = code is not None and code >= 500


class PolicyRefusal(SessionError):
    """The destination or the message is refused before anything is sent (a refused address or port 25, a
    bare CR/LF in the header, a control character in an address, 8-bit data or a non-ASCII address the server
    can't take, a message over its SIZE limit): failed."""

    permanent = True


class ServerRefused(SessionError):
    """The server refused the session itself (its greeting or EHLO): 5xx failed, otherwise deferred."""

    def __init__(self, reason: str, code: int | None = None):
        super().__init__(reason, code)
        self.permanent = code is not None and code >= 500


class MaybeDelivered(SessionLost):
    """The connection was lost after the final dot went out and before the server answered it: the message
    may have been accepted. Deferred, never retried here; whether to send it again is the worker's call."""
