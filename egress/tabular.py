"""Reading the rows of an import file (CSV or a JSON list of objects), shared by every import: bounded, each row
named ``file:line`` (CSV) or ``file[index]`` (JSON), a row that can't be read kept as ``{"__error__": why}`` so
the caller reports every problem at once."""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeAlias

from .errors import InputError
from .limits import MAX_JSON_DEPTH, MAX_WORKSPACES_BYTES, json_too_deep
from .masking import shorten

Row: TypeAlias = tuple[str, Mapping[str, object]]  # where (file:line or file[index]) and the raw fields


def read_text(path: Path, what: str) -> str:
    """The text of the import file at ``path`` (UTF-8, a BOM dropped), read up to the bound of an import file;
    ``what`` names the file in errors ("the servers file")."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_WORKSPACES_BYTES + 1)
        if len(raw) > MAX_WORKSPACES_BYTES:
            raise InputError(f"{path}: {what} is larger than {MAX_WORKSPACES_BYTES} bytes")
        return raw.decode("utf-8-sig")
    except OSError as exc:
        raise InputError(f"{path}: cannot read {what}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: {what} is not UTF-8 text") from None


def csv_rows(reader: Any, header: list[str], source: str) -> list[Row]:
    """The rows after ``header`` of a ``csv.reader`` (blank lines skipped; a row with the wrong number of
    fields kept as an error)."""
    rows: list[Row] = []
    try:
        for values in reader:  # (the csv module bounds a field: 128 KiB)
            line = reader.line_num
            if not any(v.strip() for v in values):
                continue
            if len(values) != len(header):
                why = f"has {len(values)} fields, the header has {len(header)}"
                rows.append((f"{source}:{line}", {"__error__": why}))
                continue
            rows.append((f"{source}:{line}", dict(zip(header, values, strict=True))))
    except csv.Error as exc:
        raise InputError(f"{source}:{reader.line_num}: malformed CSV: {shorten(str(exc), 200)}") from None
    return rows


def json_list(text: str, source: str, expected: str) -> list[Any]:
    """The items of a JSON list (``expected`` says what the list holds, for the error when it is not one)."""
    if json_too_deep(text):
        raise InputError(f"{source}: the JSON nests deeper than {MAX_JSON_DEPTH} levels; expected a list of objects")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{source}:{exc.lineno}: malformed JSON: {exc.msg}") from None
    except (ValueError, RecursionError):
        raise InputError(f"{source}: malformed JSON (a number too long, or nested too deeply)") from None
    if not isinstance(data, list):
        raise InputError(f"{source}: expected a JSON list of objects with keys {expected}")
    return data
