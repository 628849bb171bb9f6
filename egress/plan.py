"""The IP plan (``stacks/egress-ips.yaml``): the one source of truth for egress addresses.

``load_plan`` parses and validates the file and either returns a :class:`Plan` or raises
:class:`PlanError` listing every problem as ``file:line: message`` (the bad value with ``!r`` and what
to do). The date rules (which address is live on a day, which changes the plan contains) live here and
in :mod:`smtp_egress.timeline`; no other module re-derives them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Literal, TypeAlias

import yaml

from .errors import PlanError
from .ipforms import DOCUMENTATION_NETS as DOCUMENTATION_NETS
from .ipforms import IPAddress as IPAddress
from .ipforms import is_allowed_address as is_allowed_address
from .ipforms import parse_address as parse_address
from .ipforms import sort_addresses as sort_addresses
from .limits import FIRST_DAY, LAST_DAY, MAX_NOTICE_DAYS, MAX_PLAN_BYTES, yaml_problem
from .masking import excerpt, printable, shorten

MIN_NOTICE_DAYS = 7  # the promise's floor: plan validation and the published schema's minimum (smtp_egress.schema)
DEFAULT_PLAN = Path("stacks") / "egress-ips.yaml"

TOP_KEYS = {"notice_days", "regions"}
REGION_NAME = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?")  # also a DNS label, a file and a URL part
IDENTIFIER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
MAX_PROBLEMS = 50  # problems listed; the rest are counted
ENTRY_KEYS = {"ip", "active_from", "retire_on", "allocation_id", "byoip_pool"}

Action = Literal["add", "remove"]
# Reports a problem at a YAML node's line (line 1 without a node); parsing goes on to find every problem.
Bad: TypeAlias = Callable[[yaml.Node | None, str], None]


@dataclasses.dataclass(frozen=True)
class Entry:
    """One planned address of a region, with the line it was declared on."""

    region: str
    ip: IPAddress
    active_from: dt.date | None = None
    retire_on: dt.date | None = None
    allocation_id: str | None = None
    byoip_pool: str | None = None
    line: int = 0

    def is_live(self, day: dt.date) -> bool:
        """Planned live on ``day``: (no active_from or active_from <= day) and (no retire_on or day < retire_on)."""
        return (self.active_from is None or self.active_from <= day) and (
            self.retire_on is None or day < self.retire_on
        )


@dataclasses.dataclass(frozen=True, order=True)
class Change:
    """A planned change to a region's list: an address added or removed on ``effective`` (UTC day)."""

    effective: dt.date
    region: str
    action: Action
    ip: str

    @property
    def change_id(self) -> str:
        return f"{self.region}/{self.action}/{self.ip}/{self.effective.isoformat()}"


@dataclasses.dataclass(frozen=True)
class Plan:
    path: str
    notice_days: int
    regions: dict[str, tuple[Entry, ...]]
    sha256: str

    def region(self, name: str) -> tuple[Entry, ...]:
        from .errors import ConfigError

        if name not in self.regions:
            known = ", ".join(sorted(self.regions)) or "none"
            raise ConfigError(f"region {excerpt(name, 40)} is not in the plan {self.path} (regions: {known})")
        return self.regions[name]

    def changes(self, region: str | None = None) -> list[Change]:
        """Every dated change in the plan (one region or all), ordered by effective day."""
        out: list[Change] = []
        for name in [region] if region else sorted(self.regions):
            for e in self.region(name):
                if e.active_from is not None:
                    out.append(Change(e.active_from, name, "add", str(e.ip)))
                if e.retire_on is not None:
                    out.append(Change(e.retire_on, name, "remove", str(e.ip)))
        return sorted(out)

    def planned_live(self, region: str, day: dt.date) -> list[IPAddress]:
        return sort_addresses(e.ip for e in self.region(region) if e.is_live(day))


def load_plan(path: str | Path = DEFAULT_PLAN) -> Plan:
    path = Path(path)
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_PLAN_BYTES + 1)
    except OSError as exc:
        raise PlanError(
            [f"{path}: cannot read the plan: {exc.strerror}; pass --plan PATH to use another file"]
        ) from None
    return parse_plan(raw, str(path))


