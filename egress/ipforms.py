"""Which addresses may be egress addresses, and which may be contacted: the forms an IP address can hide in.

An IPv6 address can carry an IPv4 address: the IPv4-mapped (``::ffff:127.0.0.1``) and IPv4-compatible
(``::127.0.0.1``) forms, NAT64 (``64:ff9b::7f00:1``, RFC 6052; the local-use prefix ``64:ff9b:1::/48``,
RFC 8215), 6to4 (``2002:7f00:1::``, RFC 3056), Teredo (``2001::/32``, RFC 4380) and ISATAP (an interface
identifier ``0:5efe:a.b.c.d``, RFC 5214). A text form can also carry a zone (``fe80::1%eth0``).

- An egress address (:func:`parse_address`) is written in its own family, without a zone: none of these
  forms is accepted (the IPv4-mapped form of a listed address would also hide a duplicate).
- A destination (:func:`is_public`, the SSRF guard of webhooks, Slack and the published list's redirects)
  is public only if the address *and* any IPv4 address it carries are global unicast.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Documentation ranges (RFC 5737, RFC 3849): allowed so that examples and tests never name a real address.
DOCUMENTATION_NETS = tuple(
    ipaddress.ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")
)
_COMPATIBLE = ipaddress.IPv6Network("::/96")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")
_ISATAP_IDS = (0x00005EFE, 0x02005EFE)  # bits 32-63 of the interface identifier


def carried_ipv4(ip: ipaddress.IPv6Address) -> tuple[str, ipaddress.IPv4Address | None] | None:
    """``(form, the IPv4 address it carries)`` when ``ip`` is one of the IPv4-carrying forms (the address is
    None for local-use NAT64, whose position depends on the operator's prefix length), else None."""
    value = int(ip)
    low32 = ipaddress.IPv4Address(value & 0xFFFFFFFF)
    if ip.ipv4_mapped is not None:
        return "IPv4-mapped", ip.ipv4_mapped
    if ip in _COMPATIBLE and value > 1:  # :: and ::1 are IPv6's own unspecified and loopback addresses
        return "IPv4-compatible", low32
    if ip in _NAT64:
        return "NAT64", low32
    if ip in _NAT64_LOCAL:
        return "local-use NAT64", None
    if ip.sixtofour is not None:
        return "6to4", ip.sixtofour
    if ip.teredo is not None:
        return "Teredo", ip.teredo[1]
    if (value >> 32) & 0xFFFFFFFF in _ISATAP_IDS:
        return "ISATAP", low32
    return None


def is_public(address: str) -> bool:
    """May a connection go to ``address`` (as ``getaddrinfo`` or a socket gives it)? Global unicast only, and
    so is any IPv4 address it carries; an address with a zone (``%eth0``) is link-scoped, never public."""
    if "%" in address:
        return False
    ip = ipaddress.ip_address(address)
    if not ip.is_global or ip.is_multicast:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        carried = carried_ipv4(ip)
        if carried is not None:
            inner = carried[1]
            return inner is not None and inner.is_global and not inner.is_multicast
    return True


def sort_addresses(ips: Iterable[IPAddress]) -> list[IPAddress]:
    """IPv4 first, then IPv6, each numerically: the canonical order of every list we publish."""
    return sorted(ips, key=lambda ip: (ip.version, int(ip)))


def is_allowed_address(ip: IPAddress) -> bool:
    """Global unicast, or inside a documentation range."""
    if any(ip in net for net in DOCUMENTATION_NETS if net.version == ip.version):
        return True
    return ip.is_global and not ip.is_multicast


def parse_address(text: object) -> IPAddress:
    """Parse one egress address strictly (no prefix length, no zone, no leading zeros, no IPv4 carried in
    IPv6); ValueError with a reason."""
    if not isinstance(text, str):
        raise ValueError("is not a string address")
    if "%" in text:
        raise ValueError("carries a zone ('%...'), which only link-local addresses have; write the address alone")
    try:
        ip = ipaddress.ip_address(text.strip())
    except ValueError:
        raise ValueError("is not an IPv4 or IPv6 address") from None
    if text != text.strip():
        raise ValueError("has surrounding white space")
    carried = carried_ipv4(ip) if isinstance(ip, ipaddress.IPv6Address) else None
    if carried is not None:
        form, inner = carried
        of = f" of {inner}" if inner is not None else ""
        own = f"; write it as {inner}" if form in ("IPv4-mapped", "IPv4-compatible") else ""
        raise ValueError(f"is the {form} form{of}: a transition form, not an address a worker sends from{own}")
    if not is_allowed_address(ip):
        raise ValueError(
            "is not a global unicast address (private, loopback, link-local, CGNAT, multicast and "
            "reserved ranges cannot be egress addresses)"
        )
    return ip
