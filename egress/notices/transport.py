"""Where notice emails go: an SMTP submission server (one reused, verified-TLS connection) or a Maildir.

``open_transport`` picks SMTP when a URL is configured, else the Maildir outbox. Both raise
:class:`DeliveryError` (``permanent=True`` when retrying cannot help) and never put a password in a
message. Certificates are always verified; a private CA is added with ``cafile`` (EGRESS_SMTP_CAFILE).
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import os
import re
import smtplib
import ssl
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qsl, unquote, urlsplit

from ..errors import ConfigError, DeliveryError
from ..masking import excerpt, mask_url
from .maildir import MaildirOutbox, check_envelope

__all__ = [
    "MaildirOutbox",
    "SmtpTransport",
    "Transport",
    "check_cafile",
    "check_outbox",
    "open_transport",
    "parse_smtp_url",
]

DEFAULT_PORTS = {"smtp": 587, "smtps": 465}
PORT_HINT = "port 465 speaks implicit TLS: use smtps://; 587 (and 2525) use STARTTLS: use smtp://"


class Transport(Protocol):
    def delivered(self, message_id: str) -> bool: ...
    def send(self, *, sender: str, recipient: str, message_id: str, data: bytes) -> None: ...
    def close(self) -> None: ...


def open_transport(smtp_url: str | None, outbox: str, cafile: str | None = None) -> Transport:
    """SMTP when ``smtp_url`` is set, else the Maildir at ``outbox``."""
    return SmtpTransport(smtp_url, cafile=cafile) if smtp_url else MaildirOutbox(outbox)


def check_cafile(cafile: str | None, source: str = "the SMTP CA file") -> ssl.SSLContext:
    """The TLS context that trusts the system CAs and ``cafile``; ConfigError if it is not a readable PEM
    (naming ``source``: the flag or variable it came from)."""
    try:
        return ssl.create_default_context(cafile=cafile)
    except (OSError, ssl.SSLError, ValueError) as exc:
        shown = repr(cafile[:200] if cafile else cafile)
        raise ConfigError(f"{source} {shown} is not a readable PEM CA certificate: {exc}") from None


def check_outbox(path: str, source: str = "--outbox or EGRESS_OUTBOX") -> None:
    """ConfigError unless the Maildir outbox ``path`` is (or can be created as) a writable directory (naming
    ``source``: the flag or variable it came from)."""
    problem = None
    try:
        where = Path(path).absolute()
        existing = next((p for p in (where, *where.parents) if p.exists()), where.anchor)
        if existing == where and not where.is_dir():
            problem = "it is not a directory"
        elif not os.access(existing, os.W_OK | os.X_OK):
            problem = f"{str(existing)[:200]!r} is not writable" if existing != where else "it is not writable"
    except (OSError, ValueError) as exc:  # a path no file system takes (too long)
        problem = str(getattr(exc, "strerror", None) or exc)
    if problem:
        raise ConfigError(
            f"the Maildir outbox ({source}) {path[:200]!r} cannot take notices: {problem}; point it at a "
            "writable directory, or set an SMTP URL (--smtp-url or EGRESS_SMTP_URL)"
        )


@dataclasses.dataclass(frozen=True)
class SmtpSettings:
    implicit_tls: bool
    host: str
    port: int
    username: str | None = dataclasses.field(default=None)
    password: str | None = dataclasses.field(default=None, repr=False)
    tls_required: bool = False

    @property
    def where(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_smtp_url(url: str) -> SmtpSettings:
    """Parse ``smtp://[user:pass@]host[:port][?tls=required]`` or ``smtps://...``; ConfigError if invalid."""

    def bad(why: str) -> ConfigError:
        return ConfigError(
            f"SMTP URL {mask_url(url)!r} is invalid: {why}; "
            "write smtp://[user:pass@]host[:port][?tls=required] or smtps://[user:pass@]host[:port]"
        )

    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # the parser's message quotes what it cut: a piece of the password, maybe
        raise bad(
            "it does not parse (is the port a number from 1 to 65535? are / # ? @ % : in the user name or "
            "password percent-encoded, e.g. %2F for /?)"
        ) from None
    if parts.scheme not in DEFAULT_PORTS:
        raise bad(f"the scheme {parts.scheme!r} is not smtp or smtps")
    if not parts.hostname:
        raise bad("it names no host")
    if port is not None and not 0 < port < 65536:
        raise bad(f"port {port} is out of range")
    if parts.path not in ("", "/") or parts.fragment:
        raise bad("it has a path or fragment")
    tls_required = False
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key != "tls" or value != "required":
            shown = mask_url(f"?{key}={value}")[1:] if value else key
            raise bad(f"unknown query parameter {excerpt(shown, 60)} (only tls=required is understood)")
        tls_required = True
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    if password is not None and not username:
        raise bad("it has a password but no user name")
    return SmtpSettings(
        parts.scheme == "smtps", parts.hostname, port or DEFAULT_PORTS[parts.scheme], username, password, tls_required
    )


