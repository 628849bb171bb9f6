"""Fixtures for the command-line tests: a customer's webhook endpoint that answers what a test tells it to, and
for the allowlist tests: a real consumer's binary (skipped on a workstation, failed in CI when missing), a
throwaway network namespace, and one region's list through a sequence of changes."""

from __future__ import annotations

import dataclasses
import datetime as dt
import ipaddress
import itertools
import os
import shutil
import subprocess
import threading
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from smtp_egress.allowlists import FORMATS, Allowlist, shell
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


# --- a shell script cut short (a failed download) -------------------------------------------------------------


def _main_at(script: bytes) -> int:
    """Where ``main() {`` starts (the start of the file if it has none: then every line counts as main's)."""
    return script.find(b"\nmain() {\n") + 1


def cuts(script: bytes) -> list[int]:
    """Where a failed download may stop a generated shell script, from its incomplete-file guard on: at every
    line end, in the middle of every line of ``main()``, and at every byte of the last line (the call). Not the
    whole file without its final newline: that is the whole script."""
    start = script.index(shell.GUARD.encode()) + len(shell.GUARD) + 1
    body = _main_at(script)
    ends = [i + 1 for i in range(start, len(script)) if script[i] == ord("\n")]
    middles = [(a + b) // 2 for a, b in itertools.pairwise(ends) if a >= body]
    last = range(script.rindex(b"\n", 0, len(script) - 1) + 1, len(script) - 1)
    return sorted({start, *ends, *middles, *last} - {len(script), len(script) - 1})


def check_cut_short(
    script: bytes,
    path: Path,
    run_script: Callable[[list[str], Path], subprocess.CompletedProcess],
    state: Callable[[], object],
) -> int:
    """``script`` cut at each of :func:`cuts`, written to ``path`` and run by dash and by bash --posix through
    ``run_script(shell_argv, path)``: every run fails with the incomplete-file message, prints nothing else,
    and leaves ``state()`` (the live system, read from the real consumer) as it was. Returns the runs made."""
    shells = [[find_tool("dash")], [find_tool("bash"), "--posix"]]
    before, body, runs = state(), _main_at(script), 0
    for cut in cuts(script):
        path.write_bytes(script[:cut])
        for argv in shells:
            proc = run_script(argv, path)
            where = (argv[0], cut, script[max(0, cut - 60) : cut].decode())
            assert proc.returncode == 1 and shell.INCOMPLETE in proc.stderr and proc.stdout == "", (where, proc)
            runs += 1
        if cut >= body:
            assert state() == before, where
    assert state() == before
    return runs


class Endpoint(ThreadingHTTPServer):
    """A real HTTP server on 127.0.0.1 answering every POST and GET with ``status`` and ``body`` (as
    ``content_type``); it records each request's path and body."""

    daemon_threads = True

    def __init__(self, status: int, body: bytes, content_type: str):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.status, self.body, self.content_type = status, body, content_type
        self.requests: list[tuple[str, bytes]] = []

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: Endpoint

    def do_POST(self):
        self._answer(self.rfile.read(int(self.headers.get("Content-Length") or 0)))

    def do_GET(self):
        self._answer(b"")

    def _answer(self, body: bytes) -> None:
        self.server.requests.append((self.path, body))
        self.send_response(self.server.status)
        self.send_header("Content-Type", self.server.content_type)
        self.send_header("Content-Length", str(len(self.server.body)))
        self.end_headers()
        self.wfile.write(self.server.body)

    def log_message(self, *args):
        pass


@pytest.fixture
def endpoint():
    """``endpoint(status, body, content_type="text/plain")`` -> a started :class:`Endpoint` (stopped after)."""
    started: list[Endpoint] = []

    def start(status: int, body: str | bytes, content_type: str = "text/plain") -> Endpoint:
        server = Endpoint(status, body.encode() if isinstance(body, str) else body, content_type)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.shutdown()
        server.server_close()
