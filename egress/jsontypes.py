"""Type aliases for JSON values: what ``json.dumps`` writes and ``json.loads`` returns.

Read-only views (``Mapping``, ``Sequence``) so that a ``dict[str, list[str]]`` built by the code is a
:data:`JSONObject` too. Documents with a fixed shape (the published document, ``changes.json``) have
TypedDicts of their own in :mod:`smtp_egress.document`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypeAlias

JSON: TypeAlias = "Mapping[str, JSON] | Sequence[JSON] | str | int | float | bool | None"
JSONObject: TypeAlias = Mapping[str, JSON]