class SmtpTransport:
    """Delivers over one SMTP connection, opened on first use and reused; reconnects once if dropped."""

    def __init__(
        self, url: str, *, cafile: str | None = None, timeout: float = 30.0, local_hostname: str | None = None
    ):
        self.settings = parse_smtp_url(url)
        self.url = mask_url(url)
        self._context = check_cafile(cafile)
        self.timeout = timeout
        self.local_hostname = local_hostname
        self._smtp: smtplib.SMTP | None = None
        self.connections = 0  # how many connections were opened (for reports and tests)

    def delivered(self, message_id: str) -> bool:
        return False  # an SMTP server cannot be asked; the ledger records what was accepted

    def check(self) -> None:
        """Open a session as a delivery would (connect, EHLO, STARTTLS when offered, AUTH), then QUIT;
        DeliveryError if any step fails. Sends no message."""
        if self._smtp is None:
            self._connect()
        self.close()

    def send(self, *, sender: str, recipient: str, message_id: str, data: bytes) -> None:
        check_envelope(sender, recipient)
        reused = self._smtp is not None
        try:
            self._transaction(sender, recipient, data)
        except (smtplib.SMTPServerDisconnected, _Dropped) as exc:
            self._drop()
            if not reused:
                raise DeliveryError(f"{self.settings.where} closed the connection: {exc}") from None
            try:  # an idle reused connection was closed by the server: reconnect once
                self._transaction(sender, recipient, data)
            except (smtplib.SMTPServerDisconnected, _Dropped) as again:
                self._drop()
                raise DeliveryError(f"{self.settings.where} closed the connection: {again}") from None

    def close(self) -> None:
        if self._smtp is not None:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                self._smtp.quit()
            self._drop()

    def __enter__(self) -> SmtpTransport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------------------------------

    def _transaction(self, sender: str, recipient: str, data: bytes) -> None:
        smtp = self._smtp or self._connect()
        options = []
        if not (sender + recipient).isascii():
            if not smtp.has_extn("smtputf8"):
                raise DeliveryError(
                    f"{self.settings.where} does not offer SMTPUTF8, needed for the non-ASCII "
                    f"address {recipient if not recipient.isascii() else sender!r}",
                    permanent=True,
                )
            options = ["SMTPUTF8"]
        try:
            if smtp.has_extn("pipelining") and not options:
                _sendmail_pipelined(smtp, sender, recipient, data)
            else:
                smtp.sendmail(sender, [recipient], data, mail_options=options)
        except smtplib.SMTPRecipientsRefused as exc:
            code, reply = exc.recipients.get(recipient, (None, b""))
            raise self._refused(f"{self.settings.where} refused the recipient {recipient!r}", code, reply) from None
        except smtplib.SMTPSenderRefused as exc:
            raise self._refused(
                f"{self.settings.where} refused the sender {sender!r}", exc.smtp_code, exc.smtp_error
            ) from None
        except smtplib.SMTPDataError as exc:
            raise self._refused(
                f"{self.settings.where} refused the message for {recipient!r}", exc.smtp_code, exc.smtp_error
            ) from None
        except smtplib.SMTPResponseException as exc:
            raise self._refused(f"{self.settings.where} answered", exc.smtp_code, exc.smtp_error) from None
        except smtplib.SMTPServerDisconnected:
            raise
        except OSError as exc:
            self._drop()
            raise DeliveryError(f"connection to {self.settings.where} failed while sending: {exc}") from None

    def _refused(self, what: str, code: int | None, reply: bytes | str) -> Exception:
        if code == 421:
            return _Dropped(f"{code} {_text(reply)}")
        return refused(what, code, reply)

    def _connect(self) -> smtplib.SMTP:
        self._smtp = self.open_session()
        return self._smtp

    def open_session(self) -> smtplib.SMTP:
        """A new session, ready for a transaction: connected, greeted, EHLO, STARTTLS when offered (or
        required), AUTH with the URL's credentials; DeliveryError (classified) if any step fails."""
        s = self.settings
        smtp: smtplib.SMTP | None = None
        greeted = False
        try:  # given a host, the constructor connects and reads the greeting (and keeps it for TLS SNI)
            if s.implicit_tls:
                smtp = smtplib.SMTP_SSL(
                    s.host, s.port, self.local_hostname, timeout=self.timeout, context=self._context
                )
            else:
                smtp = smtplib.SMTP(s.host, s.port, self.local_hostname, timeout=self.timeout)
            greeted = True
            _ehlo(smtp)
            if not s.implicit_tls:
                if smtp.has_extn("starttls"):
                    smtp.starttls(context=self._context)
                    _ehlo(smtp)
                elif s.tls_required:
                    raise DeliveryError(
                        f"{s.where} does not offer STARTTLS, and the SMTP URL says tls=required", permanent=True
                    )
                elif s.username:
                    raise DeliveryError(
                        f"{s.where} does not offer STARTTLS: refusing to send the password of {s.username!r} in "
                        "clear text; enable STARTTLS on the server, or use smtps:// if it speaks implicit TLS (465)",
                        permanent=True,
                    )
            if s.username:
                self._login(smtp, s.username)
        except BaseException as exc:
            if smtp is not None:
                smtp.close()
            error = self._connect_error(exc, greeted)
            if isinstance(error, _Dropped):  # 421 to the greeting or EHLO: e.g. too many connections
                raise DeliveryError(f"{s.where} did not take the connection: {error}") from None
            raise error from None
        self.connections += 1
        return smtp

    def _login(self, smtp: smtplib.SMTP, username: str) -> None:
        s = self.settings
        try:
            if (username + (s.password or "")).isascii():
                smtp.login(username, s.password or "")
            else:  # smtplib encodes AUTH as ASCII; RFC 4616 PLAIN carries UTF-8
                if not smtp.has_extn("auth"):
                    raise smtplib.SMTPNotSupportedError
                blob = base64.b64encode(b"\0" + username.encode() + b"\0" + (s.password or "").encode())
                code, reply = smtp.docmd("AUTH", "PLAIN " + blob.decode("ascii"))
                if code != 235:
                    raise smtplib.SMTPAuthenticationError(code, reply)
        except smtplib.SMTPNotSupportedError:
            raise DeliveryError(
                f"{s.where} does not offer AUTH, but the SMTP URL has credentials", permanent=True
            ) from None
        except smtplib.SMTPAuthenticationError as exc:
            raise self._refused(
                f"{s.where} rejected the credentials of {s.username!r}", exc.smtp_code, exc.smtp_error
            ) from None

    def _connect_error(self, exc: BaseException, greeted: bool) -> BaseException:
        s = self.settings
        if isinstance(exc, (DeliveryError, KeyboardInterrupt, SystemExit)):
            return exc
        if isinstance(exc, ssl.SSLCertVerificationError):
            return DeliveryError(
                f"the TLS certificate of {s.where} was not trusted ({exc.verify_message}); if the server uses a "
                "private or self-signed CA, set EGRESS_SMTP_CAFILE to that CA's certificate (PEM). "
                "Certificate verification is never turned off.",
                permanent=True,
            )
        if isinstance(exc, ssl.SSLError) and "WRONG_VERSION_NUMBER" in str(exc).upper().replace(" ", "_"):
            return DeliveryError(
                f"TLS handshake with {s.where} failed (wrong version number): the server did not "
                f"answer with TLS. {PORT_HINT}",
                permanent=True,
            )
        if isinstance(exc, ssl.SSLError):
            return DeliveryError(f"TLS handshake with {s.where} failed: {exc}")
        if isinstance(exc, (smtplib.SMTPServerDisconnected, TimeoutError)) and not greeted and not s.implicit_tls:
            # A plain-text client on an implicit-TLS port waits for a greeting that never comes.
            return DeliveryError(
                f"no SMTP greeting from {s.where} ({exc or 'timed out'}); if that port speaks "
                f"implicit TLS, {PORT_HINT}",
                permanent=s.port == 465,
            )
        if isinstance(exc, smtplib.SMTPResponseException):
            return self._refused(f"{s.where} answered", exc.smtp_code, exc.smtp_error)
        if isinstance(exc, (smtplib.SMTPException, OSError)):
            return DeliveryError(f"cannot connect to {s.where}: {exc}")
        return exc

    def _drop(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.close()
            finally:
                self._smtp = None


def _ehlo(smtp: smtplib.SMTP) -> None:
    code, reply = smtp.ehlo()
    if code != 250:
        raise smtplib.SMTPResponseException(code, reply)


def refused(what: str, code: int | None, reply: bytes | str) -> DeliveryError:
    """The server's refusal (``what``: what it refused) as a DeliveryError: permanent for a 5xx reply."""
    return DeliveryError(f"{what}: {code} {_text(reply)}", permanent=code is not None and 500 <= code < 600)


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)


