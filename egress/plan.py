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
import ipaddress
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Literal, TypeAlias

import yaml

from .errors import PlanError

MIN_NOTICE_DAYS = 7  # the promise's floor: plan validation and the published schema's minimum (smtp_egress.schema)
DEFAULT_PLAN = Path("stacks") / "egress-ips.yaml"

# Documentation ranges (RFC 5737, RFC 3849): allowed so that examples and tests never name a real address.
DOCUMENTATION_NETS = tuple(
    ipaddress.ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")
)
TOP_KEYS = {"notice_days", "regions"}
ENTRY_KEYS = {"ip", "active_from", "retire_on", "allocation_id", "byoip_pool"}

Action = Literal["add", "remove"]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
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
            raise ConfigError(f"region {name!r} is not in the plan {self.path} (regions: {known})")
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


def sort_addresses(ips: Iterable[IPAddress]) -> list[IPAddress]:
    """IPv4 first, then IPv6, each numerically: the canonical order of every list we publish."""
    return sorted(ips, key=lambda ip: (ip.version, int(ip)))


def is_allowed_address(ip: IPAddress) -> bool:
    """Global unicast, or inside a documentation range."""
    if any(ip in net for net in DOCUMENTATION_NETS if net.version == ip.version):
        return True
    return ip.is_global and not ip.is_multicast


def parse_address(text: object) -> IPAddress:
    """Parse one address strictly (no prefix length, no leading zeros); ValueError with a reason."""
    if not isinstance(text, str):
        raise ValueError("is not a string address")
    try:
        ip = ipaddress.ip_address(text.strip())
    except ValueError:
        raise ValueError("is not an IPv4 or IPv6 address") from None
    if text != text.strip():
        raise ValueError("has surrounding white space")
    if not is_allowed_address(ip):
        raise ValueError(
            "is not a global unicast address (private, loopback, link-local, CGNAT, multicast and "
            "reserved ranges cannot be egress addresses)"
        )
    return ip


def load_plan(path: str | Path = DEFAULT_PLAN) -> Plan:
    path = Path(path)
    try:
        raw = path.read_bytes()
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

    try:
        root = yaml.compose(raw.decode("utf-8"), Loader=yaml.SafeLoader)
    except UnicodeDecodeError as exc:
        raise PlanError([f"{source}: the plan is not UTF-8 text ({exc.reason} at byte {exc.start})"]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        raise PlanError(
            [f"{source}{line}: malformed YAML: {getattr(exc, 'problem', None) or exc}; fix the syntax"]
        ) from None
    if not isinstance(root, yaml.MappingNode):
        raise PlanError([f"{source}:1: the plan must be a mapping with 'regions:' (and optionally 'notice_days:')"])

    notice_days = MIN_NOTICE_DAYS
    regions: dict[str, tuple[Entry, ...]] = {}
    region_nodes: dict[str, yaml.Node] = {}
    seen: dict[str, tuple[str, int]] = {}
    for key_node, value in _pairs(root, bad):
        key = key_node.value
        if key not in TOP_KEYS:
            bad(key_node, f"unknown key {key!r}; the plan takes only {sorted(TOP_KEYS)}")
        elif key == "notice_days":
            notice_days = _notice_days(value, bad)
        elif not isinstance(value, yaml.MappingNode) or not value.value:
            bad(value, "'regions' must map each region name to a list of addresses, e.g. 'us:'")
        else:
            for name_node, entries_node in _pairs(value, bad):
                name = name_node.value
                if not name or not name.replace("-", "").isalnum() or name != name.lower():
                    bad(name_node, f"region name {name!r} must be lower-case letters, digits and '-'")
                regions[name] = _entries(name, entries_node, bad, seen, source)
                region_nodes[name] = name_node

    if not problems:
        for name, entries in regions.items():
            _check_coverage(name, entries, bad, region_nodes[name])
    if problems:
        raise PlanError(sorted(problems, key=_line_of))
    return Plan(source, notice_days, regions, hashlib.sha256(raw).hexdigest())


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
            bad(key_node, f"key {key_node.value!r} appears twice; keep one")
            continue
        keys.add(key_node.value)
        yield key_node, value


def _notice_days(node: yaml.Node, bad: Bad) -> int:
    if isinstance(node, yaml.ScalarNode) and node.tag.endswith(":int"):
        days = int(node.value)
        if days >= MIN_NOTICE_DAYS:
            return days
        bad(
            node,
            f"notice_days {days!r} is below the {MIN_NOTICE_DAYS}-day promise; a plan may raise it, never lower it",
        )
    else:
        bad(node, f"notice_days {getattr(node, 'value', None)!r} must be a whole number of days (>= {MIN_NOTICE_DAYS})")
    return MIN_NOTICE_DAYS


def _scalar(node: yaml.Node, key: str, bad: Bad) -> str | None:
    if not isinstance(node, yaml.ScalarNode) or node.value == "" or node.tag.endswith(":null"):
        bad(node, f"{key} must be a single value, found {getattr(node, 'value', None)!r}")
        return None
    text: str = node.value  # a scalar node's value is its text
    return text


def _day(node: yaml.Node, key: str, bad: Bad) -> dt.date | None:
    text = _scalar(node, key, bad)
    if text is None:
        return None
    try:
        if len(text) != 10:
            raise ValueError
        return dt.date.fromisoformat(text)
    except ValueError:
        bad(node, f"{key} {text!r} is not a date; write YYYY-MM-DD (a UTC day), e.g. 2026-12-10")
        return None


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
                f"each entry of region {region!r} must be a mapping like 'ip: 198.51.100.10', "
                f"found {getattr(item, 'value', None)!r}",
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
                    key_node, f"unknown key {key!r} in an entry of region {region!r}; entries take {sorted(ENTRY_KEYS)}"
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
                            f"ip {text!r} {exc}; use an address of your own, or a documentation range in examples",
                        )
            elif key in ("active_from", "retire_on"):
                days[key] = _day(value, key, bad)
            else:
                names[key] = _scalar(value, key, bad)
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
