"""``egress smtp test``'s probe: one session with a server, step by step, saying which step failed and what to change.

DNS (the destination guard) -> TCP -> banner -> EHLO -> TLS (STARTTLS, or first for implicit TLS) -> certificate
(the chain and host name, or the pinned fingerprint) -> AUTH -> MAIL FROM, then RSET and QUIT: never DATA, so
nothing is sent. A refused destination ends the walk before any connection, with one fixed message whatever is
behind the address (open port, closed port, nothing): the probe can't be used as a port scanner. A certificate
that does not verify is answered with its fingerprint to pin, after checking it is the server's own; never
with a way to skip verification. The password is sent only inside TLS and never appears in a step.
"""

from __future__ import annotations

import contextlib
import hashlib
import smtplib
import socket
import ssl
from collections.abc import Callable, Iterator

from .guard import RefusedDestination, UnresolvableHost, checked_addresses
from .model import FINGERPRINT_PREFIX, SmtpServer
from .probe_result import REFUSED, STEPS, ProbeResult, Step
from .settings import WRONG_VERSION

__all__ = ["REFUSED", "STEPS", "ProbeResult", "Step", "probe"]


def _decoded(reply: bytes | str) -> str:
    """A server's reply as text (printable: control characters escaped), so the password can be found and masked."""
    from ..masking import printable

    return printable(reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply)


class _Failed(Exception):
    """A step failed: ends the walk."""


