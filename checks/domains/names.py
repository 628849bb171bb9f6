"""DNS names as the checks compare them: absolute, lowercase A-labels (IDNA 2008), with the trailing dot."""

from __future__ import annotations

import re
import secrets

import dns.exception
import dns.name

from ...errors import ConfigError
from ...masking import excerpt

_SIMPLE = re.compile(
    r"(?:[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\.){1,126}[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\.?"
)


class BadName(ConfigError):
    """An expected record names something that is not a DNS name."""


def absolute(name: str) -> str:
    """``Links.Example.COM`` -> ``links.example.com.``; a U-label name becomes its IDNA 2008 A-labels."""
    if _SIMPLE.fullmatch(name):  # the usual case, without dnspython's cost (bulk runs call this per lookup)
        return name.lower() if name.endswith(".") else name.lower() + "."
    try:
        if name.isascii():
            parsed = dns.name.from_text(name)
        else:
            parsed = dns.name.from_unicode(name, idna_codec=dns.name.IDNA_2008_Practical)
    except (dns.exception.DNSException, UnicodeError) as exc:
        raise BadName(f"{excerpt(name)} is not a DNS name ({exc}): fix the workspace's domain") from None
    return parsed.to_text().lower()


def shown(name: str) -> str:
    """A name for a message: A-labels, with the Unicode form beside them when it differs."""
    try:
        text = dns.name.from_text(name).to_unicode(idna_codec=dns.name.IDNA_2008_Practical)
    except (dns.exception.DNSException, UnicodeError):
        return name
    return name if text == name else f"{name} ({text})"


def parent(name: str) -> str:
    return name.split(".", 1)[1] or "."


def relative(name: str, zone: str) -> str:
    """``links.x.com.`` in ``x.com.`` -> ``links``."""
    return name[: -len(zone) - 1] if name.endswith("." + zone) else name


def probe_label() -> str:
    """A label no one has a record for: a random sibling answering means a wildcard does."""
    return f"egress-probe-{secrets.token_hex(6)}"


def sibling(name: str) -> str:
    return f"{probe_label()}.{parent(name)}".replace("..", ".")


def child(name: str) -> str:
    return f"{probe_label()}.{name}"
