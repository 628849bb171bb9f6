"""A real authoritative DNS server for tests: knotd on 127.0.0.1 serving the zones given (text), answering within
its own process; stopped at the end. Zones can be replaced and reloaded."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from pathlib import Path

import dns.message
import dns.query


def _free_udp_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1 (knotd listens on both)."""
    import socket

    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port = udp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no port free for both UDP and TCP on 127.0.0.1")


@contextlib.contextmanager
def knot(folder: Path, zones: dict[str, str]):
    """Yield (host, port) of a knotd serving ``zones`` (origin -> zone text)."""
    if shutil.which("knotd") is None:
        raise RuntimeError("knotd is not installed (apt-get install knot)")
    folder.mkdir(parents=True, exist_ok=True)
    port = _free_udp_port()
    conf = [
        "server:",
        f"  listen: 127.0.0.1@{port}",
        f"  rundir: {folder}",
        "  user: root:root",
        "control:",
        f"  listen: {folder}/knot.sock",
        "database:",
        f"  storage: {folder}/db",
        "template:",
        "  - id: default",
        f"    storage: {folder}",
        "    zonefile-sync: -1",
        "    journal-content: none",
        "zone:",
    ]
    for origin, text in zones.items():
        (folder / f"{origin}.zone").write_text(text)
        conf += [f"  - domain: {origin}", f"    file: {origin}.zone"]
    (folder / "knot.conf").write_text("\n".join(conf) + "\n")
    proc = subprocess.Popen(
        ["knotd", "-c", str(folder / "knot.conf")], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        origin = next(iter(zones))
        deadline = time.monotonic() + 10
        while True:
            try:
                dns.query.udp(dns.message.make_query(origin, "SOA"), "127.0.0.1", port=port, timeout=0.2)
                break
            except Exception:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"knotd did not start: {proc.stderr.read().decode()[:500]}") from None
        yield ("127.0.0.1", port)
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def reload(folder: Path, origin: str, text: str) -> None:
    (folder / f"{origin}.zone").write_text(text)
    subprocess.run(["knotc", "-s", str(folder / "knot.sock"), "zone-reload", origin], check=True, capture_output=True)
