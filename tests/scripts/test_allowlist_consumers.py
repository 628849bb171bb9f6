"""Every allowlist format fed to the real tool that consumes it, where that tool runs here: nft, iptables-restore
and ip6tables-restore (syntax check, and a real load in a throwaway network namespace), Postfix's cidr lookup,
nginx, Apache, HAProxy, ufw --dry-run; and the --all bundle checked with the real sha256sum and openssl.

Each consumer also gets a broken copy (a negative control) and must reject it, so a check that
accepts anything cannot pass. A missing binary skips the test on a workstation and fails it in CI
(scripts/dev/test installs them all).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import stat
import subprocess
import textwrap
from pathlib import Path

import pytest

from smtp_egress.allowlists import FORMATS
from smtp_egress.dates import UTC
from smtp_egress.ledger import Ledger
from smtp_egress.plan import load_plan
from smtp_egress.scripts.cli import main

from .conftest import find_tool as tool
from .conftest import run

PLAN = (Path(__file__).resolve().parents[1] / "data" / "allowlist-plan.yaml").read_text()
LISTED = ["198.51.100.8", "198.51.100.11", "198.51.100.20", "2001:db8::11", "2001:db8::20"]
UNLISTED = ["198.51.100.12", "198.51.100.13", "198.51.100.21", "2001:db8::12", "203.0.113.20"]
BROKEN = ("198.51.100.20", "198.51.100.300")  # a negative control: the same file with an invalid address


@pytest.fixture
def env(tmp_path, monkeypatch):
    for name in ("EGRESS_DB", "EGRESS_SIGNING_KEY", "SOURCE_DATE_EPOCH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    plan_path = tmp_path / "plan.yaml"
    plan_path.write_text(PLAN)
    plan = load_plan(plan_path)
    db = f"sqlite:///{tmp_path}/l.db"
    ledger = Ledger(db, create=True)
    for change in plan.changes():
        if change.ip in ("198.51.100.10", "198.51.100.11"):
            ledger.announce(change, dt.datetime(2026, 11, 25, 9, tzinfo=UTC), plan.notice_days, plan.sha256, [])
    ledger.close()
    return {"args": ["--plan", str(plan_path), "--db", db], "tmp": tmp_path}


def write(env, capsys, fmt: str, *extra, broken: bool = False) -> Path:
    """The us allowlist in ``fmt`` as a file (``broken``: with one address made invalid)."""
    code = main(["allowlist", *env["args"], "--region", "us", "--format", fmt, "--at", "2026-11-26", *extra])
    out, err = capsys.readouterr()
    assert code == 0, err
    if broken:
        assert BROKEN[0] in out
        out = out.replace(*BROKEN)
    path = env["tmp"] / (("broken-" if broken else "") + FORMATS[fmt].filename)
    path.write_text(out)
    return path


# --- nftables -------------------------------------------------------------------------------------------------


def test_nft_checks_the_ruleset(env, capsys):
    nft = tool("nft")
    run(nft, "-c", "-f", str(write(env, capsys, "nftables")))
    assert run(nft, "-c", "-f", str(write(env, capsys, "nftables", broken=True)), check=False).returncode != 0


def test_nft_loads_and_reloads_in_a_namespace(env, capsys, netns):
    nft = tool("nft")
    path = write(env, capsys, "nftables")
    netns(nft, "-f", str(path))
    netns(nft, "-f", str(path))  # a reload replaces the table, never duplicates it
    listing = netns(nft, "list", "table", "inet", "smtp_egress_us").stdout
    assert "198.51.100.8/30" in listing and "198.51.100.20" in listing and "2001:db8::10/127" in listing
    assert listing.count("tcp dport { 465, 587, 2525 } accept") == 2
    for ip in ("198.51.100.9", "198.51.100.11"):
        netns(nft, "get", "element", "inet", "smtp_egress_us", "allowed_v4", f"{{ {ip} }}")
    assert (
        netns(
            nft, "get", "element", "inet", "smtp_egress_us", "allowed_v4", "{ 198.51.100.13 }", check=False
        ).returncode
        != 0
    )


# --- iptables / ip6tables -------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["iptables", "ip6tables"])
def test_iptables_restore_test_accepts_it(env, capsys, fmt):
    restore = tool(f"{fmt}-restore")
    run(restore, "--test", str(write(env, capsys, fmt)))
    bad = write(env, capsys, fmt)
    text = bad.read_text().split("*filter")
    bad.write_text(text[0] + "*filter" + text[1].replace("/30 ", "/33 ").replace("/127 ", "/129 "))  # invalid masks
    assert run(restore, "--test", str(bad), check=False).returncode != 0


@pytest.mark.parametrize(
    ("fmt", "blocks"),
    [("iptables", ["198.51.100.8/30", "198.51.100.20/32"]), ("ip6tables", ["2001:db8::10/127", "2001:db8::20/128"])],
)
def test_iptables_restore_noflush_loads_twice_in_a_namespace(env, capsys, netns, fmt, blocks):
    restore, cmd = tool(f"{fmt}-restore"), tool(fmt)
    path = write(env, capsys, fmt)
    netns(cmd, "-A", "INPUT", "-p", "tcp", "--dport", "22", "-j", "ACCEPT")  # a rule of the customer's own
    for _ in range(2):
        netns(restore, "--noflush", str(path))
        # the documented hook: -C || -I, so the jump exists once however often it runs
        hook = ["INPUT", "-p", "tcp", "-m", "multiport", "--dports", "465,587,2525", "-j", "SMTP-EGRESS-US"]
        if netns(cmd, "-C", *hook, check=False).returncode != 0:
            netns(cmd, "-I", *hook)
    chain = netns(cmd, "-S", "SMTP-EGRESS-US").stdout.splitlines()
    assert chain[0] == "-N SMTP-EGRESS-US"
    assert [line.split()[3] for line in chain[1:]] == blocks
    inp = netns(cmd, "-S", "INPUT").stdout
    assert inp.count("-j SMTP-EGRESS-US") == 1 and "--dport 22 -j ACCEPT" in inp


# --- Postfix --------------------------------------------------------------------------------------------------


def test_postfix_cidr_lookup(env, capsys, tmp_path):
    postmap = tool("postmap")
    config = tmp_path / "postfix"
    config.mkdir()
    (config / "main.cf").write_text("")  # postmap reads a main.cf; an empty one takes every default
    table = write(env, capsys, "postfix-cidr")
    for ip in LISTED:
        assert run(postmap, "-c", str(config), "-q", ip, f"cidr:{table}").stdout == "OK\n", ip
    for ip in UNLISTED:
        proc = run(postmap, "-c", str(config), "-q", ip, f"cidr:{table}", check=False)
        assert (proc.returncode, proc.stdout) == (1, ""), ip
    broken = write(env, capsys, "postfix-cidr", broken=True)
    proc = run(postmap, "-c", str(config), "-q", "198.51.100.8", f"cidr:{broken}", check=False)
    assert proc.returncode != 0 or "198.51.100.300" in proc.stderr


# --- nginx, Apache, HAProxy -----------------------------------------------------------------------------------


def _nginx_conf(root: Path, snippet: Path) -> Path:
    stream = Path("/usr/lib/nginx/modules/ngx_stream_module.so")
    conf = root / "nginx.conf"
    conf.write_text(
        textwrap.dedent(f"""\
        {f"load_module {stream};" if stream.exists() else "# no stream module: http context only"}
        pid {root}/nginx.pid;
        error_log stderr;
        events {{}}
        http {{
            access_log off;
            client_body_temp_path {root}/body;
            server {{ listen 127.0.0.1:18080; location / {{ include {snippet}; return 204; }} }}
        }}
        """)
        + (
            f"stream {{ server {{ listen 127.0.0.1:12525; include {snippet}; proxy_pass 127.0.0.1:2526; }} }}\n"
            if stream.exists()
            else ""
        )
    )
    return conf


def test_nginx_accepts_the_snippet_in_stream_and_http(env, capsys, tmp_path):
    nginx = tool("nginx")
    if os.environ.get("CI"):
        assert Path("/usr/lib/nginx/modules/ngx_stream_module.so").exists(), "libnginx-mod-stream is missing"
    for broken in (False, True):
        root = tmp_path / f"nginx-{broken}"
        root.mkdir()
        conf = _nginx_conf(root, write(env, capsys, "nginx", broken=broken))
        proc = run(nginx, "-t", "-p", str(root), "-c", str(conf), "-e", "stderr", check=False)
        assert (proc.returncode == 0) is (not broken), proc.stderr


def test_apache_accepts_the_require_block(env, capsys, tmp_path):
    apache = tool("apache2")
    modules = Path("/usr/lib/apache2/modules")
    for broken in (False, True):
        root = tmp_path / f"apache-{broken}"
        root.mkdir()
        snippet = write(env, capsys, "apache", broken=broken)
        conf = root / "httpd.conf"
        conf.write_text(
            textwrap.dedent(f"""\
            ServerRoot {root}
            DefaultRuntimeDir {root}
            PidFile {root}/httpd.pid
            ErrorLog /dev/stderr
            LoadModule mpm_event_module {modules}/mod_mpm_event.so
            LoadModule authz_core_module {modules}/mod_authz_core.so
            LoadModule authz_host_module {modules}/mod_authz_host.so
            Listen 127.0.0.1:18081
            ServerName localhost
            <Location "/">
                Include {snippet}
            </Location>
            """)
        )
        proc = run(apache, "-t", "-f", str(conf), check=False)
        assert (proc.returncode == 0) is (not broken), proc.stderr


def test_haproxy_accepts_the_acl(env, capsys, tmp_path):
    haproxy = tool("haproxy")
    for broken in (False, True):
        snippet = write(env, capsys, "haproxy", broken=broken).read_text()
        cfg = tmp_path / f"haproxy-{broken}.cfg"
        cfg.write_text(
            textwrap.dedent("""\
            defaults
                mode tcp
                timeout connect 5s
                timeout client 30s
                timeout server 30s
            frontend smtp
                bind 127.0.0.1:12526
            """)
            + textwrap.indent(snippet, "    ")
            + "    default_backend relay\nbackend relay\n    server s1 127.0.0.1:2526\n"
        )
        proc = run(haproxy, "-c", "-f", str(cfg), check=False)
        assert (proc.returncode == 0) is (not broken), proc.stdout + proc.stderr


# --- the shell scripts ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["ufw", "aws-sg-sync", "aws-prefix-list-sync"])
@pytest.mark.parametrize("shell", ["dash", "bash"])
def test_shell_scripts_parse_in_posix_shells(env, capsys, fmt, shell):
    """dash is a strict POSIX sh (Debian's /bin/sh); bash --posix the common one. Run for real in
    test_allowlist_updates_*.py."""
    sh = tool(shell)
    posix = ["--posix"] if shell == "bash" else []
    path = write(env, capsys, fmt)
    assert path.read_text().startswith("#!/bin/sh\n")
    run(sh, *posix, "-n", str(path))
    broken = path.with_name("broken-" + path.name)
    broken.write_text(path.read_text().replace("esac", "", 1))  # a case left open
    assert run(sh, *posix, "-n", str(broken), check=False).returncode != 0


# --- ufw ------------------------------------------------------------------------------------------------------


def test_ufw_dry_run_accepts_every_command(env, capsys):
    ufw = tool("ufw")
    rules = [Path("/etc/ufw/user.rules"), Path("/etc/ufw/user6.rules")]
    before = [p.read_bytes() if p.exists() else None for p in rules]
    script = write(env, capsys, "ufw").read_text().splitlines()
    assert script[0] == "#!/bin/sh" and "set -eu" in script
    commands = [line.split() for line in script if line.lstrip().startswith("ufw allow ")]
    assert len(commands) == 4
    for words in commands:
        comment_at = words.index("comment")
        argv = [*words[:comment_at], "comment", " ".join(words[comment_at + 1 :]).strip("'")]
        proc = run(ufw, "--dry-run", *argv[1:])
        assert "-m multiport --dports 465,587,2525" in proc.stdout
    broken = next(
        line.split()
        for line in write(env, capsys, "ufw", broken=True).read_text().splitlines()
        if "198.51.100.300" in line
    )
    assert run(ufw, "--dry-run", *broken[1:-2], check=False).returncode != 0
    assert [p.read_bytes() if p.exists() else None for p in rules] == before  # --dry-run changed nothing


# --- the bundle: sha256sum, openssl, --verify -----------------------------------------------------------------


def egress(capsys, env, *argv):
    reads = argv[0] in ("--all", "--region")  # the plan and ledger; the other modes refuse --plan and --db
    code = main(["allowlist", *(env["args"] if reads else []), *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_all_writes_every_format_and_a_manifest_sha256sum_checks(env, capsys):
    sha256sum = tool("sha256sum")
    code, out, err = egress(capsys, env, "--all", "tree", "--at", "2026-11-26", "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["signed"] is False and summary["regions"] == ["eu", "us"]
    tree = env["tmp"] / "tree"
    for region in ("eu", "us"):
        for fmt in FORMATS.values():
            assert (tree / region / fmt.filename).is_file()
        doc = json.loads((tree / region / "ip_addresses.json").read_text())
        assert doc["region"] == region
    assert "us/exchange-online.ps1: Exchange Online inbound connectors accept IPv4 only" in err
    proc = run(sha256sum, "-c", "SHA256SUMS", cwd=tree)
    assert (
        proc.stdout.count(": OK") == len((tree / "SHA256SUMS").read_text().splitlines()) == 2 * (len(FORMATS) + 1) + 1
    )
    code, out, _ = egress(capsys, env, "--verify", str(tree))
    assert code == 0 and "signature not checked" in out
    (tree / "us" / "extra.txt").write_text("0.0.0.0/0\n")  # not in the manifest: reported, not trusted
    code, _, err = egress(capsys, env, "--verify", str(tree))
    assert code == 0 and "us/extra.txt is not in the manifest" in err
    code, _, err = egress(capsys, env, "--verify", str(env["tmp"] / "nowhere"))
    assert code == 3 and "cannot read" in err and "Traceback" not in err
    (tree / "us" / "nftables.nft").write_text(
        (tree / "us" / "nftables.nft").read_text().replace("198.51.100.8/30", "0.0.0.0/0")
    )
    assert run(sha256sum, "-c", "SHA256SUMS", cwd=tree, check=False).returncode != 0
    code, _, err = egress(capsys, env, "--verify", str(tree))
    assert code == 3 and "us/nftables.nft: checksum mismatch" in err


def test_generate_key_writes_a_private_0600_key_and_never_overwrites(env, capsys):
    (env["tmp"] / "keys").mkdir()
    code, _out, err = egress(capsys, env, "--generate-key", "keys/signing.pem")
    assert code == 0, err
    key = env["tmp"] / "keys" / "signing.pem"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert key.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert (env["tmp"] / "keys" / "signing.pem.pub").read_text().startswith("-----BEGIN PUBLIC KEY-----")
    before = key.read_bytes()
    code, _, err = egress(capsys, env, "--generate-key", "keys/signing.pem")
    assert code == 2 and "already exists" in err and key.read_bytes() == before


def test_signed_bundle_verifies_with_egress_and_openssl(env, capsys, monkeypatch):
    openssl = tool("openssl")
    assert egress(capsys, env, "--generate-key", "k.pem")[0] == 0
    monkeypatch.setenv("EGRESS_SIGNING_KEY", "k.pem")
    code, out, err = egress(capsys, env, "--all", "tree", "--at", "2026-11-26")
    assert code == 0 and "signed (SHA256SUMS.sig)" in out, err
    tree = env["tmp"] / "tree"
    assert len((tree / "SHA256SUMS.sig").read_bytes()) == 64
    listed = [line.split("  ", 1)[1] for line in (tree / "SHA256SUMS").read_text().splitlines()]
    assert "us/ip_addresses.json.sig" in listed and "SHA256SUMS.sig" not in listed

    def openssl_verify(data: str, sig: str, key="k.pem.pub") -> subprocess.CompletedProcess:
        return run(
            openssl,
            "pkeyutl",
            "-verify",
            "-pubin",
            "-inkey",
            str(env["tmp"] / key),
            "-rawin",
            "-in",
            data,
            "-sigfile",
            sig,
            cwd=tree,
            check=False,
        )

    assert "Signature Verified Successfully" in openssl_verify("SHA256SUMS", "SHA256SUMS.sig").stdout
    assert openssl_verify("us/ip_addresses.json", "us/ip_addresses.json.sig").returncode == 0
    code, out, _ = egress(capsys, env, "--verify", str(tree), "--public-key", "k.pem.pub")
    assert code == 0 and "signature ok" in out and "2 documents signed" in out

    # another key: both refuse
    assert egress(capsys, env, "--generate-key", "other.pem")[0] == 0
    assert openssl_verify("SHA256SUMS", "SHA256SUMS.sig", key="other.pem.pub").returncode != 0
    code, _, err = egress(capsys, env, "--verify", str(tree), "--public-key", "other.pem.pub")
    assert code == 3 and "signature of" in err

    # an altered manifest (a checksum replaced to hide a changed file): both refuse
    manifest = tree / "SHA256SUMS"
    text = manifest.read_text()
    (tree / "us" / "allowlist.txt").write_text("0.0.0.0/0\n")
    digest = hashlib.sha256(b"0.0.0.0/0\n").hexdigest()
    manifest.write_text(
        "\n".join(
            f"{digest}  us/allowlist.txt" if line.endswith("  us/allowlist.txt") else line for line in text.splitlines()
        )
        + "\n"
    )
    assert openssl_verify("SHA256SUMS", "SHA256SUMS.sig").returncode != 0
    code, _, err = egress(capsys, env, "--verify", str(tree), "--public-key", "k.pem.pub")
    assert code == 3 and "does not match" in err

    # a document altered alone, manifest restored: checksum and document signature both catch it
    manifest.write_text(text)
    (tree / "us" / "allowlist.txt").unlink()
    code, _, err = egress(capsys, env, "--verify", str(tree), "--public-key", "k.pem.pub", "--json")
    assert code == 3 and "us/allowlist.txt: cannot read it" in err


def test_openssl_generated_key_signs_and_an_unsigned_rerun_drops_stale_signatures(env, capsys, monkeypatch):
    openssl = tool("openssl")
    run(openssl, "genpkey", "-algorithm", "ed25519", "-out", "ossl.pem", cwd=env["tmp"])
    run(openssl, "pkey", "-in", "ossl.pem", "-pubout", "-out", "ossl.pub", cwd=env["tmp"])
    code, _, err = egress(capsys, env, "--all", "tree", "--signing-key", "ossl.pem")
    assert code == 0, err
    assert egress(capsys, env, "--verify", "tree", "--public-key", "ossl.pub")[0] == 0
    assert egress(capsys, env, "--all", "tree")[0] == 0  # unsigned now: no stale .sig may remain
    tree = env["tmp"] / "tree"
    assert not (tree / "SHA256SUMS.sig").exists() and not (tree / "us" / "ip_addresses.json.sig").exists()
    code, _, err = egress(capsys, env, "--verify", "tree", "--public-key", "ossl.pub")
    assert code == 3 and "is missing: the tree is not signed" in err


def test_bundle_is_reproducible_with_source_date_epoch(env, capsys, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1798804800")
    assert egress(capsys, env, "--all", "a", "--at", "2026-11-26")[0] == 0
    assert egress(capsys, env, "--all", "b", "--at", "2026-11-26")[0] == 0
    assert (env["tmp"] / "a" / "SHA256SUMS").read_bytes() == (env["tmp"] / "b" / "SHA256SUMS").read_bytes()