def parse_plan(raw: bytes, source: str) -> Plan:
    problems: list[str] = []

    def bad(node: yaml.Node | None, message: str) -> None:
        line = node.start_mark.line + 1 if node is not None else 1
        problems.append(f"{source}:{line}: {message}")

    root = _compose(raw, source)
    if not isinstance(root, yaml.MappingNode):
        raise PlanError([f"{source}:1: the plan must be a mapping with 'regions:' (and optionally 'notice_days:')"])

    notice_days = MIN_NOTICE_DAYS
    regions: dict[str, tuple[Entry, ...]] = {}
    region_nodes: dict[str, yaml.Node] = {}
    seen: dict[str, tuple[str, int]] = {}
    for key_node, value in _pairs(root, bad):
        key = key_node.value
        if key not in TOP_KEYS:
            bad(key_node, f"unknown key {excerpt(key, 40)}; the plan takes only {sorted(TOP_KEYS)}")
        elif key == "notice_days":
            notice_days = _notice_days(value, bad)
        elif not isinstance(value, yaml.MappingNode) or not value.value:
            bad(value, "'regions' must map each region name to a list of addresses, e.g. 'us:'")
        else:
            for name_node, entries_node in _pairs(value, bad):
                name = name_node.value
                if not REGION_NAME.fullmatch(name):
                    bad(
                        name_node,
                        f"region name {excerpt(name, 40)} must be lower-case letters (a-z), digits and '-' "
                        "(1-32 characters, starting and ending with a letter or digit)",
                    )
                regions[name] = _entries(name, entries_node, bad, seen, source)
                region_nodes[name] = name_node

    if not problems:
        for name, entries in regions.items():
            _check_coverage(name, entries, bad, region_nodes[name])
    if problems:
        problems.sort(key=_line_of)
        more = [f"... and {len(problems) - MAX_PROBLEMS} more"] if len(problems) > MAX_PROBLEMS else []
        raise PlanError(problems[:MAX_PROBLEMS] + more)
    return Plan(source, notice_days, regions, hashlib.sha256(raw).hexdigest())


def _compose(raw: bytes, source: str) -> yaml.Node | None:
    """The YAML tree of the plan, within :mod:`smtp_egress.limits` (size, nesting, aliases); PlanError if not."""
    if len(raw) > MAX_PLAN_BYTES:
        raise PlanError([f"{source}: the plan is larger than {MAX_PLAN_BYTES} bytes; is this the IP plan?"])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PlanError([f"{source}: the plan is not UTF-8 text ({exc.reason} at byte {exc.start})"]) from None
    bounded = yaml_problem(text)
    if bounded is not None:
        at, why = bounded
        raise PlanError([f"{source}:{at}: {why}; the plan is a mapping of regions to lists of entries"])
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        said = shorten(printable(str(getattr(exc, "problem", None) or "it does not parse")), 200)
        raise PlanError([f"{source}{line}: malformed YAML: {said}; fix the syntax"]) from None


def _line_of(problem: str) -> int:
    parts = problem.split(":")
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0


def _pairs(mapping: yaml.MappingNode, bad: Bad) -> Iterator[tuple[yaml.ScalarNode, yaml.Node]]:
    keys: set[str] = set()
    for key_node, value in mapping.value:
        if not isinstance(key_node, yaml.ScalarNode):
            bad(key_node, "keys must be plain names")
            continue
        if key_node.value in keys:
            bad(key_node, f"key {excerpt(key_node.value, 40)} appears twice; keep one")
            continue
        keys.add(key_node.value)
        yield key_node, value


def _notice_days(node: yaml.Node, bad: Bad) -> int:
    # Plain decimal digits only: YAML 1.1 also reads 0x10, 0o17, 017 (octal), 1_000 and 1:30 (sexagesimal, 90)
    # as numbers, and a reviewer of the plan would not read them as the parser does.
    if isinstance(node, yaml.ScalarNode) and node.tag.endswith(":int") and re.fullmatch(r"[1-9][0-9]{0,5}", node.value):
        days = int(node.value)
        if MIN_NOTICE_DAYS <= days <= MAX_NOTICE_DAYS:
            return days
        bad(
            node,
            f"notice_days {days!r} is below the {MIN_NOTICE_DAYS}-day promise; a plan may raise it, never lower it"
            if days < MIN_NOTICE_DAYS
            else f"notice_days {days!r} is more than {MAX_NOTICE_DAYS} days; announce changes at most a year ahead",
        )
    else:
        bad(
            node,
            f"notice_days {_shown(node)} must be a whole number of days written in decimal digits "
            f"({MIN_NOTICE_DAYS} to {MAX_NOTICE_DAYS}), e.g. 14",
        )
    return MIN_NOTICE_DAYS


def _shown(node: yaml.Node) -> str:
    """A node as a message quotes it: a scalar's bounded excerpt, else its kind (never the node's repr, which
    expands every alias inside it)."""
    if isinstance(node, yaml.ScalarNode):
        return excerpt(node.value, 60)
    return "a mapping" if isinstance(node, yaml.MappingNode) else "a list"


def _scalar(node: yaml.Node, key: str, bad: Bad) -> str | None:
    if not isinstance(node, yaml.ScalarNode) or node.value == "" or node.tag.endswith(":null"):
        bad(node, f"{key} must be a single value, found {_shown(node)}")
        return None
    text: str = node.value  # a scalar node's value is its text
    return text