class _Walk:
    def __init__(self, server: SmtpServer, mail_from: str, timeout: float, ca_file: str | None):
        self.server, self.mail_from, self.timeout, self.ca_file = server, mail_from, timeout, ca_file
        self.steps: list[Step] = []
        self.fingerprint: str | None = None
        self.password = server.password.value if server.password else None

    def said(self, text: object) -> str:
        """A server's words or an error, bounded, without the password."""
        shown = " ".join(str(text).split())[:300]
        return shown.replace(self.password, "***") if self.password and len(self.password) >= 3 else shown

    def passed(self, name: str, detail: str) -> None:
        self.steps.append(Step(name, True, detail))

    def fail(self, name: str, detail: str, advice: str) -> _Failed:
        self.steps.append(Step(name, False, self.said(detail), advice))
        return _Failed(name)

    def context(self, verify: bool) -> ssl.SSLContext:
        if verify:
            return ssl.create_default_context(cafile=self.ca_file)
        ctx = ssl.create_default_context()
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        return ctx

    @property
    def pinned(self) -> str | None:
        cert = self.server.certificate
        return cert[len(FINGERPRINT_PREFIX) :] if cert.startswith(FINGERPRINT_PREFIX) else None

    def run(self, allow_private: bool) -> None:
        s = self.server
        try:
            addresses = checked_addresses(s.host, s.port, allow_private=allow_private)
        except RefusedDestination:
            raise self.fail("DNS", REFUSED, "give the host name of your mail provider's submission server") from None
        except UnresolvableHost:
            raise self.fail("DNS", f"{s.host} does not resolve", "check the host name (a typo?) and its DNS") from None
        self.passed("DNS", f"{s.host} resolves to {', '.join(addresses[:4])}")
        with self.session(addresses, record=True) as smtp:
            self.auth(smtp)
            code, reply = smtp.mail(self.mail_from)
            if code != 250:
                raise self.fail(
                    "MAIL FROM", f"{code} {_decoded(reply)}", f"the server refuses mail from {self.mail_from or '<>'}"
                )
            self.passed("MAIL FROM", f"{code} {self.said(_decoded(reply))} (nothing sent: RSET, QUIT)")
            with contextlib.suppress(smtplib.SMTPException, OSError):
                smtp.rset()
                smtp.quit()

    @contextlib.contextmanager
    def session(self, addresses: list[str], *, record: bool) -> Iterator[smtplib.SMTP]:
        """Connected, greeted, EHLO'd and inside TLS (certificate checked)."""
        note = self.passed if record else (lambda name, detail: None)
        sock = self.tcp(addresses)
        note("TCP", f"connected to {sock.getpeername()[0]} port {self.server.port}")
        implicit = self.server.security == "implicit-tls"
        if implicit:
            sock = self.tls(lambda ctx: ctx.wrap_socket(sock, server_hostname=self.server.host), record)
        smtp = smtplib.SMTP(local_hostname=socket.gethostname(), timeout=self.timeout)
        smtp.sock, smtp._host = sock, self.server.host  # type: ignore[attr-defined]  # SNI for STARTTLS
        try:
            self.banner(smtp, implicit, note)
            self.ehlo(smtp, note)
            if not implicit:
                self.starttls(smtp, record)
                smtp.ehlo()
            yield smtp
        finally:
            smtp.close()

    def tcp(self, addresses: list[str]) -> socket.socket:
        error: OSError | None = None
        for address in addresses:
            try:
                return socket.create_connection((address, self.server.port), timeout=self.timeout)
            except OSError as exc:
                error = exc
        raise self.fail(
            "TCP",
            f"no connection to port {self.server.port}: {error}",
            "check the port, and that the server's firewall allows the published egress addresses",
        )

    def banner(self, smtp: smtplib.SMTP, implicit: bool, note: Callable[[str, str], None]) -> None:
        try:
            code, text = smtp.getreply()
        except (OSError, smtplib.SMTPException) as exc:
            advice = "the server closed or stalled before greeting"
            if not implicit:
                advice = (
                    f"no plain-text greeting: the port may expect TLS first (--security implicit-tls); {WRONG_VERSION}"
                )
            raise self.fail("banner", f"no greeting: {exc or type(exc).__name__}", advice) from None
        if code != 220:
            raise self.fail(
                "banner", f"{code} {_decoded(text)}", "the server does not accept sessions now; ask its administrator"
            )
        note("banner", f"{code} {self.said(_decoded(text))}")

    def ehlo(self, smtp: smtplib.SMTP, note: Callable[[str, str], None]) -> None:
        code, text = smtp.ehlo()
        if code != 250:
            raise self.fail("EHLO", f"{code} {_decoded(text)}", "the server refuses ESMTP; it can't be used")
        note("EHLO", f"{code}, offers: {', '.join(sorted(smtp.esmtp_features))[:200]}")

    def starttls(self, smtp: smtplib.SMTP, record: bool) -> None:
        if not smtp.has_extn("starttls"):
            raise self.fail(
                "TLS",
                "the server does not offer STARTTLS",
                "mail is only sent inside TLS: enable STARTTLS on the server, or use its implicit-TLS port (465)",
            )

        def handshake(ctx: ssl.SSLContext) -> ssl.SSLSocket:
            smtp.starttls(context=ctx)
            assert isinstance(smtp.sock, ssl.SSLSocket)
            return smtp.sock

        self.tls(handshake, record)

    def tls(self, handshake: Callable[[ssl.SSLContext], ssl.SSLSocket], record: bool) -> ssl.SSLSocket:
        verify = self.pinned is None and record
        try:
            sock = handshake(self.context(verify))
        except ssl.SSLCertVerificationError as exc:
            self.passed("TLS", "handshake reached the certificate check")
            raise self.fail("certificate", f"does not verify: {exc.verify_message}", self.unverified_advice()) from None
        except (OSError, smtplib.SMTPException) as exc:
            advice = "check the security setting"
            if "WRONG_VERSION_NUMBER" in str(exc) or "wrong version number" in str(exc):
                advice = f"the port speaks plain SMTP first: use --security starttls; {WRONG_VERSION}"
            raise self.fail("TLS", f"handshake failed: {exc}", advice) from None
        der = sock.getpeercert(binary_form=True) or b""
        self.fingerprint = hashlib.sha256(der).hexdigest()
        if not record:
            return sock
        self.passed("TLS", f"{sock.version()}, {(sock.cipher() or ('?',))[0]}")
        if self.pinned is None:
            self.passed("certificate", f"verified for {self.server.host}")
        elif self.fingerprint != self.pinned:
            raise self.fail(
                "certificate",
                f"the certificate's SHA-256 is {self.fingerprint}, the pinned one is {self.pinned}",
                "the server's certificate changed: pin the new fingerprint once you have checked it on the server",
            )
        else:
            self.passed("certificate", f"matches the pinned fingerprint {self.pinned}")
        return sock

    def unverified_advice(self) -> str:
        return (
            "install a certificate from a public CA for this host name, or, for a self-signed server, pin its "
            f"certificate: --certificate {FINGERPRINT_PREFIX}<sha256> (the one the server presented is in this "
            "report; compare it on the server: openssl x509 -noout -fingerprint -sha256 -in CERT)"
        )

    def auth(self, smtp: smtplib.SMTP) -> None:
        s = self.server
        if s.username is None or self.password is None:
            self.steps.append(Step("AUTH", None, "no user name set: the server must accept our addresses without AUTH"))
            return
        if not smtp.has_extn("auth"):
            raise self.fail(
                "AUTH", "the server offers no AUTH inside TLS", "enable AUTH on the server, or remove --username"
            )
        try:
            code, _ = smtp.login(s.username, self.password)
        except smtplib.SMTPAuthenticationError as exc:
            raise self.fail(
                "AUTH", f"{exc.smtp_code} {_decoded(exc.smtp_error)}", "check the user name and the password"
            ) from None
        except UnicodeEncodeError:
            raise self.fail(
                "AUTH", "the user name or password holds characters other than ASCII", "AUTH here sends ASCII only"
            ) from None
        except smtplib.SMTPException as exc:
            raise self.fail(
                "AUTH", str(exc), "the server and we share no AUTH mechanism (PLAIN, LOGIN, CRAM-MD5)"
            ) from None
        self.passed("AUTH", f"{code}: logged in as {s.username}")


def probe(
    server: SmtpServer,
    *,
    allow_private: bool = False,
    mail_from: str = "",
    timeout: float = 10.0,
    ca_file: str | None = None,
) -> ProbeResult:
    """Walk every step with ``server`` (see the module's docstring); ``ca_file``: trust only these CAs."""
    walk = _Walk(server, mail_from, timeout, ca_file)
    with contextlib.suppress(_Failed):
        walk.run(allow_private)
    failed = walk.steps[-1] if walk.steps and walk.steps[-1].passed is False else None
    if failed is not None and failed.name == "certificate" and walk.pinned is None:
        walk.fingerprint = _fingerprint(walk, allow_private)
    return ProbeResult(server.label, tuple(walk.steps), walk.fingerprint)


def _fingerprint(failed: _Walk, allow_private: bool) -> str | None:
    """The SHA-256 of the certificate the server presents, read on a second session that stops after TLS."""
    walk = _Walk(failed.server, failed.mail_from, failed.timeout, failed.ca_file)
    with contextlib.suppress(_Failed, OSError, smtplib.SMTPException):
        addresses = checked_addresses(failed.server.host, failed.server.port, allow_private=allow_private)
        with walk.session(addresses, record=False):
            pass
    return walk.fingerprint
