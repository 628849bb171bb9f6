"""Bounds on what smtp-egress reads, checked where it is read so that every later step copes.

A file, a document or a flag is refused at the edge (exit 2, or 3 for a published document) when it exceeds
these, with a short message: a YAML alias bomb, deep nesting (a RecursionError deep inside a parser or a
``repr``), a date or a number of days whose arithmetic overflows after something was recorded.
"""

from __future__ import annotations

import datetime as dt
import re

import yaml

MAX_PLAN_BYTES = 1 << 20  # the plan: a few hundred addresses take a few kilobytes
MAX_WORKSPACES_BYTES = 64 << 20  # a workspaces file: about 300,000 rows
MAX_YAML_DEPTH = 8  # the plan's own nesting is 4 (regions, a region, an entry, a value)
MAX_YAML_ALIASES = 100  # an alias is a reference; expanding a few nested ones is an alias bomb
MAX_JSON_DEPTH = 16  # the published document and the workspaces file nest 3 levels deep
MAX_NOTICE_DAYS = 365
# Planned days: far enough either way for any real plan, near enough that a day plus a year of notice (and
# the calendar file's end, a day later) stays a date.
FIRST_DAY = dt.date(1970, 1, 1)
LAST_DAY = dt.date(2999, 12, 31)
MAX_REASON = 1000  # characters of a --reason
MAX_NAME = 200  # characters of a --by NAME

_STRUCTURE = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)


def yaml_problem(text: str) -> tuple[int, str] | None:
    """``(line, why)`` when the YAML ``text`` nests deeper than :data:`MAX_YAML_DEPTH` or holds more than
    :data:`MAX_YAML_ALIASES` aliases, read as events (no tree is built, nothing recursive runs), else None.
    A syntax error is left to the caller's parser, which names it."""
    depth = aliases = 0
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_YAML_DEPTH:
                    return _line(event), f"it nests deeper than {MAX_YAML_DEPTH} levels"
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
            elif isinstance(event, yaml.AliasEvent):
                aliases += 1
                if aliases > MAX_YAML_ALIASES:
                    return _line(event), f"it holds more than {MAX_YAML_ALIASES} aliases (*name)"
    except yaml.YAMLError:
        return None
    return None


def _line(event: yaml.Event) -> int:
    mark = event.start_mark
    return mark.line + 1 if mark is not None else 1


def json_too_deep(text: str) -> bool:
    """Does the JSON ``text`` nest arrays and objects deeper than :data:`MAX_JSON_DEPTH`? (Read before
    ``json.loads``, whose recursion, and every ``repr`` of what it builds, would fail first.)"""
    if text.count("[") + text.count("{") <= MAX_JSON_DEPTH:
        return False
    depth = 0
    for token in _STRUCTURE.finditer(text):
        char = token.group(0)
        if char in "[{":
            depth += 1
            if depth > MAX_JSON_DEPTH:
                return True
        elif char in "]}":
            depth -= 1
    return False


def checked_text(text: str, flag: str, limit: int = MAX_REASON) -> str:
    """A free text recorded in the ledger and shown in notices and reports (``--reason``, ``--by``), stripped:
    one line of printable characters, at most ``limit`` of them; ConfigError naming ``flag`` otherwise. (A line
    break or a control character would reach an email header, a calendar file or a report's table.)"""
    from .errors import ConfigError
    from .masking import excerpt

    stripped = text.strip()
    if not stripped:
        raise ConfigError(f"{flag} is empty; say why, in one line; nothing was recorded")
    if len(stripped) > limit:
        raise ConfigError(
            f"{flag} is {len(stripped)} characters long, more than {limit}; say it in one line and point to a "
            "ticket for the rest; nothing was recorded"
        )
    if not stripped.isprintable():
        bad = next(c for c in stripped if not c.isprintable())
        raise ConfigError(
            f"{flag} {excerpt(stripped, 60)} holds the control character {bad!r} (line breaks, tabs, escapes and "
            "invisible formatting are refused); write it in one line of plain text; nothing was recorded"
        )
    return stripped
