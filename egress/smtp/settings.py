"""Validation of a workspace's SMTP server settings on save: pure rules, no I/O (the destination check,
which resolves the host, is :func:`check_destination`).

- port 25 is refused (cloud providers block it; customers' servers take mail on 465, 587 or 2525);
- 465 means ``implicit-tls``, 587 and 2525 mean ``starttls``: a mismatch is refused with the explanation of the
  "wrong version number" symptom it would cause; any other port needs the security given explicitly;
- the host is normalised: IDNA A-label, lowercase, no trailing dot; a literal address (``[v6]`` accepted) is
  kept as written in canonical form, without a zone;
- the certificate check is ``verify`` or ``fingerprint:<64 hex digits>`` (openssl's ``AB:CD:...`` accepted);
  there is no way to skip verification;
- campaign types are short tokens (lowercase letters, digits, ``_``, ``-``);
- a user name needs a password and a password a user name.

Every problem names the value (a bounded excerpt; never a password) and where it came from: the flag, or
``file:line: column`` of an import.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from collections.abc import Callable, Mapping

from ..errors import ConfigError
from ..masking import excerpt
from .guard import ALLOW_PRIVATE_ENV, checked_addresses
from .model import FINGERPRINT_PREFIX, SECURITIES, VERIFY, Security

WORKSPACE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,199}")  # as a workspace of the ledger (workspaces.py)
CAMPAIGN_TYPE = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
MAX_CAMPAIGN_TYPES = 50
IMPLIED: dict[int, Security] = {465: "implicit-tls", 587: "starttls", 2525: "starttls"}
_HEX = re.compile(r"[0-9a-f]{64}")
WRONG_VERSION = (
    "port 465 speaks TLS from the first byte (implicit TLS), 587 and 2525 speak plain SMTP first and switch to "
    "TLS with STARTTLS; a client set up the other way round fails with 'wrong version number' (it reads a "
    "plain-text '220' greeting where a TLS record was expected) or waits for a greeting that never comes"
)
Where = Callable[[str], str]  # a field's name -> where its value came from ("--host", "servers.csv:3: host")


class SettingsInvalid(ConfigError):
    """One or more settings of a server are wrong; ``problems`` holds each, naming the value and its source."""

    def __init__(self, problems: list[str], head: str = "the SMTP server settings are invalid"):
        self.problems = list(problems)
        lines = self.problems[:50] + ([f"... and {len(problems) - 50} more"] if len(problems) > 50 else [])
        super().__init__("\n  ".join([f"{head}:", *lines]) if len(lines) > 1 else f"{head}: {lines[0]}")


@dataclasses.dataclass(frozen=True)
class ServerSettings:
    """A server's settings as stored, without its password (``has_password`` says whether one is given)."""

    workspace_id: str
    host: str
    port: int
    security: Security
    username: str | None = None
    certificate: str = VERIFY
    campaign_types: tuple[str, ...] = ()
    default: bool = False
    require_tls: bool = True

    @property
    def server_id(self) -> str:
        """Unique within the workspace: ``host:port`` (``[v6]:port`` for an IPv6 literal)."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def flag_names(field: str) -> str:
    """Where a value came from on the command line: its flag."""
    return {"workspace_id": "--workspace", "password": "--password-file"}.get(field, f"--{field.replace('_', '-')}")


def validate(raw: Mapping[str, object], where: Where = flag_names, *, has_password: bool = False) -> ServerSettings:
    """The settings of ``raw`` (workspace_id, host, port, security, username, certificate, campaign_types,
    default) checked and normalised; :class:`SettingsInvalid` listing every problem otherwise."""
    problems: list[str] = []

    def bad(field: str, value: object, why: str) -> None:
        problems.append(f"{where(field)} {excerpt(value, 60)} {why}")

    workspace = _text(raw.get("workspace_id"))
    if not WORKSPACE_ID.fullmatch(workspace):
        bad(
            "workspace_id",
            workspace,
            "must be 1-200 letters, digits, '.', '_', ':' or '-', starting with one of the first two",
        )
    host, why = normalise_host(raw.get("host"))
    if why:
        bad("host", raw.get("host"), why)
    port = _port(raw.get("port"))
    security = _text(raw.get("security")) or None
    if port is None:
        bad("port", raw.get("port"), "is not a port number (1-65535)")
    elif port == 25:
        bad(
            "port",
            raw.get("port"),
            "is refused: cloud providers block outbound port 25; use 465 (implicit TLS) or 587/2525 (STARTTLS)",
        )
    if security is not None and security not in SECURITIES:
        bad("security", security, f"must be one of {', '.join(SECURITIES)}")
    elif port is not None and port != 25:
        security, why = security_for(port, security)
        if why:
            bad("security" if raw.get("security") else "port", raw.get("security") or raw.get("port"), why)
    username = _text(raw.get("username")) or None
    if username is not None and (not username.isprintable() or len(username) > 320):
        bad("username", username, "must be at most 320 printable characters")
    if username is not None and not has_password:
        problems.append(f"{where('username')} is given without a password: give {where('password')} too")
    if username is None and has_password:
        problems.append(f"a password is given ({where('password')}) without a user name: give {where('username')}")
    certificate, why = normalise_certificate(raw.get("certificate") or VERIFY)
    if why:
        bad("certificate", raw.get("certificate"), why)
    types, why = campaign_types(raw.get("campaign_types"))
    if why:
        bad("campaign_types", raw.get("campaign_types"), why)
    if problems:
        raise SettingsInvalid(problems)
    assert port is not None and security in SECURITIES
    return ServerSettings(workspace, host, port, security, username, certificate, types, bool(raw.get("default")))


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def _port(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().isdigit() and value.strip().isascii():
        value = int(value.strip())
    return value if isinstance(value, int) and 0 < value < 65536 else None


def security_for(port: int, security: str | None) -> tuple[Security | None, str | None]:
    """The security of ``port`` (given, or implied by 465/587/2525), or why it is wrong."""
    implied = IMPLIED.get(port)
    if implied is None:
        if security is None:
            return None, "is not 465, 587 or 2525: say which security it speaks (--security implicit-tls or starttls)"
        return security, None  # type: ignore[return-value]
    if security is not None and security != implied:
        return None, f"does not match port {port}, which means {implied}: {WRONG_VERSION}"
    return implied, None


def normalise_host(value: object) -> tuple[str, str | None]:
    """``(host, None)``: the A-label, lowercase, without a trailing dot, or a literal address in canonical
    form; ``("", why)`` when it cannot be a host."""
    text = _text(value)
    if not text:
        return "", "is empty: give the server's host name"
    literal = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    if "%" in literal:
        return "", "carries a zone ('%...'): link-local addresses are never a customer's server"
    try:
        return str(ipaddress.ip_address(literal)), None
    except ValueError:
        pass
    name = text[:-1] if text.endswith(".") else text
    if len(name) > 253 or not name:
        return "", "is not a host name (1-253 characters)"
    try:
        import idna

        a_label = idna.encode(name, uts46=True).decode("ascii").lower()
    except (idna.IDNAError, UnicodeError) as exc:
        return "", f"is not a valid host name ({str(exc)[:120]})"
    if len(a_label) > 253 or ("." not in a_label and a_label != "localhost"):
        return "", "is not a fully qualified host name (e.g. smtp.example.com)"
    return a_label, None


def normalise_certificate(value: object) -> tuple[str, str | None]:
    """``verify`` or ``fingerprint:<64 lowercase hex digits>``, or why ``value`` is neither."""
    text = _text(value)
    if text.lower() == VERIFY:
        return VERIFY, None
    if text.lower().startswith(FINGERPRINT_PREFIX):
        digits = text[len(FINGERPRINT_PREFIX) :].replace(":", "").lower()
        if _HEX.fullmatch(digits):
            return FINGERPRINT_PREFIX + digits, None
        return "", "is not fingerprint:<SHA-256 of the certificate, 64 hex digits> (egress smtp test prints it)"
    return "", (
        "must be 'verify' or 'fingerprint:<sha256>'; there is no way to skip verification: for a self-signed "
        "certificate pin its fingerprint (egress smtp test prints it)"
    )


def campaign_types(value: object) -> tuple[tuple[str, ...], str | None]:
    """The campaign types of ``value`` (a comma-separated string or a list), or why they are wrong."""
    if value is None or value == "":
        return (), None
    items = value.split(",") if isinstance(value, str) else value if isinstance(value, list) else None
    if items is None or not all(isinstance(i, str) for i in items):
        return (), "must be a comma-separated list of campaign types"
    types = [i.strip() for i in items if i.strip()]
    wrong = [t for t in types if not CAMPAIGN_TYPE.fullmatch(t)]
    if wrong:
        return (), f"holds {excerpt(wrong[0], 40)}: a campaign type is 1-64 lowercase letters, digits, '_' or '-'"
    if len(types) > MAX_CAMPAIGN_TYPES or len(set(types)) != len(types):
        return (), f"must name each campaign type once, at most {MAX_CAMPAIGN_TYPES}"
    return tuple(types), None


def check_destination(settings: ServerSettings, where: Where = flag_names, *, allow_private: bool = False) -> None:
    """Refuse a host that does not resolve, or resolves to anything but global unicast addresses
    (:func:`smtp_egress.smtp.guard.checked_addresses`; ``allow_private``: ``EGRESS_SMTP_ALLOW_PRIVATE=1``)."""
    from .guard import RefusedDestination, UnresolvableHost

    try:
        checked_addresses(settings.host, settings.port, allow_private=allow_private)
    except RefusedDestination:
        why = f"is refused: the workers reach only public (global unicast) addresses ({ALLOW_PRIVATE_ENV}=1: labs)"
        raise SettingsInvalid([f"{where('host')} {excerpt(settings.host, 60)} {why}"]) from None
    except UnresolvableHost as exc:
        raise SettingsInvalid([f"{where('host')}: {exc}"]) from None
