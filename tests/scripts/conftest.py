"""Fixtures for the allowlist tests: a real consumer's binary (skipped on a workstation, failed in CI when
missing), a throwaway network namespace, and one region's list through a sequence of changes."""

from __future__ import annotations

import dataclasses
import datetime as dt
import ipaddress
import os
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator

import pytest

from smtp_egress.allowlists import FORMATS, Allowlist
from smtp_egress.allowlists.content import to_networks
from smtp_egress.dates import UTC

GENERATED = dt.datetime(2027, 1, 1, 12, tzinfo=UTC)

# The changes a customer's allowlist goes through: first the list to apply, then an addition, a removal and a
# rotation of every address. IPv4 and IPv6 both, and blocks that aggregate and split.
CHANGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("first list", ("198.51.100.8", "198.51.100.9", "198.51.100.20", "2001:db8::10")),
    ("an addition", ("198.51.100.8", "198.51.100.9", "198.51.100.10", "198.51.100.20", "2001:db8::10", "2001:db8::11")),
    ("a removal", ("198.51.100.8", "198.51.100.9", "198.51.100.10", "2001:db8::11")),
    ("a rotation of every address", ("203.0.113.5", "203.0.113.6", "2001:db8:1::5")),
)


@dataclasses.dataclass(frozen=True)
class Version:
    """One list of the sequence: its step, addresses, the blocks a consumer must hold, and each format."""

    step: str
    addresses: tuple[str, ...]
    allowlist: Allowlist

    @property
    def blocks(self) -> list[str]:
        return [str(n) for n in self.allowlist.networks]

    def family(self, version: int) -> list[str]:
        return [str(n) for n in self.allowlist.networks if n.version == version]

    def render(self, fmt: str) -> bytes:
        return FORMATS[fmt].render(self.allowlist).data


def make_version(step: str, addresses: tuple[str, ...], region: str = "us", aggregate: bool = True) -> Version:
    al = Allowlist(
        region=region,
        moment=GENERATED,
        generated_at=GENERATED,
        plan_name="plan.yaml",
        plan_sha256="0" * 64,
        notice_days=7,
        sync_token=str(len(addresses)),
        published_sha256="0" * 64,
        live=tuple(addresses),
        additions=(),
        retirements=(),
        live_only=False,
        aggregate=aggregate,
    )
    return Version(step, tuple(addresses), al)


@pytest.fixture
def changes() -> list[Version]:
    """The us list through the sequence of :data:`CHANGES`, aggregated as the CLI does by default."""
    return [make_version(step, addresses) for step, addresses in CHANGES]


def blocks_of(addresses: list[str]) -> list[str]:
    return [str(n) for n in to_networks([ipaddress.ip_address(a) for a in addresses], True)]


def find_tool(name: str) -> str:
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin:/usr/bin")
    if path:
        return path
    if os.environ.get("CI"):
        pytest.fail(f"{name} is missing; scripts/dev/test installs it (CI must run every consumer)")
    pytest.skip(f"{name} is not installed (scripts/dev/test installs it)")


@pytest.fixture
def tool() -> Callable[[str], str]:
    """``tool(name)``: the binary's path; a skip on a workstation without it, a failure in CI."""
    return find_tool


def run(*argv: str, check: bool = True, **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, **kw)
    if check and proc.returncode != 0:
        raise AssertionError(f"{argv} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture
def netns() -> Iterator[Callable[..., subprocess.CompletedProcess]]:
    """``netns(*argv)``: run in a throwaway network namespace (its own empty firewall), deleted afterwards.
    Not root, or no namespaces: a skip on a workstation, a failure in CI."""
    ip = find_tool("ip")
    name = f"egress-test-{uuid.uuid4().hex[:8]}"
    if run(ip, "netns", "add", name, check=False).returncode != 0:
        if os.environ.get("CI"):
            pytest.fail("cannot create a network namespace (CI runs as root and must test the live rulesets)")
        pytest.skip("cannot create a network namespace here (needs root)")
    try:
        yield lambda *argv, **kw: run(ip, "netns", "exec", name, *argv, **kw)
    finally:
        run(ip, "netns", "del", name, check=False)
