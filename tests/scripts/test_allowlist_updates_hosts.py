"""The host firewall and server allowlists through a sequence of list changes (an addition, a removal, a
rotation of every address), applied with their documented commands by the real tools: nft, iptables-restore,
ip6tables-restore and ufw inside a throwaway network namespace, Postfix's cidr lookup, and a running nginx
reloaded after each change. After each apply the live state holds exactly the list; applying twice changes
nothing.
"""

from __future__ import annotations

import ipaddress
import json
import shutil
import socket
import subprocess
import textwrap
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from .conftest import Version, check_cut_short, run

CHAIN = "SMTP-EGRESS-US"
HOOK = ["INPUT", "-p", "tcp", "-m", "multiport", "--dports", "465,587,2525", "-j", CHAIN]


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    """Replace the file the way the usage says: a new file beside it, moved over the old one."""
    path = tmp_path / name
    new = tmp_path / f".{name}.new"
    new.write_bytes(data)
    new.replace(path)
    return path


def _net(value: str) -> str:
    return str(ipaddress.ip_network(value))


# --- nftables -------------------------------------------------------------------------------------------------


def _nft_sets(netns, nft: str) -> dict[str, list[str]]:
    doc = json.loads(netns(nft, "-j", "list", "table", "inet", "smtp_egress_us").stdout)
    sets: dict[str, list[str]] = {}
    for item in doc["nftables"]:
        if "set" in item:
            elems = item["set"].get("elem", [])
            sets[item["set"]["name"]] = sorted(
                _net(e) if isinstance(e, str) else _net(f"{e['prefix']['addr']}/{e['prefix']['len']}") for e in elems
            )
    return sets


def test_nftables_file_replaces_its_table_at_each_change(tool, netns, tmp_path, changes: list[Version]):
    nft = tool("nft")
    for version in changes:
        path = _write(tmp_path, "nftables.nft", version.render("nftables"))
        netns(nft, "-f", str(path))
        first = netns(nft, "list", "ruleset").stdout
        netns(nft, "-f", str(path))
        assert netns(nft, "list", "ruleset").stdout == first, version.step
        want = {f"allowed_v{v}": sorted(version.family(v)) for v in (4, 6) if version.family(v)}
        assert _nft_sets(netns, nft) == want, version.step
        assert first.count("} accept") == len(want)
    # one transaction: a file that fails halfway leaves the last list in place
    broken = _write(
        tmp_path, "nftables.nft", changes[0].render("nftables").replace(b"198.51.100.20", b"198.51.100.300")
    )
    assert netns(nft, "-f", str(broken), check=False).returncode != 0
    assert _nft_sets(netns, nft)["allowed_v4"] == changes[-1].family(4)


# --- iptables / ip6tables -------------------------------------------------------------------------------------


def _save(netns, save: str) -> list[str]:
    """The live ruleset without the comment and counter lines that differ between two dumps."""
    return [line for line in netns(save).stdout.splitlines() if not line.startswith("#")]


@pytest.mark.parametrize(("fmt", "family"), [("iptables", 4), ("ip6tables", 6)])
def test_iptables_restore_refills_its_chain_at_each_change(tool, netns, tmp_path, changes, fmt, family):
    restore, cmd, save = tool(f"{fmt}-restore"), tool(fmt), tool(f"{fmt}-save")
    netns(cmd, "-A", "INPUT", "-p", "tcp", "--dport", "22", "-j", "ACCEPT")  # a rule of the customer's own
    for version in changes:
        path = _write(tmp_path, f"{fmt}.rules", version.render(fmt))
        states = []
        for _ in range(2):
            netns(restore, "--noflush", str(path))
            if netns(cmd, "-C", *HOOK, check=False).returncode != 0:  # the documented hook: -C || -I
                netns(cmd, "-I", *HOOK)
            states.append(_save(netns, save))
        assert states[0] == states[1], version.step
        chain = netns(cmd, "-S", CHAIN).stdout.splitlines()
        assert [_net(line.split()[3]) for line in chain[1:]] == version.family(family), version.step
        inp = netns(cmd, "-S", "INPUT").stdout
        assert inp.count(f"-j {CHAIN}") == 1 and "--dport 22 -j ACCEPT" in inp


