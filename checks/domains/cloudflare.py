"""Cloudflare's published proxy ranges (https://www.cloudflare.com/ips/, as of 2026-11): a proxied record answers
with these addresses and hides its CNAME."""

from __future__ import annotations

import ipaddress

RANGES = tuple(
    ipaddress.ip_network(net)
    for net in (
        "173.245.48.0/20", "103.21.244.0/22", "103.22.200.0/22", "103.31.4.0/22", "141.101.64.0/18",
        "108.162.192.0/18", "190.93.240.0/20", "188.114.96.0/20", "197.234.240.0/22", "198.41.128.0/17",
        "162.158.0.0/15", "104.16.0.0/13", "104.24.0.0/14", "172.64.0.0/13", "131.0.72.0/22",
        "2400:cb00::/32", "2606:4700::/32", "2803:f800::/32", "2405:b500::/32", "2405:8100::/32",
        "2a06:98c0::/29", "2c0f:f248::/32",
    )
)  # fmt: skip


def proxied(addresses: tuple[str, ...]) -> bool:
    """True when every address is Cloudflare's (and there is at least one)."""
    if not addresses:
        return False
    return all(any(ipaddress.ip_address(a) in net for net in RANGES) for a in addresses)
