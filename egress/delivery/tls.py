"""The TLS side of a session: which context a server gets, and the fingerprint check.

``certificate = "verify"``: the chain (the system's CAs, or ``ca_file``) and the host name, SNI the host
name, although the connection goes to a checked address. ``"fingerprint:<sha256>"``: a self-signed server;
the chain is not checked, but the SHA-256 of the certificate it presents (DER) must equal the pinned one
exactly, or nothing is sent. Never "skip verification". TLS 1.2 at least, in both cases.
"""

from __future__ import annotations

import hashlib
import hmac
import ssl

from ..smtp.model import FINGERPRINT_PREFIX, SmtpServer
from .errors import TlsFailure


class TlsContexts:
    """One context per kind of check, made once (loading CAs costs milliseconds) and shared by every session."""

    def __init__(self, ca_file: str | None = None):
        self._verify = ssl.create_default_context(cafile=ca_file)
        self._verify.minimum_version = ssl.TLSVersion.TLSv1_2
        self._pinned = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        self._pinned.minimum_version = ssl.TLSVersion.TLSv1_2
        self._pinned.check_hostname = False
        self._pinned.verify_mode = ssl.CERT_NONE  # the fingerprint check below replaces the chain

    def context(self, server: SmtpServer) -> ssl.SSLContext:
        return self._pinned if server.certificate.startswith(FINGERPRINT_PREFIX) else self._verify


def check_fingerprint(server: SmtpServer, tls: ssl.SSLObject | None) -> None:
    """For a ``fingerprint:`` server, TlsFailure unless the peer's certificate (DER) has exactly that SHA-256."""
    if not server.certificate.startswith(FINGERPRINT_PREFIX):
        return
    der = tls.getpeercert(binary_form=True) if tls is not None else None
    if not der:
        raise TlsFailure(f"{server.label} presented no certificate to compare with its pinned fingerprint")
    want = server.certificate[len(FINGERPRINT_PREFIX) :].replace(":", "").lower()
    got = hashlib.sha256(der).hexdigest()
    if not hmac.compare_digest(want, got):
        raise TlsFailure(
            f"{server.label} presented a certificate with SHA-256 fingerprint {got}, not the pinned {want}: "
            "if the server's certificate was renewed, update the server's --certificate fingerprint"
        )


def describe(exc: BaseException) -> str:
    """A TLS error in words: what failed to verify, or the handshake's error."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"the certificate did not verify: {exc.verify_message or exc}"
    text = f"the TLS handshake failed: {exc}" if str(exc) else f"the TLS handshake failed ({type(exc).__name__})"
    if "WRONG_VERSION_NUMBER" in str(exc):  # the server spoke plain SMTP: its port wants STARTTLS
        text += " (the server answered without TLS: 587 and 2525 use STARTTLS, only 465 implicit TLS)"
    return text
