"""Reading workspaces' SMTP servers from a CSV or JSON file (``egress smtp import``), all or nothing.

CSV: a header naming some of :data:`COLUMNS` (``workspace_id``, ``host`` and ``port`` are required), then one row
per server; JSON: a list of objects with the same keys (``port`` may be a number, ``campaign_types`` a list,
``default`` a boolean). Every problem is reported as ``file:line: column`` (CSV) or ``file[index]: column``
(JSON) with the value; nothing is imported unless the whole file is valid.

Passwords are never read from the import file itself: a ``password`` column is refused. Such files get copied,
attached to tickets and committed, and each copy is a plaintext password. A row names a ``password_file``
instead (a path relative to the import file's folder, holding the password on its first line), as
``--password-file`` does for ``egress smtp add``; the password is sealed in the ledger and the file can be
deleted after the import.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from pathlib import Path

from ..errors import InputError
from ..masking import excerpt
from ..tabular import Row, csv_rows, json_list, read_text
from .settings import ServerSettings, SettingsInvalid, validate

COLUMNS = (
    "workspace_id",
    "host",
    "port",
    "security",
    "username",
    "password_file",
    "certificate",
    "campaign_types",
    "default",
)
REQUIRED = ("workspace_id", "host", "port")
PLAINTEXT = (
    "a password is never read from the import file (copies of such files are plaintext passwords): name a "
    "password_file column instead, a file holding the password"
)
MAX_PASSWORD_BYTES = 4096
TRUE, FALSE = ("true", "yes", "1", "y"), ("false", "no", "0", "n", "")


def read_password_file(path: Path, where: str) -> str:
    """The password on the first line of ``path``; :class:`InputError` naming ``where`` (never the content)."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_PASSWORD_BYTES + 1)
    except OSError as exc:
        raise InputError(f"{where} {excerpt(str(path), 120)} cannot be read: {exc.strerror or 'not a file'}") from None
    if len(raw) > MAX_PASSWORD_BYTES:
        raise InputError(f"{where} {excerpt(str(path), 120)} is larger than {MAX_PASSWORD_BYTES} bytes: not a password")
    try:
        text = raw.decode("utf-8").splitlines()
    except UnicodeDecodeError:
        raise InputError(f"{where} {excerpt(str(path), 120)} is not UTF-8 text") from None
    password = text[0] if text else ""
    if not password or not password.isprintable():
        raise InputError(
            f"{where} {excerpt(str(path), 120)}: its first line must be the password (printable, not empty)"
        )
    return password


def read_servers(path: str | Path) -> list[tuple[ServerSettings, str | None]]:
    """Every server of the file with its password (read from its password_file), or InputError listing every problem."""
    path = Path(path)
    text = read_text(path, "the servers file")
    json_file = path.suffix.lower() == ".json" or text.lstrip().startswith("[")
    rows = _json_rows(text, str(path)) if json_file else _csv_rows(text, str(path))
    problems: list[str] = []
    out: list[tuple[ServerSettings, str | None]] = []
    seen: dict[tuple[str, str], str] = {}
    for where, row in rows:
        server = _server(row, where, path.parent, problems)
        if server is None:
            continue
        key = (server[0].workspace_id, server[0].server_id)
        if key in seen:
            problems.append(
                f"{where}: server {excerpt(key[1], 80)} of {excerpt(key[0], 60)} already appears at {seen[key]}"
            )
            continue
        seen[key] = where
        out.append(server)
    defaults = [where for where, row in rows if _flag(row.get("default"))]
    workspaces_with = [s.workspace_id for s, _ in out if s.default]
    for ws in {w for w in workspaces_with if workspaces_with.count(w) > 1}:
        problems.append(f"{path}: workspace {excerpt(ws, 60)} has more than one default server ({', '.join(defaults)})")
    if problems:
        raise InputError(f"{path}: nothing was imported ({len(problems)} problems):\n  " + "\n  ".join(problems[:50]))
    return out


def _server(
    row: Mapping[str, object], where: str, folder: Path, problems: list[str]
) -> tuple[ServerSettings, str | None] | None:
    if "__error__" in row:
        problems.append(f"{where}: the row {row['__error__']}")
        return None
    password = None
    name = row.get("password_file")
    try:
        if name not in (None, ""):
            if not isinstance(name, str):
                raise InputError(f"{where}: password_file must be a path")
            password = read_password_file(folder / name, f"{where}: password_file")
        default = row.get("default")
        if default is not None and not isinstance(default, bool) and str(default).strip().lower() not in TRUE + FALSE:
            raise InputError(f"{where}: default {excerpt(default, 20)} must be true or false")
        fields = dict(row, default=_flag(default))
        return validate(fields, lambda field: f"{where}: {field}", has_password=password is not None), password
    except InputError as exc:
        problems.append(str(exc))
    except SettingsInvalid as exc:
        problems.extend(exc.problems)
    return None


def _flag(value: object) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() in TRUE)


def _unknown(keys: list[str]) -> str | None:
    if "password" in keys:
        return f"has a password column: {PLAINTEXT}"
    unknown = [k for k in keys if k not in COLUMNS]
    if unknown:
        return f"has unknown columns {', '.join(excerpt(k, 40) for k in unknown[:5])} (known: {', '.join(COLUMNS)})"
    missing = [k for k in REQUIRED if k not in keys]
    return f"lacks the columns {', '.join(missing)}" if missing else None


def _csv_rows(text: str, source: str) -> list[Row]:
    reader = csv.reader(io.StringIO(text))
    header = [h.strip() for h in next(reader, [])]
    why = _unknown(header) if header else f"is empty; expected a header with {', '.join(REQUIRED)}"
    if why:
        raise InputError(f"{source}:1: the header {why}")
    return csv_rows(reader, header, source)


def _json_rows(text: str, source: str) -> list[Row]:
    data = json_list(text, source, ", ".join(COLUMNS))
    rows: list[Row] = []
    for i, item in enumerate(data):
        where = f"{source}[{i}]"
        why = _unknown([str(k) for k in item]) if isinstance(item, dict) else "is not an object"
        rows.append((where, {"__error__": why} if why else item))
    return rows
