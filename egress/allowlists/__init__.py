"""Generated allowlists: what a customer must allow on a day (:mod:`.content`), rendered for the tools
that enforce it (:mod:`.formats`), bundled with a checksum manifest for compliance (:mod:`.bundle`)."""

from .content import SMTP_PORTS, Allowlist, build
from .formats import FORMATS, Format, get, render

__all__ = ["FORMATS", "SMTP_PORTS", "Allowlist", "Format", "build", "get", "render"]
