"""Reading the custom-SMTP workspaces to notify from a CSV or JSON file.

CSV: a header naming ``workspace_id``, ``region`` and each notice channel's column (:data:`HEADER`:
``workspace_id,region,email[,webhook_url]...``; the optional ones may be left out), and optionally the branded
tracking columns ``sending_domain,tracking_domain`` (both or neither per row, :func:`_domains`), then one row per
workspace. JSON: a list of objects with the same keys. Every channel checks its own column
(:mod:`smtp_egress.notices.channels`); a target that is a credential (a webhook URL) is only ever shown
masked. Every problem is reported as ``file:line`` (CSV) or ``file[index]`` (JSON) with the bad value;
nothing is imported unless the whole file is valid. A value holding a control character (a line break, a tab,
an escape, invisible formatting) is refused in every column, and the file is read within
:mod:`smtp_egress.limits` (its size, and the nesting of a JSON file).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from .domains.names import BadDomainName, domain_name
from .errors import InputError
from .masking import excerpt
from .notices.channels import CHANNELS
from .tabular import Row, csv_rows, json_list, read_text

if TYPE_CHECKING:
    from .ledger import Workspace

BASE = ("workspace_id", "region")
DOMAINS = ("sending_domain", "tracking_domain")  # branded tracking (smtp_egress.domains): optional, both or neither
REQUIRED = BASE + tuple(c.column for c in CHANNELS.values() if c.required)
KNOWN = BASE + tuple(c.column for c in CHANNELS.values()) + DOMAINS
HEADER = (
    ",".join(REQUIRED)
    + "".join(f"[,{c.column}]" for c in CHANNELS.values() if not c.required)
    + f"[,{','.join(DOMAINS)}]"
)
WORKSPACE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,199}")  # used with fullmatch: "$" passes a final "\n"


def read_workspaces(path: str | Path, regions: set[str]) -> list[Workspace]:
    path = Path(path)
    text = read_text(path, "the workspaces file")
    if path.suffix.lower() == ".json" or text.lstrip().startswith("["):
        rows = _json_rows(text, str(path))
    else:
        rows = _csv_rows(text, str(path))
    problems: list[str] = []
    out: list[Workspace] = []
    seen: dict[str, str] = {}
    tracking: dict[str, str] = {}
    for where, row in rows:
        ws = _workspace(row, where, regions, problems)
        if ws is None:
            continue
        if ws.workspace_id in seen:
            problems.append(f"{where}: workspace_id {ws.workspace_id!r} already appears at {seen[ws.workspace_id]}")
            continue
        if ws.tracking_domain is not None and ws.tracking_domain in tracking:
            problems.append(
                f"{where}: tracking_domain {ws.tracking_domain!r} is already the tracking domain of the workspace at "
                f"{tracking[ws.tracking_domain]}; each workspace needs its own"
            )
            continue
        seen[ws.workspace_id] = where
        if ws.tracking_domain is not None:
            tracking[ws.tracking_domain] = where
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
    return csv_rows(reader, header, source)


def _json_rows(text: str, source: str) -> list[Row]:
    data = json_list(text, source, str(list(KNOWN)))
    rows: list[Row] = []
    for i, item in enumerate(data):
        where = f"{source}[{i}]"
        if not isinstance(item, dict):
            rows.append((where, {"__error__": f"is {_json_kind(item)}, not an object"}))
        else:
            unknown = sorted(set(item) - set(KNOWN))
            shown = ", ".join(excerpt(k, 40) for k in unknown[:5]) + (", ..." if len(unknown) > 5 else "")
            rows.append((where, {"__error__": f"has unknown keys {shown}"} if unknown else item))
    return rows


def _json_kind(value: object) -> str:
    if isinstance(value, str | int | float | bool) or value is None:
        return excerpt(value, 40)
    return "a list" if isinstance(value, list) else f"a {type(value).__name__}"


def _workspace(row: Mapping[str, object], where: str, regions: set[str], problems: list[str]) -> Workspace | None:
    from .ledger import Workspace

    if "__error__" in row:
        problems.append(f"{where}: the row {row['__error__']}")
        return None
    values = {}
    for key in KNOWN:
        value = row.get(key)
        if value is not None and not isinstance(value, str):
            shown = f" {_json_kind(value)}" if key in BASE + DOMAINS else ""  # a channel's column may hold a credential
            problems.append(f"{where}: {key}{shown} must be a string, not {type(value).__name__}")
            return None
        text = (value or "").strip(" ")
        if not text.isprintable():  # a line break, a tab, an escape, invisible formatting: junk, or an injection
            bad = next(c for c in text if not c.isprintable())
            shown = excerpt(text, 60) if key in BASE + DOMAINS else "the value"
            problems.append(f"{where}: {key} {shown} holds the control character {bad!r}; remove it")
            return None
        values[key] = text
    ok = True
    if not WORKSPACE_ID.fullmatch(values["workspace_id"]):
        problems.append(
            f"{where}: workspace_id {excerpt(values['workspace_id'], 60)} must be 1-200 letters, digits, '.', '_', "
            "':' or '-', starting with a letter or digit"
        )
        ok = False
    if values["region"] not in regions:
        problems.append(
            f"{where}: region {excerpt(values['region'], 40)} is not in the plan "
            f"(regions: {', '.join(sorted(regions))})"
        )
        ok = False
    targets = {}
    for channel in CHANNELS.values():
        target = values[channel.column]
        if not target and not channel.required:
            continue
        problem = channel.problem(target)
        if problem:
            problems.append(f"{where}: {channel.column} {excerpt(channel.mask(target), 120)} {problem}")
            ok = False
        targets[channel.name] = target
    domains = _domains(values, where, problems)
    if not ok or domains is None:
        return None
    return Workspace(values["workspace_id"], values["region"], targets, *domains)


def _domains(values: Mapping[str, str], where: str, problems: list[str]) -> tuple[str | None, str | None] | None:
    """(sending_domain, tracking_domain) as A-labels, (None, None) when both are empty; None after a problem.

    Both or neither. The tracking domain need not be under the sending domain (a customer may track on another
    of its domains), but it must differ from it: the sending domain carries the MX name below it, and a CNAME
    cannot sit at a name that has other records (RFC 1034 3.6.2) nor at a zone apex."""
    given = {key: values[key] for key in DOMAINS if values[key]}
    if not given:
        return None, None
    if len(given) == 1:
        (key, value), other = next(iter(given.items())), next(k for k in DOMAINS if k not in given)
        problems.append(f"{where}: {key} {excerpt(value, 80)} is given without {other}; give both, or neither")
        return None
    names: dict[str, str] = {}
    for key, value in given.items():
        try:
            names[key] = domain_name(value)
        except BadDomainName as exc:
            problems.append(f"{where}: {key} {excerpt(value, 80)} {exc}")
    if len(names) < len(DOMAINS):
        return None
    sending, tracking = names["sending_domain"], names["tracking_domain"]
    if sending == tracking:
        problems.append(
            f"{where}: tracking_domain {excerpt(values['tracking_domain'], 80)} is the sending domain itself; use a "
            f"name of its own for tracking, e.g. links.{sending}"
        )
        return None
    return sending, tracking
