"""Tell workspaces that their tracking domain changed state, on their notice channels.

Each transition of a run becomes one :class:`~smtp_egress.domains.notice.TransitionNotice`, handed to every
registered channel that reaches the workspace (:func:`.notices.open_channels`: the same senders, settings and
guards as IP-change notices). Each delivery's outcome is recorded in the workspace's domain history (``kind``
"notice": ``sent`` or ``failed`` with the channel's error); a failed one makes the run exit 6. A transition
notice is sent by the run that made the transition and not retried by later runs (the history keeps it).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING

import sqlalchemy as sa

from smtp_egress.errors import DeliveryError

if TYPE_CHECKING:
    from smtp_egress.ledger import Ledger

    from .domains_verify import Verified
    from .notices import NoticeSettings


@dataclasses.dataclass(frozen=True)
class NoticeOutcome:
    sent: int
    failed: int
    errors: tuple[str, ...]


def announce(
    ledger: Ledger, items: Sequence[Verified], settings: NoticeSettings, moment: dt.datetime, simulated: bool
) -> NoticeOutcome:
    from smtp_egress.domains.notice import TransitionNotice
    from smtp_egress.ledger import Delivery
    from smtp_egress.notices.channels import mask
    from smtp_egress.tables import domain_history

    from .notices import open_channels

    targets = {w.workspace_id: w.targets for w in ledger.workspaces()}
    sent, failed, problems, rows = 0, 0, [], []
    channels = open_channels(settings, simulated=simulated)
    try:
        for item in items:
            assert item.transition is not None
            notice = TransitionNotice(item.domains, item.transition, item.check.records, simulated)
            ws = item.domains.workspace_id
            for name, target in sorted(targets.get(ws, {}).items()):
                sender = channels.senders.get(name)
                if sender is None:
                    continue
                d = Delivery(f"domain-state/{ws}", ws, name, target, "pending", 0, notice.message_id)
                try:
                    sender.send(d, notice, moment)  # type: ignore[arg-type]  # the notice has the senders' interface
                except DeliveryError as exc:
                    failed += 1
                    problems.append(f"{ws} ({name} {mask(name, target)}): {exc}")
                    rows.append(_row(ws, moment, "failed", f"{name}: {str(exc)[:500]}"))
                    continue
                sent += 1
                rows.append(_row(ws, moment, "sent", name))
    finally:
        channels.close()
    if rows:
        with ledger.conn.begin():
            ledger.conn.execute(sa.insert(domain_history), rows)
    return NoticeOutcome(sent, failed, tuple(problems))


def _row(workspace_id: str, at: dt.datetime, status: str, summary: str) -> dict[str, object]:
    return {
        "workspace_id": workspace_id,
        "at": at,
        "kind": "notice",
        "status": status,
        "previous": None,
        "summary": summary,
    }
