"""Click and open events in the ledger (``tracking_events``), and what of a client is kept.

Privacy: the client's address is never stored, only its network (an IPv4 address truncated to its /24, an IPv6
one to its /48: enough to tell countries and providers apart, not a person); the user agent is kept to its first
:data:`MAX_USER_AGENT` printable characters. The recipient is stored as the token names it: events exist to be
counted per message and recipient.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import ipaddress
from typing import Literal

import sqlalchemy as sa

from ..tables import tracking_events

MAX_USER_AGENT = 256
EventKind = Literal["click", "open"]


@dataclasses.dataclass(frozen=True)
class TrackingEvent:
    kind: EventKind
    message_id: str
    recipient: str
    tracking_domain: str
    occurred_at: dt.datetime
    link_index: int | None = None
    destination: str | None = None
    user_agent: str | None = None
    client_network: str | None = None


def client_network(address: str) -> str | None:
    """The address's /24 (IPv4) or /48 (IPv6) network, e.g. ``203.0.113.0/24`` (None: not an IP address)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    prefix = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


def bounded_user_agent(value: str | None) -> str | None:
    """At most :data:`MAX_USER_AGENT` characters of ``value``, control characters dropped (None when empty)."""
    if not value:
        return None
    text = "".join(c for c in value[: MAX_USER_AGENT * 4] if c.isprintable())[:MAX_USER_AGENT]
    return text or None


def record(conn: sa.Connection, event: TrackingEvent) -> None:
    conn.execute(tracking_events.insert().values(**dataclasses.asdict(event)))


def events_for(conn: sa.Connection, message_id: str, recipient: str | None = None) -> list[TrackingEvent]:
    """The events of a message (and recipient), oldest first."""
    query = sa.select(tracking_events).where(tracking_events.c.message_id == message_id)
    if recipient is not None:
        query = query.where(tracking_events.c.recipient == recipient)
    rows = conn.execute(query.order_by(tracking_events.c.event_id)).mappings()
    fields = [f.name for f in dataclasses.fields(TrackingEvent)]
    return [TrackingEvent(**{name: row[name] for name in fields}) for row in rows]