# --- ufw ------------------------------------------------------------------------------------------------------


@pytest.fixture
def ufw_root(tmp_path, tool) -> Path:
    """A private copy of ufw's configuration (``ufw --rootdir``): the host's /etc/ufw is never touched. The
    ``ufw`` on PATH for the script is the real one pointed at it; its kernel rules land in the namespace."""
    real = tool("ufw")
    root = tmp_path / "ufw-root"
    for src in ("/etc/ufw", "/lib/ufw", "/usr/share/ufw"):
        shutil.copytree(src, root / src.lstrip("/"), symlinks=True)
    (root / "etc" / "default").mkdir(parents=True)
    defaults = Path("/etc/default/ufw").read_text()
    (root / "etc" / "ufw" / "sysctl.empty").write_text("")  # leave every sysctl alone
    (root / "etc" / "default" / "ufw").write_text(
        "\n".join(
            f"IPT_SYSCTL={root}/etc/ufw/sysctl.empty" if line.startswith("IPT_SYSCTL=") else line
            for line in defaults.splitlines()
        )
        + "\n"
    )
    bin_dir = tmp_path / "ufw-bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "ufw"
    wrapper.write_text(f'#!/bin/sh\nexec {real} --rootdir={root} --datadir={root} "$@"\n')
    wrapper.chmod(0o755)
    return bin_dir


def _ufw_state(netns, tool, ufw_root: Path) -> tuple:
    """ufw's rule files and the kernel rules it loaded in the namespace."""
    rules = [ufw_root.parent / "ufw-root" / "etc" / "ufw" / name for name in ("user.rules", "user6.rules")]
    return (
        [p.read_bytes() for p in rules],
        _save(netns, tool("iptables-save")),
        _save(netns, tool("ip6tables-save")),
    )


def _ufw_path(ufw_root: Path) -> str:
    return f"{ufw_root}:/usr/sbin:/usr/bin:/sbin:/bin"


def _ufw_ours(added: str) -> list[str]:
    """The blocks of our rules in ``ufw show added``."""
    return sorted(_net(line.split()[3]) for line in added.splitlines() if line.endswith("comment 'smtp-egress us'"))


def test_ufw_script_adds_then_deletes_at_each_change(tool, netns, tmp_path, ufw_root, changes):
    path = _ufw_path(ufw_root)
    ufw = ["env", f"PATH={path}", "ufw"]
    netns(*ufw, "--force", "enable")
    netns(*ufw, "allow", "22/tcp")  # a rule of the customer's own
    for version in changes:
        script = _write(tmp_path, "ufw.sh", version.render("ufw"))
        netns("env", f"PATH={path}", "sh", str(script))
        first = _ufw_state(netns, tool, ufw_root)
        second_run = netns("env", f"PATH={path}", "sh", str(script)).stdout
        assert "Skipping adding existing rule" in second_run and "deleted" not in second_run.lower()
        assert _ufw_state(netns, tool, ufw_root) == first, version.step
        added = netns(*ufw, "show", "added").stdout
        assert _ufw_ours(added) == sorted(version.blocks), (version.step, added)
        assert "ufw allow 22/tcp" in added
        for family, chain, cmd in ((4, "ufw-user-input", "iptables"), (6, "ufw6-user-input", "ip6tables")):
            live = [
                _net(line.split()[3])
                for line in netns(cmd, "-S", chain).stdout.splitlines()
                if "--dports 465,587,2525" in line
            ]
            assert sorted(live) == sorted(version.family(family)), (version.step, chain)


