"""The Markdown report renders text that customers control (a webhook's error answer, a workspace id) and a
--reason as the text it is: checked with GitHub's own renderer, cmark-gfm, with GitHub's extensions."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from smtp_egress.scripts.cli import main

EXAMPLE_PLAN = Path(__file__).resolve().parents[1] / "data" / "example-plan.yaml"
# Everything GitHub-flavoured Markdown could make live: a link, an image (fetched when the ticket is viewed),
# an autolink, raw HTML, emphasis, code, strikethrough, math, an entity, a table pipe.
HOSTILE = (
    "[click here](https://evil.example/login) ![pixel](https://evil.example/p.png) <img src=x onerror=alert(1)> "
    "https://evil.example/raw www.evil.example **bold** _em_ `rm -rf` ~~gone~~ $x^2$ &#x202e; | pipe"
)


def cmark_gfm() -> str:
    found = shutil.which("cmark-gfm")
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail("cmark-gfm is missing; scripts/dev/test installs it (Debian package cmark-gfm)")
    pytest.skip("cmark-gfm is not installed (scripts/dev/test installs it)")


def as_github_renders(markdown: str) -> str:
    done = subprocess.run(
        [cmark_gfm(), "--unsafe", *[a for e in ("table", "autolink", "strikethrough", "tagfilter") for a in ("-e", e)]],
        input=markdown,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


@pytest.fixture
def report_md(tmp_path, monkeypatch, endpoint):
    """The Markdown report of a run whose webhooks answered HOSTILE, whose reason and workspace ids hold it too."""
    monkeypatch.chdir(tmp_path)
    for var in ("EGRESS_SMTP_URL", "EGRESS_DB", "EGRESS_OUTBOX"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("EGRESS_WEBHOOK_SECRET", "whsec-test")
    monkeypatch.setenv("EGRESS_WEBHOOK_ALLOW_PRIVATE", "1")
    hook = endpoint(400, HOSTILE)
    shutil.copy(EXAMPLE_PLAN, tmp_path / "plan.yaml")
    (tmp_path / "ws.csv").write_text(
        "workspace_id,region,email,webhook_url\n"
        f"ws_x_y_,us,ops@one.example,{hook.base}/a\n"
        f"ws*2,us,ops@two.example,{hook.base}/b\n".replace("ws*2", "ws-2.:_b_")
    )
    common = ["--plan", "plan.yaml", "--db", f"sqlite:///{tmp_path}/l.db"]
    assert main(["ledger", "init", "--simulation", *common]) == 0
    assert main(["workspaces", "import", "ws.csv", *common]) == 0
    assert main(["publish", "--region", "us", "--at", "2026-12-05", "--out", "published.json", *common]) == 0
    code = main(
        ["notify", "--region", "us", "--published", "published.json", "--at", "2026-12-05", "--outbox", "outbox",
         "--allow-short-notice", "--reason", HOSTILE, *common]
    )  # fmt: skip
    assert code == 6 and len(hook.requests) == 2  # the email arrived, each webhook failed: a delivery failed
    assert main(["report", "--format", "md", "--at", "2026-12-06", "--out", "report.md", *common]) == 0
    return (tmp_path / "report.md").read_text()


def test_customer_text_and_reasons_are_never_live_markdown(report_md):
    assert "Notices not delivered" in report_md and "Short-notice exceptions" in report_md
    html = as_github_renders(report_md)
    assert "<img" not in html and "evil.example" in html
    assert 'href="https://evil' not in html and 'href="http://www.evil' not in html
    for tag in ("<em>", "<del>", "<code>rm", "<strong>bold", "\u202e"):
        assert tag not in html, tag
    # Shown as the text it is.
    assert "[click here](https://evil.example/login) ![pixel](https://evil.example/p.png)" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html and "**bold** _em_ `rm -rf` ~~gone~~ $x^2$" in html
    assert "ws_x_y_" in html and "ws-2.:_b_" in html


def test_every_table_row_keeps_its_cells(report_md):
    html = as_github_renders(report_md)
    for table in re.findall(r"<table>.*?</table>", html, re.DOTALL):
        header = len(re.findall(r"<th[ >]", table))
        for row in re.findall(r"<tr>(.*?)</tr>", table, re.DOTALL)[1:]:
            assert len(re.findall(r"<td[ >]", row)) == header, row
