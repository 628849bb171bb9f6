"""knotd on loopback for the DNS checks' tests: authoritative only, zones written by the test, one process
listening on one port at several 127.0.0.x addresses."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

import dns.message
import dns.query

SOA = "@ SOA ns.cust.test. hostmaster.cust.test. 1 3600 600 86400 300\n"
NS = "@ NS ns.cust.test.\n"


def free_port(addresses: Sequence[str]) -> int:
    """A port free for UDP and TCP on every address (bound and released at once: a tiny race, retried by start)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind((addresses[0], 0))
            port = int(probe.getsockname()[1])
        try:
            for address in addresses:
                for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                    with socket.socket(socket.AF_INET, kind) as s:
                        s.bind((address, port))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port")


def _ns(records: str) -> str:
    return "" if "@ NS" in records else NS


class Knot:
    """``zones`` maps a zone name to its records (zone-file text after ``$ORIGIN``; the SOA is added, and an NS
    ns.cust.test. unless the records have their own); ``broken`` zones are written unparsable (knotd then
    answers SERVFAIL for them)."""

    def __init__(self, workdir: Path, addresses: Sequence[str], port: int) -> None:
        self.knotd = shutil.which("knotd") or "/usr/sbin/knotd"
        if not Path(self.knotd).exists():
            raise RuntimeError("knotd is not installed (apt-get install knot knot-dnsutils)")
        self.dir, self.addresses, self.port = workdir, list(addresses), port
        self.dir.mkdir(parents=True, exist_ok=True)
        self.process: subprocess.Popen[bytes] | None = None

    def write(self, zones: dict[str, str], broken: Sequence[str] = ()) -> None:
        conf = ["server:"]
        conf += [f"  listen: {a}@{self.port}" for a in self.addresses]
        conf += [f"  rundir: {self.dir}", "  user: root:root", "control:", f"  listen: {self.dir}/knot.sock"]
        conf += ["database:", f"  storage: {self.dir}/db", "template:", "  - id: default", f"    storage: {self.dir}"]
        # soft: a CNAME beside other data (or at an apex) loads, with a warning, as some providers serve it
        conf += ["    zonefile-sync: -1", "    journal-content: none", "    semantic-checks: soft", "zone:"]
        for zone, records in {**zones, **dict.fromkeys(broken, "")}.items():
            text = (
                "garbage that is no zone file\n"
                if zone in broken
                else f"$ORIGIN {zone}.\n$TTL 300\n{SOA}{_ns(records)}{records}"
            )
            (self.dir / f"{zone}.zone").write_text(text)
            conf += [f"  - domain: {zone}", f"    file: {zone}.zone"]
        (self.dir / "knot.conf").write_text("\n".join(conf) + "\n")

    def start(self) -> None:
        log = (self.dir / "knotd.log").open("wb")
        self.process = subprocess.Popen([self.knotd, "-c", str(self.dir / "knot.conf")], stdout=log, stderr=log)
        query = dns.message.make_query("ns.cust.test.", "A")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"knotd exited: {(self.dir / 'knotd.log').read_text()[-2000:]}")
            try:
                dns.query.udp(query, self.addresses[-1], port=self.port, timeout=0.2)
                return
            except (dns.exception.Timeout, OSError):
                time.sleep(0.05)
        raise RuntimeError("knotd did not answer within 10 s")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
