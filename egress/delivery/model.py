"""What a delivery takes and gives back: the envelope, and one outcome per recipient (the worker's interface)."""

from __future__ import annotations

import dataclasses
from typing import Literal

OutcomeKind = Literal["delivered", "deferred", "failed"]


@dataclasses.dataclass(frozen=True)
class Envelope:
    sender: str  # the MAIL FROM address ("" for a null sender)
    recipients: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class RecipientOutcome:
    """``delivered``: the server accepted it (``code``/``reply`` are its answer to the final dot);
    ``deferred``: 4xx or connection trouble, retry later; ``failed``: 5xx or refused by policy, never retried.
    ``code`` is None when no SMTP reply was had (connection lost, refused destination, TLS failure)."""

    recipient: str
    kind: OutcomeKind
    code: int | None
    reply: str  # the server's reply text, or our reason in words; never a credential


@dataclasses.dataclass(frozen=True)
class Delivery:
    """The outcome of one message: per recipient, and the exact bytes that went out after DATA (before
    dot-stuffing), which the archive keeps."""

    outcomes: tuple[RecipientOutcome, ...]
    sent: bytes
    server_label: str
    peer: str | None = None  # the address actually connected to
