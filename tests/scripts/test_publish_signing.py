"""``egress publish``: signed documents in the static tree, checked with the real ``openssl`` and with
``egress publish --verify`` (a tree, a file, a URL served by a real HTTP server)."""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from smtp_egress.scripts.cli import main

EXAMPLE_PLAN = Path(__file__).resolve().parents[1] / "data" / "example-plan.yaml"
DOC = "v1/info/ip_addresses"


def openssl() -> str:
    path = shutil.which("openssl")
    if path is None:
        pytest.fail("openssl is missing; scripts/dev/test installs it")
    return path


@pytest.fixture
def site(tmp_path, monkeypatch):
    """A plan and a ledger (one workspace) in tmp_path; site(*extra) writes the static tree and returns its root."""
    monkeypatch.chdir(tmp_path)
    for var in ("EGRESS_DB", "EGRESS_BASE_URL", "EGRESS_SIGNING_KEY"):
        monkeypatch.delenv(var, raising=False)
    shutil.copy(EXAMPLE_PLAN, "plan.yaml")
    Path("ws.csv").write_text("workspace_id,region,email\nws-1,us,ops@customer.example\n")
    common = ["--plan", "plan.yaml", "--db", f"sqlite:///{tmp_path}/ledger.db"]
    assert main(["workspaces", "import", "ws.csv", *common]) == 0
    assert main(["allowlist", "--generate-key", "k.pem"]) == 0

    def write(*extra: str) -> Path:
        argv = ["publish", "--static-dir", "site", "--at", "2026-12-02", "--base-url", "https://ips.example.com"]
        assert main([*argv, *common, *extra]) == 0
        return tmp_path / "site"

    return write