def test_ufw_script_cut_short_changes_nothing_and_says_so(tool, netns, tmp_path, ufw_root, changes):
    """A failed download of the next list (the removal: its first half would delete the rules of what the
    second half lists), cut at every line and within the lines that apply it, run by dash and bash as root:
    each run fails with the incomplete-file message and ufw's rules stay as they were."""
    path = _ufw_path(ufw_root)
    netns("env", f"PATH={path}", "ufw", "--force", "enable")
    netns("env", f"PATH={path}", "sh", str(_write(tmp_path, "ufw.sh", changes[1].render("ufw"))))

    def run_cut(shell: list[str], script: Path) -> subprocess.CompletedProcess:
        return netns("env", f"PATH={path}", *shell, str(script), check=False)

    def state() -> tuple:
        return _ufw_state(netns, tool, ufw_root)

    assert check_cut_short(changes[2].render("ufw"), tmp_path / "cut.sh", run_cut, state) > 50
    netns("env", f"PATH={path}", "sh", str(_write(tmp_path, "ufw.sh", changes[2].render("ufw"))))
    assert _ufw_ours(netns("env", f"PATH={path}", "ufw", "show", "added").stdout) == sorted(changes[2].blocks)


# --- Postfix --------------------------------------------------------------------------------------------------


def test_postfix_cidr_table_answers_for_the_new_list_only(tool, tmp_path, changes):
    postmap = tool("postmap")
    config = tmp_path / "postfix"
    config.mkdir()
    (config / "main.cf").write_text("")
    everyone = sorted({a for v in changes for a in v.addresses})
    for version in changes:
        table = _write(tmp_path, "smtp-egress-us.cidr", version.render("postfix-cidr"))
        for address in everyone:
            proc = run(postmap, "-c", str(config), "-q", address, f"cidr:{table}", check=False)
            expected = (0, "OK\n") if address in version.addresses else (1, "")
            assert (proc.returncode, proc.stdout) == expected, (version.step, address)


# --- nginx: a running server, reloaded after each change ------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _status(port: int, address: str) -> int:
    """The answer to a request that nginx attributes to ``address`` (realip from a trusted 127.0.0.1)."""
    req = urllib.request.Request(f"http://127.0.0.1:{port}/", headers={"X-Real-IP": address})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_nginx_reload_applies_each_new_list(tool, tmp_path, changes):
    nginx = tool("nginx")
    root, port = tmp_path / "nginx", _free_port()
    root.mkdir()
    snippet = root / "smtp-egress-us.conf"
    conf = root / "nginx.conf"
    conf.write_text(
        textwrap.dedent(f"""\
        pid {root}/nginx.pid;
        error_log {root}/error.log;
        events {{}}
        http {{
            access_log off;
            client_body_temp_path {root}/body;
            proxy_temp_path {root}/proxy;
            fastcgi_temp_path {root}/fastcgi;
            uwsgi_temp_path {root}/uwsgi;
            scgi_temp_path {root}/scgi;
            server {{
                listen 127.0.0.1:{port};
                set_real_ip_from 127.0.0.1;
                real_ip_header X-Real-IP;
                location / {{ include {snippet}; empty_gif; }}  # return would answer before access
            }}
        }}
        """)
    )
    everyone = sorted({a for v in changes for a in v.addresses})
    ctl = [nginx, "-p", str(root), "-c", str(conf)]
    _write(root, snippet.name, changes[0].render("nginx"))
    run(*ctl, "-t")
    run(*ctl)  # starts the master process (daemon)
    try:
        for i, version in enumerate(changes):
            if i:
                _write(root, snippet.name, version.render("nginx"))
                run(*ctl, "-t")
                run(*ctl, "-s", "reload")
            want = {a: 200 if a in version.addresses else 403 for a in everyone}
            deadline = time.monotonic() + 10
            while (got := {a: _status(port, a) for a in everyone}) != want and time.monotonic() < deadline:
                time.sleep(0.1)  # old workers finish; new ones answer with the new list
            assert got == want, version.step
    finally:
        subprocess.run([*ctl, "-s", "quit"], capture_output=True, timeout=30)
