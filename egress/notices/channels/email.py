"""The email channel: every workspace's notice as a MIME message, over SMTP or into the Maildir outbox.

Column ``email`` (required). The message is the rendered notice (text + HTML + an ICS calendar file)
with per-recipient headers; its Message-ID is the delivery's idempotency key (deterministic per change
and workspace; the Maildir outbox names its file after it, so a crash never writes a notice twice).
One SMTP server is behind every email: after :data:`MAX_CONSECUTIVE_TRANSIENT` transient failures in a
row it is taken to be down, and the remaining emails stay pending for the next run.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

from .base import Option, StackSecret, Streak, option_values

if TYPE_CHECKING:
    from ...ledger import Delivery
    from ..render import RenderedNotice
    from ..transport import Transport

DEFAULT_OUTBOX = ".egress/outbox"
DEFAULT_SENDER = "smtp-egress IP notices <ip-notices@localhost>"
MAX_CONSECUTIVE_TRANSIENT = 5
ADDRESS = re.compile(
    r"^[^@\s<>(),;:\"\[\]\\]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?)+$"
)


@dataclasses.dataclass(frozen=True)
class EmailSettings:
    """SMTP when ``smtp_url`` is set, else the Maildir ``outbox``; ``sender`` is the From: of notices."""

    smtp_url: str | None = dataclasses.field(repr=False)
    outbox: str
    smtp_cafile: str | None
    sender: str


class EmailChannel:
    name = "email"
    column = "email"
    required = True
    example = "ops@customer.example"
    summary = "multipart text + HTML with an ICS calendar file for the effective date, over SMTP or into a Maildir"
    idempotency = "`Message-ID`, deterministic per (change, workspace); the Maildir outbox names its file after it"
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

    def settings(self, values: Mapping[str, str | None]) -> EmailSettings:
        v = option_values(self.options, values)
        return EmailSettings(
            smtp_url=v["smtp_url"] or None,
            outbox=v["outbox"] or DEFAULT_OUTBOX,
            smtp_cafile=v["smtp_cafile"] or None,
            sender=v["sender"] or DEFAULT_SENDER,
        )

    def open(self, settings: EmailSettings) -> EmailSender:
        from ..transport import open_transport

        return EmailSender(open_transport(settings.smtp_url, settings.outbox, settings.smtp_cafile), settings.sender)


class EmailSender:
    def __init__(self, transport: Transport, from_addr: str):
        self.transport, self.from_addr = transport, from_addr
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

    def close(self) -> None:
        self.transport.close()


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


CHANNEL = EmailChannel()