def _sendmail_pipelined(smtp: smtplib.SMTP, sender: str, recipient: str, data: bytes) -> None:
    """``smtp.sendmail(sender, [recipient], data)`` with RFC 2920 pipelining: MAIL, RCPT and DATA go out in
    one write and their replies are read together, then the message: two round trips instead of four.
    Raises what sendmail raises. The message counts as accepted only on the 250 after its final dot."""
    size = f" SIZE={len(data)}" if smtp.has_extn("size") else ""
    smtp.send(f"MAIL FROM:<{sender}>{size}\r\nRCPT TO:<{recipient}>\r\nDATA\r\n")
    replies = []
    for _ in range(3):
        replies.append(smtp.getreply())
        if replies[-1][0] == 421:  # the server is closing: it sends nothing more
            break
    (mail, mail_text), (rcpt, rcpt_text), (go, go_text) = replies + [(421, b"")] * (3 - len(replies))
    if go == 354:
        if mail == 250 and rcpt in (250, 251):
            body = re.sub(rb"(?m)^\.", b"..", data)
            smtp.send(body + (b"" if body.endswith(b"\r\n") else b"\r\n") + b".\r\n")
            code, text = smtp.getreply()
            if code == 250:
                return
            _reset(smtp, code)
            raise smtplib.SMTPDataError(code, text)
        smtp.send(b".\r\n")  # RFC 2920 3.1: DATA accepted although the envelope failed: send an empty message
        smtp.getreply()
    if mail != 250:
        _reset(smtp, mail)
        raise smtplib.SMTPSenderRefused(mail, mail_text, sender)
    if rcpt not in (250, 251):
        _reset(smtp, rcpt)
        raise smtplib.SMTPRecipientsRefused({recipient: (rcpt, rcpt_text)})
    _reset(smtp, go)
    raise smtplib.SMTPDataError(go, go_text)


def _reset(smtp: smtplib.SMTP, code: int) -> None:
    """As sendmail does after a refusal: close on 421, else RSET (ignoring a server that already left)."""
    if code == 421:
        smtp.close()
        return
    with contextlib.suppress(smtplib.SMTPServerDisconnected):
        smtp.rset()


class _Dropped(Exception):
    """The server closed the connection (421 or a disconnect): reconnect once."""