def egress(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def openssl_verify(doc: Path, key: str = "k.pem.pub") -> subprocess.CompletedProcess:
    """The command README documents, as a customer runs it on the two files they downloaded."""
    argv = [openssl(), "pkeyutl", "-verify", "-pubin", "-inkey", key, "-rawin", "-in", str(doc)]
    return subprocess.run([*argv, "-sigfile", f"{doc}.sig"], capture_output=True, text=True, timeout=30)


def test_each_region_document_is_signed_and_openssl_verifies_it(site, capsys):
    root = site("--signing-key", "k.pem")
    assert "not signed" not in capsys.readouterr().out
    headers = json.loads((root / "headers.json").read_text())
    for region in ("us", "eu"):
        doc = root / region / DOC
        assert len(Path(f"{doc}.sig").read_bytes()) == 64  # the raw Ed25519 signature, nothing else
        assert headers[f"{region}/{DOC}.sig"]["Content-Type"] == "application/octet-stream"
        proc = openssl_verify(doc)
        assert proc.returncode == 0 and "Signature Verified Successfully" in proc.stdout, proc.stderr
    assert not (root / DOC).with_suffix(".txt.sig").exists() and not list(root.glob("v1/**/*.sig"))

    (root / "us" / DOC).write_bytes((root / "us" / DOC).read_bytes().replace(b"198.51.100.10", b"198.51.100.99"))
    assert openssl_verify(root / "us" / DOC).returncode != 0


def test_a_key_made_by_openssl_signs_and_the_key_comes_from_the_environment_too(site, capsys, monkeypatch):
    subprocess.run([openssl(), "genpkey", "-algorithm", "ed25519", "-out", "ossl.pem"], check=True, timeout=30)
    subprocess.run([openssl(), "pkey", "-in", "ossl.pem", "-pubout", "-out", "ossl.pub"], check=True, timeout=30)
    monkeypatch.setenv("EGRESS_SIGNING_KEY", "ossl.pem")
    root = site()
    assert openssl_verify(root / "eu" / DOC, key="ossl.pub").returncode == 0
    code, out, err = egress(capsys, "publish", "--verify", str(root), "--public-key", "ossl.pub")
    assert code == 0 and out.count(": OK: signature") == 2, err


def test_verify_a_tree_names_every_region_and_refuses_alterations(site, capsys):
    root = site("--signing-key", "k.pem")
    capsys.readouterr()
    code, out, err = egress(capsys, "publish", "--verify", str(root), "--public-key", "k.pem.pub")
    assert code == 0, err
    assert f"site/eu/{DOC}: OK: signature " in out and "region eu, 1 address" in out
    assert f"site/us/{DOC}: OK" in out and "region us, 2 addresses" in out

    assert main(["allowlist", "--generate-key", "other.pem"]) == 0
    code, _, err = egress(capsys, "publish", "--verify", str(root), "--public-key", "other.pem.pub")
    assert code == 3 and "does not match" in err and "Traceback" not in err

    doc = root / "us" / DOC
    doc.write_bytes(doc.read_bytes().replace(b'"notice_days": 7', b'"notice_days": 8'))
    code, _, err = egress(capsys, "publish", "--verify", str(doc), "--public-key", "k.pem.pub")
    assert code == 3 and f"the signature of {doc} does not match: the file was altered" in err


def test_a_signed_document_of_the_wrong_region_is_refused(site, capsys):
    root = site("--signing-key", "k.pem")
    for name in (DOC, f"{DOC}.sig"):  # a validly signed EU document in the US folder
        shutil.copy(root / "eu" / name, root / "us" / name)
    code, _, err = egress(capsys, "publish", "--verify", str(root), "--public-key", "k.pem.pub")
    assert code == 3 and "the signature matches, but the document is not valid" in err
    assert "for region 'eu', expected 'us'" in err


def test_an_unsigned_run_removes_a_stale_signature_and_verify_says_it_is_not_signed(site, capsys):
    root = site("--signing-key", "k.pem")
    root = site()
    assert "not signed (no --signing-key / EGRESS_SIGNING_KEY)" in capsys.readouterr().out
    assert not list(root.rglob("*.sig"))
    code, _, err = egress(capsys, "publish", "--verify", str(root / "us" / DOC), "--public-key", "k.pem.pub")
    assert code == 3 and "has no signature" in err and "it is not signed" in err


@pytest.fixture
def serve():
    """serve(folder) -> base URL of a real HTTP server on 127.0.0.1 serving that folder (a region's host)."""
    servers = []

    def start(folder: Path) -> str:
        handler = functools.partial(SimpleHTTPRequestHandler, directory=str(folder))
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_verify_a_url_fetches_the_signature_beside_it(site, capsys, serve):
    root = site("--signing-key", "k.pem")
    capsys.readouterr()
    url = f"{serve(root / 'us')}/{DOC}?region=us"
    code, out, err = egress(capsys, "publish", "--verify", url, "--public-key", "k.pem.pub")
    assert code == 0, err
    assert f"{url}: OK: signature {url.replace('?', '.sig?')} matches; region us" in out

    root = site()  # unsigned: the host serves no .sig
    code, _, err = egress(capsys, "publish", "--verify", url, "--public-key", "k.pem.pub")
    assert code == 3 and "answered HTTP 404: the document is not signed" in err


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--verify", "site"], "--verify needs --public-key"),
        (["--verify", "site", "--public-key", "k.pem.pub", "--signing-key", "k.pem"], "--signing-key does not apply"),
        (["--region", "us", "--signing-key", "k.pem"], "--signing-key applies to --static-dir only"),
        (["--region", "us", "--public-key", "k.pem.pub"], "--public-key applies to --verify only"),
        (["--static-dir", "s2", "--base-url", "https://x.example", "--signing-key", "k.pem.pub"], "not an unencrypted"),
    ],
)
def test_signing_flags_out_of_place_are_usage_errors(site, capsys, argv, words):
    site("--signing-key", "k.pem")
    code, _, err = egress(capsys, "publish", "--plan", "plan.yaml", *argv)
    assert code == 2 and words in err and "Traceback" not in err
