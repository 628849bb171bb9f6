"""Domain names as the platform stores them, and the bounce label it assigns.

A name a customer gives (``Links.Bücher.example.``) is stored as its A-labels (IDNA 2008 with the UTS 46 mapping
that lowercases it: ``links.xn--bcher-kva.example``), without the trailing dot; every comparison is between such
names, so it is case-insensitive and absolute by construction. :func:`domain_name` refuses what cannot be a host
name: an empty label, a label of more than 63 octets, an underscore, a space, a symbol IDNA 2008 disallows (an
emoji), an invalid ``xn--`` label, an IP address, a single label.

A bounce label (``bounce_label``) names the workspace's MX record under its sending domain
(``<bounce_label>.<sending_domain>``). The platform assigns it once, from a random source (never derived from the
workspace id or domain, so one customer's name says nothing about another's), and it never changes.
"""

from __future__ import annotations

import secrets

import idna

MAX_NAME = 253
BOUNCE_PREFIX = "bounce-"
_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"  # base32, lowercase: letters and digits only


class BadDomainName(ValueError):
    """A name that cannot be a host name; the message says why, as the end of a sentence."""


def domain_name(text: str) -> str:
    """The stored form of ``text``: A-labels, lowercase, no trailing dot; :class:`BadDomainName` saying why not."""
    name = text.strip()
    if name.endswith("."):
        name = name[:-1]
    if not name:
        raise BadDomainName("is empty")
    if "_" in name:
        raise BadDomainName("holds an underscore, which a host name cannot")
    try:
        ascii_name = idna.encode(name, uts46=True, std3_rules=True).decode("ascii")
    except idna.IDNAError as exc:
        raise BadDomainName(f"is not a valid domain name (IDNA 2008: {str(exc)[:120]})") from None
    except UnicodeError:
        raise BadDomainName("is not a valid domain name (a label is too long or empty)") from None
    labels = ascii_name.split(".")
    if len(labels) < 2:
        raise BadDomainName("is a single label; give a full domain name like links.example.com")
    if labels[-1].isdigit():
        raise BadDomainName("looks like an IP address; give a domain name")
    if len(ascii_name) > MAX_NAME:
        raise BadDomainName(f"is longer than {MAX_NAME} characters once encoded")
    return ascii_name


def unicode_name(name: str) -> str:
    """``name`` (A-labels) as people read it (U-labels), or ``name`` itself if it does not decode."""
    try:
        return str(idna.decode(name))
    except (idna.IDNAError, UnicodeError):
        return name


def new_bounce_label() -> str:
    """A fresh label: ``bounce-`` and 12 random base32 characters (60 bits), one DNS label."""
    return BOUNCE_PREFIX + "".join(secrets.choice(_ALPHABET) for _ in range(12))
