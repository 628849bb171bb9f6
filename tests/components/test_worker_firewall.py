"""The worker host's nftables ruleset, loaded by the real nft into a network namespace of the test's own and
tried with real connections to a second namespace (the "VPC": resolver, endpoints, metadata, other hosts)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import uuid

import pytest

from smtp_egress.components.worker_firewall import check_vpc_cidr, ruleset, vpc_resolver

VPC = "10.200.0.0/24"  # inside the test's own namespaces only
PEER = "10.200.0.2"  # the VPC resolver's address (base + 2), and a host in the VPC
IMDS = "169.254.169.254"
PORTS = (25, 53, 443, 8080)
OTHER_UID = 54321  # neither root nor the worker's user

LISTEN = textwrap.dedent(
    """
    import socket, selectors, sys, time
    sel = selectors.DefaultSelector()
    for host, port in [(h, int(p)) for h, p in (a.split(":") for a in sys.argv[1:])]:
        s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind((host, port)); s.listen()
        sel.register(s, selectors.EVENT_READ)
    print("ready", flush=True)
    end = time.monotonic() + 120
    while time.monotonic() < end:
        for key, _ in sel.select(1):
            conn, _ = key.fileobj.accept(); conn.close()
    """
)
CONNECT = textwrap.dedent(
    """
    import errno, os, socket, sys
    host, port, uid = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    if uid:
        os.setuid(uid)
    s = socket.socket(); s.settimeout(3)
    try:
        s.connect((host, port)); print("connected")
    except OSError as e:
        print(errno.errorcode.get(e.errno or 0, type(e).__name__))
    """
)


def _run(*cmd: str) -> None:
    subprocess.run(cmd, check=True, capture_output=True, timeout=30)


@pytest.fixture(scope="module")
def netns():
    if os.geteuid() != 0 or not shutil.which("ip") or not shutil.which("nft"):
        if os.environ.get("CI"):
            pytest.fail("the firewall tests need root, ip and nft (scripts/dev/test installs them)")
        pytest.skip("needs root, ip and nft")
    tag = uuid.uuid4().hex[:6]
    host, vpc = f"eh{tag}", f"ev{tag}"
    _run("ip", "netns", "add", host)
    _run("ip", "netns", "add", vpc)
    listener = None
    try:
        _run("ip", "link", "add", "v0", "netns", host, "type", "veth", "peer", "name", "v1", "netns", vpc)
        for ns, dev, addr in ((host, "v0", "10.200.0.1/24"), (vpc, "v1", f"{PEER}/24")):
            _run("ip", "-n", ns, "addr", "add", addr, "dev", dev)
            _run("ip", "-n", ns, "link", "set", dev, "up")
            _run("ip", "-n", ns, "link", "set", "lo", "up")
        _run("ip", "-n", vpc, "addr", "add", f"{IMDS}/32", "dev", "v1")
        _run("ip", "-n", host, "route", "add", f"{IMDS}/32", "dev", "v0")
        targets = [f"{PEER}:{p}" for p in PORTS] + [f"{IMDS}:80"]
        listener = subprocess.Popen(
            ["ip", "netns", "exec", vpc, sys.executable, "-c", LISTEN, *targets], stdout=subprocess.PIPE, text=True
        )
        assert listener.stdout is not None and listener.stdout.readline().strip() == "ready"
        rules = ruleset(VPC, worker_user="nobody")
        subprocess.run(["ip", "netns", "exec", host, "nft", "-f", "-"], input=rules, text=True, check=True, timeout=30)
        yield host
    finally:
        if listener is not None:
            listener.kill()
            listener.wait(timeout=10)
        for ns in (host, vpc):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=30)


def connect(ns: str, host: str, port: int, uid: int = 0) -> str:
    cmd = ["ip", "netns", "exec", ns, sys.executable, "-c", CONNECT, host, str(port), str(uid)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=True).stdout.strip()


@pytest.mark.parametrize(
    "host, port, uid, outcome",
    [
        (PEER, 443, 0, "connected"),  # the VPC's interface endpoints
        (PEER, 53, OTHER_UID, "connected"),  # the VPC resolver, for anyone
        (PEER, 25, 0, "ECONNREFUSED"),  # TCP 25: a reset, at once
        (PEER, 8080, 0, "EHOSTUNREACH"),  # any other port in a private range: administratively prohibited
        (IMDS, 80, 0, "connected"),  # root reaches instance metadata
        (IMDS, 80, 65534, "connected"),  # and so does the worker's own user ("nobody" here)
        (IMDS, 80, OTHER_UID, "EHOSTUNREACH"),  # nobody else does
    ],
)
def test_what_the_worker_host_may_reach(netns, host, port, uid, outcome):
    assert connect(netns, host, port, uid) == outcome


def test_reloading_replaces_the_table_instead_of_doubling_it(netns):
    subprocess.run(
        ["ip", "netns", "exec", netns, "nft", "-f", "-"], input=ruleset(VPC, "nobody"), text=True, check=True
    )
    listed = subprocess.run(
        ["ip", "netns", "exec", netns, "nft", "list", "ruleset"], capture_output=True, text=True, check=True
    ).stdout
    assert listed.count("table inet smtp_egress_worker") == 1 and listed.count("tcp dport 25") == 1


def test_the_resolver_is_the_vpc_base_plus_two():
    assert vpc_resolver("10.40.0.0/16") == "10.40.0.2" and vpc_resolver("172.31.16.0/20") == "172.31.16.2"


@pytest.mark.parametrize("value", ["0.0.0.0/0", "8.8.8.0/24", "10.0.0.0/8", "10.1.0.0/16; flush ruleset", None, 10])
def test_only_a_private_vpc_cidr_goes_in(value):
    with pytest.raises(ValueError, match="vpc_cidr"):
        check_vpc_cidr(value)
