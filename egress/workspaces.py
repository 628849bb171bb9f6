"""Reading the custom-SMTP workspaces to notify from a CSV or JSON file.

CSV: a header naming ``workspace_id``, ``region`` and each notice channel's column (:data:`HEADER`:
``workspace_id,region,email[,webhook_url]``; the optional ones may be left out), then one row per
workspace. JSON: a list of objects with the same keys. Every channel checks its own column
(:mod:`smtp_egress.notices.channels`); a target that is a credential (a webhook URL) is only ever shown
masked. Every problem is reported as ``file:line`` (CSV) or ``file[index]`` (JSON) with the bad value;
nothing is imported unless the whole file is valid.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

from .errors import InputError
from .notices.channels import CHANNELS

if TYPE_CHECKING:
    from .ledger import Workspace

BASE = ("workspace_id", "region")
REQUIRED = BASE + tuple(c.column for c in CHANNELS.values() if c.required)
KNOWN = BASE + tuple(c.column for c in CHANNELS.values())
HEADER = ",".join(REQUIRED) + "".join(f"[,{c.column}]" for c in CHANNELS.values() if not c.required)
WORKSPACE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,199}$")


Row: TypeAlias = tuple[str, Mapping[str, object]]  # where (file:line or file[index]) and the raw fields


def read_workspaces(path: str | Path, regions: set[str]) -> list[Workspace]:
    path = Path(path)
    try:
        text = path.read_text("utf-8-sig")
    except OSError as exc:
        raise InputError(f"{path}: cannot read the workspaces file: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: the workspaces file is not UTF-8 text") from None
    if path.suffix.lower() == ".json" or text.lstrip().startswith("["):
        rows = _json_rows(text, str(path))
    else:
        rows = _csv_rows(text, str(path))
    problems: list[str] = []
    out: list[Workspace] = []
    seen: dict[str, str] = {}
    for where, row in rows:
        ws = _workspace(row, where, regions, problems)
        if ws is None:
            continue
        if ws.workspace_id in seen:
            problems.append(f"{where}: workspace_id {ws.workspace_id!r} already appears at {seen[ws.workspace_id]}")
            continue
        seen[ws.workspace_id] = where
        out.append(ws)
    if problems:
        head = f"{path}: nothing was imported ({len(problems)} problem{'s' if len(problems) > 1 else ''}):"
        raise InputError(
            "\n  ".join([head, *problems[:50]] + ([f"... and {len(problems) - 50} more"] if len(problems) > 50 else []))
        )
    return out


def _csv_rows(text: str, source: str) -> list[Row]:
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        raise InputError(f"{source}: the file is empty; expected a header {HEADER!r}") from None
    header = [h.strip() for h in header]
    missing = [k for k in REQUIRED if k not in header]
    unknown = [k for k in header if k not in KNOWN]
    if missing or unknown:
        raise InputError(
            f"{source}:1: header {','.join(header)!r} must be {HEADER!r}"
            + (f"; missing {missing}" if missing else "")
            + (f"; unknown {unknown}" if unknown else "")
        )
    rows: list[Row] = []
    try:
        for values in reader:
            line = reader.line_num
            if not any(v.strip() for v in values):
                continue
            if len(values) != len(header):
                rows.append(
                    (f"{source}:{line}", {"__error__": f"has {len(values)} fields, the header has {len(header)}"})
                )
                continue
            rows.append((f"{source}:{line}", dict(zip(header, values, strict=True))))
    except csv.Error as exc:
        raise InputError(f"{source}:{reader.line_num}: malformed CSV: {exc}") from None
    return rows


def _json_rows(text: str, source: str) -> list[Row]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{source}:{exc.lineno}: malformed JSON: {exc.msg}") from None
    if not isinstance(data, list):
        raise InputError(f"{source}: expected a JSON list of objects with keys {list(KNOWN)}")
    rows: list[Row] = []
    for i, item in enumerate(data):
        where = f"{source}[{i}]"
        if not isinstance(item, dict):
            rows.append((where, {"__error__": f"is {item!r}, not an object"}))
        else:
            unknown = sorted(set(item) - set(KNOWN))
            rows.append((where, {"__error__": f"has unknown keys {unknown}"} if unknown else item))
    return rows


def _workspace(row: Mapping[str, object], where: str, regions: set[str], problems: list[str]) -> Workspace | None:
    from .ledger import Workspace

    if "__error__" in row:
        problems.append(f"{where}: the row {row['__error__']}")
        return None
    values = {}
    for key in KNOWN:
        value = row.get(key)
        if value is not None and not isinstance(value, str):
            shown = f" {value!r}" if key in BASE else ""  # a channel's column may hold a credential
            problems.append(f"{where}: {key}{shown} must be a string, not {type(value).__name__}")
            return None
        values[key] = (value or "").strip()
    ok = True
    if not WORKSPACE_ID.match(values["workspace_id"]):
        problems.append(
            f"{where}: workspace_id {values['workspace_id']!r} must be 1-200 letters, digits, '.', '_', ':' or '-'"
        )
        ok = False
    if values["region"] not in regions:
        problems.append(
            f"{where}: region {values['region']!r} is not in the plan (regions: {', '.join(sorted(regions))})"
        )
        ok = False
    targets = {}
    for channel in CHANNELS.values():
        target = values[channel.column]
        if not target and not channel.required:
            continue
        problem = channel.problem(target)
        if problem:
            problems.append(f"{where}: {channel.column} {channel.mask(target)!r} {problem}")
            ok = False
        targets[channel.name] = target
    if not ok:
        return None
    return Workspace(values["workspace_id"], values["region"], targets)
