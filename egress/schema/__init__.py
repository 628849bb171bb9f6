"""The JSON Schema of the published document, built from the code's own constants.

``ip_addresses.schema.json`` next to this module (the file the README points customers at) is generated
from :func:`build_schema` by :func:`schema_text`; a test regenerates it and fails if the two differ
(regenerate with ``EGRESS_UPDATE_GOLDEN=1 pytest tests/egress/test_schema.py``). So the schema's
``notice_days`` minimum is :data:`smtp_egress.plan.MIN_NOTICE_DAYS`, never a second copy of the promise.
"""

from __future__ import annotations

import copy
import json

from .. import plan
from ..jsontypes import JSON, JSONObject

SCHEMA_NAME = "ip_addresses.schema.json"
_INSTANT = "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$"
_DAY = "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
_HEX = "[0-9a-fA-F]{1,4}"
_OCTET = "(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_V4 = f"{_OCTET}(?:\\.{_OCTET}){{3}}"


def _ipv6_pattern() -> str:
    """Every text form of an IPv6 address (RFC 4291 2.2): eight groups, or ``::`` standing for one or more
    groups of zeros with n groups before it and at most 7 - n after, each optionally ending in a dotted IPv4
    address that counts as two groups. Built from those rules rather than written by hand."""
    forms = [f"(?:{_HEX}:){{7}}{_HEX}", f"(?:{_HEX}:){{6}}{_V4}"]
    for n in range(8):
        left = f"(?:{_HEX}:){{{n - 1}}}{_HEX}::" if n else "::"
        right = f"(?:{_HEX}(?::{_HEX}){{0,{6 - n}}})?" if n < 7 else ""
        forms.append(left + right)
        if n <= 5:
            forms.append(f"{left}(?:{_HEX}:){{0,{5 - n}}}{_V4}")
    return "|".join(forms)


_ADDRESS: dict[str, JSON] = {
    "type": "string",
    "minLength": 2,
    "maxLength": 45,
    "anyOf": [
        {"format": "ipv4", "pattern": f"^{_V4}$"},
        {"format": "ipv6", "pattern": f"^(?:{_ipv6_pattern()})$"},
    ],
}


def _address() -> JSONObject:
    """An IPv4 or IPv6 address: as a pattern (checked by every validator) and a format (by those that check it)."""
    return copy.deepcopy(_ADDRESS)


def build_schema() -> JSONObject:
    """The schema as a dict (what :func:`smtp_egress.document.load_schema` returns)."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://smtp-egress.invalid/schema/{SCHEMA_NAME}",
        "title": "smtp-egress published IP address document",
        "description": "What GET /v1/info/ip_addresses?region=R serves. 'ip_addresses' is the compatible core: the "
        "addresses that may send mail for the region today, sorted (IPv4 then IPv6, numerically). "
        "'upcoming' lists announced future changes only. 'simulated' (optional) is present, and true, only "
        "in a document made from a simulation ledger (tests, demos): never allowlist from such a document.",
        "type": "object",
        "required": ["ip_addresses", "region", "sync_token", "created_at", "sha256", "notice_days", "upcoming"],
        "additionalProperties": False,
        "properties": {
            "ip_addresses": {"type": "array", "minItems": 1, "uniqueItems": True, "items": _address()},
            "region": {"type": "string", "pattern": "^[a-z0-9-]+$"},
            "sync_token": {"type": "string", "pattern": "^[0-9]+$"},
            "created_at": {"type": "string", "pattern": _INSTANT},
            "sha256": {
                "type": "string",
                "pattern": "^[0-9a-f]{64}$",
                "description": "SHA-256 of the .txt form: each address followed by a newline, in the order "
                "of ip_addresses.",
            },
            "notice_days": {"type": "integer", "minimum": plan.MIN_NOTICE_DAYS},
            "upcoming": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["ip", "action", "effective", "announced_at"],
                    "additionalProperties": False,
                    "properties": {
                        "ip": _address(),
                        "action": {"enum": ["add", "remove"]},
                        "effective": {"type": "string", "pattern": _DAY},
                        "announced_at": {"type": "string", "pattern": _INSTANT},
                    },
                },
            },
            "simulated": {
                "const": True,
                "description": "Present only in a document made from a simulation ledger (tests, demos), never "
                "in a real one: not a real list.",
            },
        },
    }


def schema_text(schema: JSONObject | None = None) -> str:
    """The schema file's text: indented two spaces, an object whose values are all leaves kept on one line."""
    return _format(build_schema() if schema is None else schema, "") + "\n"


def _format(value: JSON, indent: str) -> str:
    if not isinstance(value, dict) or not any(isinstance(v, dict) for v in value.values()):
        return json.dumps(value)
    inner = indent + "  "
    items = [f"{inner}{json.dumps(k)}: {_format(v, inner)}" for k, v in value.items()]
    return "{\n" + ",\n".join(items) + "\n" + indent + "}"
