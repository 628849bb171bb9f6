"""The lookups of a check: which server to ask (``--nameserver``, else the system's from /etc/resolv.conf), how
many lookups in flight at once, and each lookup's time budget."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from ...errors import ConfigError
from ...masking import excerpt
from .answers import Answer, unknown
from .wire import Server, Wire

RESOLV_CONF = Path("/etc/resolv.conf")
Ask = Callable[[str, str], Awaitable[Answer]]


class NoNameserver(ConfigError):
    """Neither ``--nameserver`` nor /etc/resolv.conf names a server to ask."""


def system_nameservers(path: Path = RESOLV_CONF) -> list[Server]:
    """The ``nameserver`` lines of a resolv.conf, in order, on port 53."""
    servers: list[Server] = []
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as exc:
        raise NoNameserver(f"cannot read {path} ({exc.strerror}): pass --nameserver HOST:PORT") from None
    for line in lines:
        fields = line.split("#", 1)[0].split(";", 1)[0].split()
        if len(fields) >= 2 and fields[0] == "nameserver":
            try:
                servers.append((ipaddress.ip_address(fields[1].split("%", 1)[0]).compressed, 53))
            except ValueError:
                continue
    if not servers:
        raise NoNameserver(f"{path} names no nameserver: pass --nameserver HOST:PORT")
    return servers


class Resolver:
    """``nameserver`` is ``(address, port)`` or ``None`` for the system's servers; ``authoritative`` asks each of a
    zone's own name servers directly (on ``nameserver``'s port when one is given, else 53); ``timeout`` is each
    lookup's budget in seconds (retries included); ``concurrency`` bounds the lookups in flight."""

    def __init__(
        self,
        nameserver: tuple[str, int] | None,
        authoritative: bool,
        timeout: float,
        concurrency: int,
        *,
        resolv_conf: Path = RESOLV_CONF,
    ) -> None:
        if timeout <= 0 or concurrency < 1:
            raise ConfigError(f"timeout {timeout!r} and concurrency {concurrency!r} must be positive")
        self.servers = [_server(nameserver)] if nameserver else system_nameservers(resolv_conf)
        self.authoritative = authoritative
        self.timeout = timeout
        self.concurrency = concurrency
        self.authoritative_port = nameserver[1] if nameserver else 53
        self.zones: dict[str, asyncio.Future[object]] = {}  # the authoritative servers per name, found once a run
        self._wire = Wire()
        self._slots: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.sent: list[tuple[str, str]] = []  # the queries sent, when ``record_queries`` (the benchmark's list)
        self.record_queries = False

    async def ask(self, name: str, rdtype: str) -> Answer:
        """Ask the configured (recursive) server, trying the next system server on a timeout."""
        answer = unknown(name, rdtype, "not asked", "")
        for server in self.servers[:3]:
            answer = await self.ask_server(name, rdtype, server, recursion=True)
            if answer.kind != "unknown":
                break
        return answer

    async def ask_server(self, name: str, rdtype: str, server: Server, *, recursion: bool) -> Answer:
        loop = asyncio.get_running_loop()
        if self._slots is None or self._loop is not loop:
            self._slots, self._loop, self.zones = asyncio.Semaphore(self.concurrency), loop, {}
        async with self._slots:
            if self.record_queries:
                self.sent.append((name, rdtype))
            return await self._wire.query(name, rdtype, server, self.timeout, recursion=recursion)

    def pinned(self, server: Server, zone: str) -> Ask:
        """Ask ``server`` directly (no recursion) for names in ``zone``, the configured server for others."""

        async def ask(name: str, rdtype: str) -> Answer:
            if name == zone or name.endswith("." + zone):
                return await self.ask_server(name, rdtype, server, recursion=False)
            return await self.ask(name, rdtype)

        return ask

    async def aclose(self) -> None:
        self._wire.close()

    async def __aenter__(self) -> Resolver:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def _server(nameserver: Sequence[object]) -> Server:
    host, port = nameserver[0], nameserver[1]
    try:
        address = ipaddress.ip_address(str(host)).compressed
    except ValueError:
        raise ConfigError(
            f"nameserver {excerpt(str(host))} is not an IP address: pass --nameserver ADDRESS:PORT"
        ) from None
    if not isinstance(port, int) or not 0 < port < 65536:
        raise ConfigError(f"nameserver port {excerpt(str(port))} is not a port number (1-65535)")
    return (address, port)
