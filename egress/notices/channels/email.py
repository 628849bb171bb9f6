"""The email channel: every workspace's notice as a MIME message, over SMTP or into the Maildir outbox.

Column ``email`` (required). The message is the rendered notice of a batch (text + HTML + an ICS calendar
file) with per-recipient headers; its Message-ID is the delivery's idempotency key (deterministic per batch
and workspace; the Maildir outbox names its file after it, so a crash never writes a notice twice).
One SMTP server is behind every email: after :data:`MAX_CONSECUTIVE_TRANSIENT` transient failures in a
row it is taken to be down, and the remaining emails stay pending for the next run.

Preflight (every run, before anything is recorded): the From is an address; the CA file, if set, is a
readable PEM certificate; with an SMTP URL, the URL's form, then a real session (connect, EHLO, STARTTLS
when offered, AUTH with the URL's credentials, QUIT); without one, the Maildir outbox can be written.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING

from .base import Option, StackSecret, Streak, option_values, origin, send_each

if TYPE_CHECKING:
    from ...ledger import Delivery
    from ..render import RenderedNotice
    from ..transport import Transport
    from .base import Outcome

DEFAULT_OUTBOX = ".egress/outbox"
DEFAULT_SENDER = "smtp-egress IP notices <ip-notices@localhost>"
MAX_CONSECUTIVE_TRANSIENT = 5
DEFAULT_CONNECTIONS = 4
MAX_CONNECTIONS = 20
_LOCAL = r"[^@\s<>(),;:\"\[\]\\]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?"
ADDRESS = re.compile(rf"^{_LOCAL}@{_LABEL}(?:\.{_LABEL})+$")


@dataclasses.dataclass(frozen=True)
class EmailSettings:
    """SMTP when ``smtp_url`` is set, else the Maildir ``outbox``; ``sender`` is the From: of notices."""

    smtp_url: str | None = dataclasses.field(repr=False)
    outbox: str
    smtp_cafile: str | None
    sender: str
    connections: int = DEFAULT_CONNECTIONS  # SMTP sessions in flight at once
    sources: Mapping[str, str] = dataclasses.field(default_factory=dict, compare=False, repr=False)

    def origin(self, key: str) -> str:
        """Where the setting ``key`` came from (``--outbox``, ``EGRESS_OUTBOX``, the default), for messages."""
        return origin(EmailChannel.options, self.sources, key)


class EmailChannel:
    name = "email"
    column = "email"
    required = True
    example = "ops@customer.example"
    summary = (
        "one message per batch: multipart text + HTML listing every change, with an ICS calendar file (an event per "
        "effective day), over SMTP or into a Maildir"
    )
    idempotency = "`Message-ID`, deterministic per (batch, workspace); the Maildir outbox names its file after it"
    options = (
        Option(
            "outbox",
            "EGRESS_OUTBOX",
            "Maildir for notices when no SMTP URL is set (env EGRESS_OUTBOX; default: .egress/outbox in the project "
            "folder, beside the default ledger)",
            "--outbox",
            "DIR",
            DEFAULT_OUTBOX,
        ),
        Option(
            "smtp_url",
            "EGRESS_SMTP_URL",
            "smtp://[user:pass@]host[:port][?tls=required] or smtps://... (env EGRESS_SMTP_URL)",
            "--smtp-url",
            "URL",
        ),
        Option(
            "smtp_cafile",
            "EGRESS_SMTP_CAFILE",
            "extra CA certificate to trust for SMTP TLS (env EGRESS_SMTP_CAFILE)",
            "--smtp-cafile",
            "FILE",
        ),
        Option("sender", "EGRESS_FROM", "From: of notices (env EGRESS_FROM)", "--from", "ADDRESS", DEFAULT_SENDER),
        Option(
            "connections",
            "EGRESS_SMTP_CONNECTIONS",
            f"SMTP sessions in flight at once, 1..{MAX_CONNECTIONS} (env EGRESS_SMTP_CONNECTIONS; default "
            f"{DEFAULT_CONNECTIONS})",
            "--smtp-connections",
            "N",
            str(DEFAULT_CONNECTIONS),
        ),
    )
    secrets = (
        StackSecret(
            "EGRESS_SMTP_URL",
            "smtpUrl",
            True,
            "notices must leave over SMTP; the default Maildir outbox vanishes with the task",
        ),
    )

    def problem(self, target: str) -> str | None:
        return None if ADDRESS.match(target) else "is not an address like ops@customer.example"

    def mask(self, target: str) -> str:
        return target  # an address is not a secret

    def settings(self, values: Mapping[str, str | None], sources: Mapping[str, str] | None = None) -> EmailSettings:
        v = option_values(self.options, values)
        return EmailSettings(
            smtp_url=v["smtp_url"] or None,
            outbox=v["outbox"] or DEFAULT_OUTBOX,
            smtp_cafile=v["smtp_cafile"] or None,
            sender=v["sender"] or DEFAULT_SENDER,
            connections=_connections(v["connections"], origin(self.options, sources, "connections")),
            sources=dict(sources or {}),
        )

    def preflight(self, settings: EmailSettings, targets: int) -> None:
        from ...errors import ChannelUnreachable, ConfigError, DeliveryError
        from ..transport import SmtpTransport, check_cafile, check_outbox

        problem = None if settings.sender == DEFAULT_SENDER else sender_problem(settings.sender)
        if problem:  # the default (a local demo address) passes; `egress notify` warns about it over SMTP
            where = settings.origin("sender")
            raise ConfigError(f"the From of notices ({where}) {settings.sender[:200]!r} {problem}")
        if settings.smtp_cafile:
            check_cafile(settings.smtp_cafile, settings.origin("smtp_cafile"))
        if not settings.smtp_url:
            check_outbox(settings.outbox, settings.origin("outbox"))
            return
        try:
            transport = SmtpTransport(settings.smtp_url, cafile=settings.smtp_cafile)
        except ConfigError as exc:
            raise ConfigError(f"{settings.origin('smtp_url')}: {exc}") from None
        try:
            transport.check()
        except DeliveryError as exc:
            raise ChannelUnreachable(f"the SMTP server of {transport.url!r} failed the check: {exc}") from None
        finally:
            transport.close()

    def open(self, settings: EmailSettings) -> EmailSender:
        from ..transport import open_transport

        transport = open_transport(settings.smtp_url, settings.outbox, settings.smtp_cafile)
        return EmailSender(transport, settings.sender, settings.connections)


class EmailSender:
    """Over SMTP, the run's notices go out as one stream over up to ``connections`` sessions
    (:mod:`smtp_egress.notices.smtp_pool`); into the Maildir, one after the other. Outcomes count towards the
    server's streak in the order they arrive: after :data:`MAX_CONSECUTIVE_TRANSIENT` transient failures in a
    row (on any of the sessions, with no acceptance in between) no further notice is started; those already
    started on the open sessions (at most two per session) finish."""

    def __init__(self, transport: Transport, from_addr: str, connections: int = DEFAULT_CONNECTIONS):
        self.transport, self.from_addr, self.connections = transport, from_addr, connections
        self.streak = Streak(MAX_CONSECUTIVE_TRANSIENT)

    def held(self, d: Delivery) -> str | None:
        if self.streak.down(""):
            return f"the SMTP server failed {MAX_CONSECUTIVE_TRANSIENT} times in a row"
        return None

    def delivered(self, d: Delivery) -> bool:
        if self.transport.delivered(d.message_id):
            self.streak.succeeded("")
            return True
        return False

    def send(self, d: Delivery, notice: RenderedNotice, now: dt.datetime) -> None:
        from ...errors import DeliveryError

        try:
            self.transport.send(
                sender=envelope_sender(self.from_addr),
                recipient=d.target,
                message_id=d.message_id,
                data=render(notice, d, self.from_addr, now),
            )
        except DeliveryError as exc:
            self.streak.failed("", exc)
            raise
        self.streak.succeeded("")

    def send_all(
        self,
        notices: Iterator[tuple[Delivery, RenderedNotice]],
        now: Callable[[], dt.datetime],
        done: Outcome,
    ) -> None:
        from ...errors import DeliveryError
        from ..smtp_pool import Message, send_all
        from ..transport import SmtpTransport

        if not isinstance(self.transport, SmtpTransport):  # the Maildir outbox: one file after the other
            send_each(self, notices, now, done)
            return
        sender = envelope_sender(self.from_addr)

        def messages() -> Iterator[Message]:
            for d, notice in notices:
                head, body = notice.message_parts(
                    to=d.target,
                    workspace_id=d.workspace_id,
                    message_id=d.message_id,
                    from_addr=self.from_addr,
                    date=now().replace(microsecond=0),  # the Date header's precision: formatted once a second
                )
                yield Message(d, sender, d.target, head, body)

        def finished(m: Message, error: DeliveryError | None) -> None:
            if error is None:
                self.streak.succeeded("")
            else:
                self.streak.failed("", error)
            done(m.key, error)  # type: ignore[arg-type]  # the key is the Delivery messages() gave

        send_all(self.transport, self.connections, messages(), finished)

    def close(self) -> None:
        self.transport.close()


def _connections(value: str | None, source: str) -> int:
    """The number of SMTP sessions in flight; ConfigError naming ``source`` (the flag, variable or default)."""
    from ...errors import ConfigError
    from ...masking import excerpt

    text = (value or str(DEFAULT_CONNECTIONS)).strip()
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_CONNECTIONS:
        raise ConfigError(
            f"{source} {excerpt(text, 40)}: the SMTP sessions in flight must be a whole number from 1 to "
            f"{MAX_CONNECTIONS}"
        )
    return int(text)


def render(notice: RenderedNotice, d: Delivery, from_addr: str, now: dt.datetime) -> bytes:
    """The complete message for ``d`` (CRLF line endings), its Message-ID the delivery's."""
    return notice.message_bytes(
        to=d.target, workspace_id=d.workspace_id, message_id=d.message_id, from_addr=from_addr, date=now
    )


def envelope_sender(address: str) -> str:
    """The envelope sender: the address inside 'Name <addr>', or the text itself."""
    if "<" in address and address.endswith(">"):
        return address[address.rindex("<") + 1 : -1]
    return address


def sender_problem(value: str) -> str | None:
    """Why ``value`` cannot be the From: of notices (None when it can): 'addr@domain' or 'Name <addr@domain>'
    with a real domain (``ip-notices@localhost`` is not one), on one line."""
    if any(c in value for c in "\r\n\0"):
        return "is not one line"
    if not ADDRESS.match(envelope_sender(value.strip())):
        return "is not an address like ip-notices@platform.example or 'IP notices <ip-notices@platform.example>'"
    return None


CHANNEL = EmailChannel()
