"""The HTML report in a real browser: headless Chromium screenshots it and dumps its DOM.

Runs wherever the Debian package ``chromium`` is installed (scripts/dev/test installs it); skipped
without it, except in CI (env ``CI`` set), where a missing browser fails the test.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from smtp_egress.scripts.cli import main

_here = Path(__file__).parent
_spec = importlib.util.spec_from_file_location("report_cli_tests", _here / "test_report.py")
cli_tests = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cli_tests)  # the sample ledger and the table checks of the HTML report

WIDTH, HEIGHT = 1280, 2000
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed: CI must run the browser test (scripts/dev/test installs it)")
        pytest.skip("chromium is not installed (apt-get install -y --no-install-recommends chromium)")
    return path


@pytest.fixture
def report_html(tmp_path, monkeypatch) -> Path:
    monkeypatch.delenv("EGRESS_DB", raising=False)
    monkeypatch.chdir(tmp_path)
    db = f"sqlite:///{tmp_path}/ledger.db"
    cli_tests.sample.build_sample_ledger(db, tmp_path / "plan.yaml")
    out = tmp_path / "report.html"
    assert (
        main(["report", "--plan", str(tmp_path / "plan.yaml"), "--db", db, "--at", "2026-12-22", "--out", str(out)])
        == 0
    )
    return out


def run_chromium(chromium: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp_path / "profile"
    profile.mkdir(exist_ok=True)
    cmd = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-quic",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        f"--window-size={WIDTH},{HEIGHT}",
        *args,
    ]
    done = subprocess.run(cmd, capture_output=True, timeout=180, cwd=tmp_path)
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
    return done


def png_facts(data: bytes) -> tuple[int, int, int]:
    """(width, height, distinct byte values of the decompressed pixel data) of a PNG."""
    assert data[:8] == PNG_SIGNATURE
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    width, height = struct.unpack(">II", data[16:24])
    idat, pos = b"", 8
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if kind == b"IDAT":
            idat += data[pos + 8 : pos + 8 + length]
        pos += 12 + length
    return width, height, len(set(zlib.decompress(idat)))


def test_chromium_renders_the_report(chromium, report_html, tmp_path):
    shot = tmp_path / "report.png"
    run_chromium(chromium, tmp_path, f"--screenshot={shot}", report_html.as_uri())
    data = shot.read_bytes()
    width, height, shades = png_facts(data)
    assert (width, height) == (WIDTH, HEIGHT)
    assert len(data) > 30_000 and shades > 50  # text and tables, not a blank page

    dom = run_chromium(chromium, tmp_path, "--dump-dom", report_html.as_uri()).stdout.decode()
    assert "<h2>Summary</h2>" in dom
    cli_tests.check_html_tables(dom)  # the browser's DOM holds every table, cell for cell