def _identifier(node: yaml.Node, key: str, bad: Bad) -> str | None:
    """An AWS identifier (allocation_id, byoip_pool): letters, digits and ``.``, ``_``, ``:``, ``-``."""
    text = _scalar(node, key, bad)
    if text is not None and not IDENTIFIER.fullmatch(text):
        bad(node, f"{key} {excerpt(text, 60)} must be an AWS identifier like eipalloc-0123456789abcdef0")
        return None
    return text


def _day(node: yaml.Node, key: str, bad: Bad) -> dt.date | None:
    text = _scalar(node, key, bad)
    if text is None:
        return None
    try:
        if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):  # fromisoformat also reads week dates
            raise ValueError
        day = dt.date.fromisoformat(text)
    except ValueError:
        bad(node, f"{key} {excerpt(text, 40)} is not a date; write YYYY-MM-DD (a UTC day), e.g. 2026-12-10")
        return None
    if not FIRST_DAY <= day <= LAST_DAY:
        bad(
            node,
            f"{key} {text!r} is outside {FIRST_DAY.isoformat()} to {LAST_DAY.isoformat()}; an address that never "
            f"retires has no retire_on",
        )
        return None
    return day


def _entries(
    region: str, node: yaml.Node, bad: Bad, seen: dict[str, tuple[str, int]], source: str
) -> tuple[Entry, ...]:
    if not isinstance(node, yaml.SequenceNode):
        bad(node, f"region {region!r} must be a list of entries like '- ip: 198.51.100.10'")
        return ()
    out: list[Entry] = []
    for item in node.value:
        if not isinstance(item, yaml.MappingNode):
            bad(
                item,
                f"each entry of region {region!r} must be a mapping like 'ip: 198.51.100.10', found {_shown(item)}",
            )
            continue
        ip: IPAddress | None = None
        days: dict[str, dt.date | None] = {}  # active_from, retire_on
        names: dict[str, str | None] = {}  # allocation_id, byoip_pool
        ip_node: yaml.Node | None = None
        for key_node, value in _pairs(item, bad):
            key = key_node.value
            if key not in ENTRY_KEYS:
                bad(
                    key_node,
                    f"unknown key {excerpt(key, 40)} in an entry of region {region!r}; "
                    f"entries take {sorted(ENTRY_KEYS)}",
                )
            elif key == "ip":
                ip_node = value
                text = _scalar(value, "ip", bad)
                if text is not None:
                    try:
                        ip = parse_address(text)
                    except ValueError as exc:
                        bad(
                            value,
                            f"ip {excerpt(text, 60)} {exc}"
                            + (
                                "; use an address of your own, or a documentation range in examples"
                                if "global unicast" in str(exc)
                                else ""
                            ),
                        )
            elif key in ("active_from", "retire_on"):
                days[key] = _day(value, key, bad)
            else:
                names[key] = _identifier(value, key, bad)
        if ip_node is None:
            bad(item, f"an entry of region {region!r} has no 'ip'")
            continue
        if ip is None:
            continue
        line = ip_node.start_mark.line + 1
        if str(ip) in seen:
            other_region, other_line = seen[str(ip)]
            bad(
                ip_node,
                f"ip {str(ip)!r} is already planned in region {other_region!r} at {source}:{other_line}; "
                "an address appears once in the whole plan",
            )
            continue
        seen[str(ip)] = (region, line)
        start, end = days.get("active_from"), days.get("retire_on")
        if start and end and end <= start:
            bad(
                item,
                f"retire_on {end.isoformat()!r} is not after active_from {start.isoformat()!r} for {str(ip)!r}; "
                "an address must be live for at least one day",
            )
        allocation_id, byoip_pool = names.get("allocation_id"), names.get("byoip_pool")
        if allocation_id and byoip_pool:
            bad(
                item,
                f"{str(ip)!r} names both allocation_id and byoip_pool; "
                "adopt an existing allocation or allocate from a pool, not both",
            )
        out.append(Entry(region, ip, start, end, allocation_id, byoip_pool, line))
    return tuple(out)


def _check_coverage(region: str, entries: tuple[Entry, ...], bad: Bad, node: yaml.Node) -> None:
    """Reject any day, from the region's first live day on, on which it would have no live address."""
    if not entries:
        bad(node, f"region {region!r} has no addresses")
        return
    boundaries = sorted({d for e in entries for d in (e.active_from, e.retire_on) if d is not None})
    undated = any(e.active_from is None for e in entries)
    first_live = None if undated else min(e.active_from for e in entries if e.active_from is not None)
    days = [d for d in boundaries if first_live is None or d >= first_live]
    if undated:
        days.insert(0, dt.date.min)
    for day in days:
        if not any(e.is_live(day) for e in entries):
            when = "before tracking began" if day == dt.date.min else f"from {day.isoformat()}"
            bad(
                node,
                f"region {region!r} would have no live address {when}; add or keep an address live across that day",
            )
            return
