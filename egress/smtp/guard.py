"""Where a connection to a customer-entered SMTP host may go: the one destination rule of settings, probe and worker.

A host must resolve only to global unicast addresses (:func:`smtp_egress.ipforms.is_public`: no loopback,
private, link-local incl. 169.254.169.254, CGNAT, IPv4-mapped or unspecified). The caller connects to an
address this returned, never to the name again (a name can answer differently a moment later: DNS
rebinding). ``allow_private`` (``EGRESS_SMTP_ALLOW_PRIVATE=1``) lifts the rule for tests and labs. A refusal
reads the same whatever is behind the address, so the guard can't be used to map a network.
"""

from __future__ import annotations

import socket

from ..errors import ConfigError
from ..ipforms import is_public
from ..masking import excerpt

ALLOW_PRIVATE_ENV = "EGRESS_SMTP_ALLOW_PRIVATE"
SMTP_PORT_REFUSED = 25


class RefusedDestination(ConfigError):
    """The host is or resolves to an address the workers must not reach (or port 25)."""


class UnresolvableHost(ConfigError):
    """The host name does not resolve (NXDOMAIN, no address, or the resolver failed)."""


def checked_addresses(host: str, port: int, *, allow_private: bool = False) -> list[str]:
    """Every address of ``host`` (in resolver order), after checking all of them; raise if any is refused.

    One refused address refuses the host: otherwise a name with a public and a private address would reach
    the private one on a retry.
    """
    if port == SMTP_PORT_REFUSED:
        raise RefusedDestination(
            f"port 25 is refused for {excerpt(host)}: mail to customers' servers goes to 465 (implicit TLS) "
            "or 587/2525 (STARTTLS); cloud providers block outbound port 25"
        )
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnresolvableHost(f"{excerpt(host)} does not resolve: {exc}") from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise UnresolvableHost(f"{excerpt(host)} resolves to no address")
    if not allow_private and not all(is_public(a) for a in addresses):
        raise RefusedDestination(
            f"{excerpt(host)} is not a public address: the workers reach only global unicast addresses "
            f"(set {ALLOW_PRIVATE_ENV}=1 only for tests and labs)"
        )
    return addresses
