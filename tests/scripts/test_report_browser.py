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


PROBE = """<script>
const found = {viewport: window.innerWidth, page: document.documentElement.scrollWidth, tables: []};
for (const table of document.querySelectorAll("table")) {
  const heads = [...table.querySelectorAll("thead th")];
  found.tables.push({
    id: table.id,
    right: table.getBoundingClientRect().right,
    last: heads.length ? heads[heads.length - 1].textContent : null,
    lastRight: heads.length ? heads[heads.length - 1].getBoundingClientRect().right : null,
  });
}
document.body.insertAdjacentHTML("beforeend", "<pre id=probe></pre>");
document.getElementById("probe").textContent = JSON.stringify(found);
</script>"""


def layout(chromium: str, tmp_path: Path, report: Path, width: int) -> dict:
    """Where the page's tables end in Chromium at ``width`` px: a copy of the report with a measuring script
    (and without the Content-Security-Policy that rightly forbids scripts in the report itself)."""
    import html
    import json
    import re

    text = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", report.read_text())
    probe = tmp_path / f"probe-{width}.html"
    probe.write_text(text.replace("</body>", PROBE + "</body>"))
    dom = run_chromium(chromium, tmp_path, f"--window-size={width},2000", "--dump-dom", probe.as_uri()).stdout.decode()
    found = re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S)
    assert found, dom[-2000:]
    return json.loads(html.unescape(found.group(1)))


@pytest.mark.parametrize("width", [1000, 1280])
def test_at_1000_px_every_table_and_its_flags_column_fit_the_window(chromium, report_html, tmp_path, width):
    found = layout(chromium, tmp_path, report_html, width)
    assert found["viewport"] == width
    assert found["page"] <= width, "the page scrolls sideways: a table is wider than the window"
    history = [t for t in found["tables"] if t["id"].startswith("history-")]
    assert len(history) == 2 and all(t["last"] == "Flags" for t in history)
    for table in found["tables"]:
        assert table["right"] <= width, table
        assert table["lastRight"] is None or table["lastRight"] <= width, table


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is not installed: CI must run it (scripts/dev/test installs poppler-utils)")
        pytest.skip(f"{name} is not installed (apt-get install -y --no-install-recommends poppler-utils)")
    return path


def test_prints_on_a4_with_every_column_on_the_page(chromium, report_html, tmp_path):
    import re

    pdf = tmp_path / "report.pdf"
    run_chromium(chromium, tmp_path, "--no-pdf-header-footer", f"--print-to-pdf={pdf}", report_html.as_uri())
    info = subprocess.run([tool("pdfinfo"), str(pdf)], capture_output=True, text=True, timeout=60, check=True).stdout
    size = re.search(r"Page size:\s+([\d.]+) x ([\d.]+) pts", info)
    assert size and abs(float(size[1]) - 595.3) < 1 and abs(float(size[2]) - 841.9) < 1, info  # A4, portrait
    boxes = subprocess.run(
        [tool("pdftotext"), "-bbox", str(pdf), "-"], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    words = re.findall(r'<word xMin="([\d.]+)" yMin="[\d.]+" xMax="([\d.]+)" yMax="[\d.]+">([^<]*)</word>', boxes)
    assert len(words) > 300
    assert all(float(x0) >= 0 and float(x1) <= float(size[1]) - 20 for x0, x1, _ in words), "text runs off the page"
    text = [w for _, _, w in words]
    assert text.count("Flags") >= 3 and "short-notice" in text  # the Flags columns and a flag, printed
