"""The notice that tells a workspace its tracking domain changed state (verified, or failed), rendered once and
handed to the notice channels (:mod:`smtp_egress.notices.channels`) like an IP-change notice: an email (text), a
signed webhook (``"type": "tracking_domain_state"``), a Slack message. The channels send it; nothing here sends.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
from collections.abc import Sequence
from email.message import EmailMessage
from email.policy import SMTP
from typing import Any

from ..dates import rfc3339
from ..jsontypes import JSON
from ..notices.render import SIMULATED_SUBJECT, HeaderInjection, fold_header
from ..templating import environment
from .expected import BrandedDomains
from .names import unicode_name
from .records import RecordCheck
from .state import Transition

SIMULATED_TEXT = "SIMULATION: this notice comes from a simulation ledger (a test or demo); no domain changed state."


class TransitionNotice:
    """One workspace's state change; the interface the channels' senders use (subject, message parts, payload)."""

    def __init__(
        self, domains: BrandedDomains, transition: Transition, records: Sequence[RecordCheck], simulated: bool
    ):
        self.domains, self.transition = domains, transition
        shown = unicode_name(domains.tracking_domain)
        verb = "is verified" if transition.state == "verified" else "failed verification"
        self.subject = f"{SIMULATED_SUBJECT if simulated else ''}Your tracking domain {shown} {verb}"
        self.text = (
            environment("smtp_egress.domains", "txt.j2")
            .get_template("transition.txt.j2")
            .render(
                simulated=simulated,
                simulated_text=SIMULATED_TEXT,
                headline=self.subject.removeprefix(SIMULATED_SUBJECT),
                workspace_id=domains.workspace_id,
                tracking_domain=shown,
                bounce_name=domains.bounce_name,
                previous=transition.previous,
                state=transition.state,
                at=rfc3339(transition.at),
                records=records,
            )
        )
        msg = EmailMessage(policy=SMTP)
        msg.set_content(self.text, charset="utf-8", cte="quoted-printable")
        self._rest = (
            fold_header("Subject", self.subject).encode("ascii")
            + b"Auto-Submitted: auto-generated\r\n"
            + msg.as_bytes()
        )
        self._payload: dict[str, JSON] = {
            "type": "tracking_domain_state",
            "workspace_id": domains.workspace_id,
            "tracking_domain": domains.tracking_domain,
            "sending_domain": domains.sending_domain,
            "previous": transition.previous,
            "state": transition.state,
            "at": rfc3339(transition.at),
            "records": [
                {"name": r.expected.name, "type": r.expected.type, "status": r.status, "diagnosis": r.diagnosis}
                for r in records
            ],
            **({"simulated": True} if simulated else {}),
        }

    @property
    def message_id(self) -> str:
        """Deterministic per (workspace, transition): a resend carries the same one."""
        key = f"{self.domains.workspace_id}\0{self.transition.state}\0{rfc3339(self.transition.at)}"
        return f"<domainstate.{hashlib.sha256(key.encode()).hexdigest()[:32]}@smtp-egress.invalid>"

    def message_parts(
        self, *, to: str, workspace_id: str, message_id: str, from_addr: str, date: dt.datetime
    ) -> tuple[bytes, bytes]:
        if any(c in to + workspace_id + message_id + from_addr for c in "\r\n\0"):
            raise HeaderInjection(f"a header value for {to[:80]!r} holds a line break: refusing header injection")
        head = (
            f"From: {from_addr}\r\nTo: {to}\r\nDate: {email.utils.format_datetime(date.astimezone(dt.UTC))}\r\n"
            f"Message-ID: {message_id}\r\nX-Egress-Workspace: {workspace_id}\r\n"
        )
        return head.encode("utf-8"), self._rest

    def message_bytes(self, *, to: str, workspace_id: str, message_id: str, from_addr: str, date: dt.datetime) -> bytes:
        return b"".join(
            self.message_parts(to=to, workspace_id=workspace_id, message_id=message_id, from_addr=from_addr, date=date)
        )

    def webhook_payload(self, *, workspace_id: str, delivery_id: str) -> dict[str, JSON]:
        return {**self._payload, "delivery_id": delivery_id, "workspace_id": workspace_id}

    def slack_message(self, delivery_id: str) -> dict[str, Any]:
        """The Slack message (plain text: mrkdwn special characters escaped)."""
        safe = self.text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        return {"text": f"{safe[:3500]}\n(delivery {delivery_id})"}
