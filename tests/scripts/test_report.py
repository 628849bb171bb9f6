"""``egress report``: the three formats' contents, --at/--since, --out (atomic, format from the suffix),
provenance (plan sha256 and git commit, masked ledger URL), errors (exit 2, no traceback), PostgreSQL."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
import sqlalchemy as sa

from smtp_egress import __version__
from smtp_egress.scripts.cli import main

_spec = importlib.util.spec_from_file_location(
    "report_sample", Path(__file__).parents[1] / "egress" / "test_report_model.py"
)
sample = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(sample)  # build_sample_ledger and its constants: one data set for every report test

EGRESS = str(Path(sys.executable).with_name("egress"))
AT = ["--at", "2026-12-22"]


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.delenv("EGRESS_DB", raising=False)
    monkeypatch.chdir(tmp_path)  # anything written to a default path lands here, never in the repo
    db = f"sqlite:///{tmp_path}/ledger.db"
    sample.build_sample_ledger(db, tmp_path / "plan.yaml")
    return {"args": ["--plan", str(tmp_path / "plan.yaml"), "--db", db], "db": db, "tmp": tmp_path}


def egress(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def report(capsys, env, *extra) -> str:
    code, out, err = egress(capsys, "report", *env["args"], *AT, *extra)
    assert code == 0, err
    return out


# JSON -----------------------------------------------------------------------------------------------


def test_json_values(env, capsys):
    out = report(capsys, env, "--format", "json")
    doc = json.loads(out)
    assert out == json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"  # sorted, stable layout
    p = doc["provenance"]
    plan_bytes = (env["tmp"] / "plan.yaml").read_bytes()
    assert p["plan"] == {"path": env["args"][1], "sha256": hashlib.sha256(plan_bytes).hexdigest(), "git": None}
    assert (p["at"], p["day"], p["since"], p["notice_days"], p["version"], p["ledger"]) == (
        "2026-12-22T00:00:00Z",
        "2026-12-22",
        None,
        7,
        __version__,
        env["db"],
    )
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", p["generated_at"])
    assert doc["summary"] == {
        "regions": ["eu", "us"],
        "changes": 5,
        "flags": 5,
        "flagged_changes": 4,
        "exceptions": 1,
        "upcoming": 1,
        "flags_by_kind": {
            "late_notice": 1,
            "short_notice_exception": 1,
            "not_announced": 1,
            "not_in_plan": 1,
            "delivery_failed": 1,
            "notices_undelivered": 0,
        },
    }
    eu, us = doc["regions"]
    assert (eu["region"], eu["in_plan"], eu["workspaces"], eu["live"]) == (
        "eu",
        True,
        2,
        ["203.0.113.20", "203.0.113.21"],
    )
    assert us["live"] == ["198.51.100.10", "198.51.100.11", "198.51.100.12"]
    late = {
        "change_id": "us/remove/198.51.100.12/2026-12-20",
        "region": "us",
        "ip": "198.51.100.12",
        "action": "remove",
        "planned": "2026-12-20",
        "state": "pending",
        "in_plan": True,
        "recorded_at": "2026-12-16T09:00:00Z",
        "announced_at": "2026-12-16T09:05:00Z",
        "effective": "2026-12-24",
        "delayed": True,
        "lead_days": 3,
        "notice_days": 7,
        "exception_reason": None,
        "plan_sha256": hashlib.sha256(plan_bytes).hexdigest(),
        "deliveries": {"workspaces_notified": 2, "sent": 2, "failed": 1, "pending": 0},
        "undelivered": [
            {
                "workspace_id": "ws-a",
                "channel": "webhook",
                "status": "failed",
                "attempts": 1,
                "last_error": sample.WEBHOOK_ERROR,
            }
        ],
        "flags": ["late_notice", "delivery_failed"],
        "batch_id": us["changes"][2]["batch_id"],
        "notices": {"delivered": 2, "pending": 0, "failed": 0, "waived": 0},
        "waivers": [],
        "adopted": None,
    }
    assert late["batch_id"].startswith("us/2026-12-16T09:00:00Z/")
    assert [c["change_id"] for c in us["changes"]] == [
        "us/add/198.51.100.14/2026-12-05",
        "us/add/198.51.100.11/2026-12-10",
        "us/remove/198.51.100.12/2026-12-20",
        "us/add/198.51.100.13/2027-01-20",
    ]
    assert us["changes"][2] == late and us["upcoming"] == [late] and us["exceptions"] == []
    assert us["changes"][3] == {
        "change_id": "us/add/198.51.100.13/2027-01-20",
        "region": "us",
        "ip": "198.51.100.13",
        "action": "add",
        "planned": "2027-01-20",
        "state": "not_announced",
        "in_plan": True,
        "announced_at": None,
        "effective": None,
        "delayed": False,
        "lead_days": None,
        "notice_days": 7,
        "exception_reason": None,
        "plan_sha256": None,
        "deliveries": None,
        "undelivered": [],
        "flags": ["not_announced"],
        "recorded_at": None,
        "batch_id": None,
        "notices": None,
        "waivers": [],
        "adopted": None,
    }
    assert (us["changes"][1]["state"], us["changes"][1]["flags"], us["changes"][1]["deliveries"]) == (
        "in_effect",
        [],
        {"workspaces_notified": 2, "sent": 3, "failed": 0, "pending": 0},
    )
    assert (us["changes"][0]["state"], us["changes"][0]["in_plan"], us["changes"][0]["flags"]) == (
        "not_in_plan",
        False,
        ["not_in_plan"],
    )
    assert us["changes"][0]["plan_sha256"] == "0" * 64  # the plan it was announced from, not today's
    (exc,) = eu["exceptions"]
    assert eu["changes"] == [exc] and eu["upcoming"] == []
    assert (exc["exception_reason"], exc["lead_days"], exc["effective"], exc["delayed"], exc["flags"]) == (
        sample.REASON,
        2,
        "2026-12-18",
        False,
        ["short_notice_exception"],
    )
    assert exc["deliveries"] == {"workspaces_notified": 1, "sent": 1, "failed": 0, "pending": 1}
    assert exc["notices"] == {"delivered": 1, "pending": 0, "failed": 0, "waived": 1}
    assert exc["waivers"] == [
        {
            "workspace_id": "ws-d",
            "at": "2026-12-15T13:00:00Z",
            "by": "compliance@example.com",
            "reason": sample.DECISION,
        }
    ]
    assert (exc["recorded_at"], exc["announced_at"]) == ("2026-12-15T12:00:00Z", "2026-12-15T13:00:00Z")


def test_json_since_and_at(env, capsys):
    doc = json.loads(report(capsys, env, "--json", "--since", "2026-12-15"))
    assert doc["provenance"]["since"] == "2026-12-15" and doc["summary"]["changes"] == 3
    assert [c["ip"] for r in doc["regions"] for c in r["changes"]] == ["203.0.113.21", "198.51.100.12", "198.51.100.13"]
    _code, out, _err = egress(capsys, "report", *env["args"], "--json", "--at", "2026-12-12")
    states = {c["ip"]: c["state"] for r in json.loads(out)["regions"] for c in r["changes"]}
    assert states == {
        "198.51.100.14": "not_in_plan",
        "198.51.100.11": "in_effect",
        "198.51.100.12": "not_announced",
        "198.51.100.13": "not_announced",
        "203.0.113.21": "not_announced",
    }


# Markdown -------------------------------------------------------------------------------------------


def md_tables(text: str) -> dict[str, list[list[str]]]:
    """Every GFM table under its nearest headings ("## Region us / ### History"), as rows of cells."""
    tables: dict[str, list[list[str]]] = {}
    h2 = h3 = ""
    for line in text.splitlines():
        if line.startswith("## "):
            h2, h3 = line[3:], ""
        elif line.startswith("### "):
            h3 = line[4:]
        elif line.startswith("|"):
            # A cell as a reader sees it: Markdown's backslash escapes undone.
            cells = [re.sub(r"\\(.)", r"\1", c.strip()) for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
            if not all(re.fullmatch(r"-*:?-*:?", c) for c in cells):
                tables.setdefault(f"{h2} / {h3}".rstrip(" /"), []).append(cells)
    return tables


def test_markdown_tables(env, capsys):
    text = report(capsys, env)  # Markdown is the default on stdout
    assert text.startswith("# IP address change record\n")
    assert (
        "**2 regions, 5 changes, 5 flags** (1 late notice, 1 short-notice exception, 1 not announced, "
        "1 not in plan, 1 delivery failed)"
    ) in text
    assert "**Live on 2026-12-22** (3): `198.51.100.10`, `198.51.100.11`, `198.51.100.12`" in text
    t = md_tables(text)
    assert sorted(t) == [
        "Provenance",
        "Region eu / History",
        "Region eu / Notices accepted undelivered",
        "Region eu / Notices not delivered",
        "Region eu / Short-notice exceptions",
        "Region us / History",
        "Region us / Notices not delivered",
        "Region us / Upcoming changes",
        "Summary",
    ]
    assert t["Summary"] == [
        ["Region", "Workspaces", "Live addresses", "Upcoming", "Changes", "Flags"],
        ["eu", "2", "2", "0", "1", "1"],
        ["us", "2", "3", "1", "4", "4"],
    ]
    history = t["Region us / History"]
    assert history[0] == [
        "Change",
        "Planned",
        "Recorded",
        "Announced",
        "Effective",
        "Lead (days)",
        "Notified",
        "Failed",
        "Pending",
        "Flags",
    ]
    assert history[1:] == [
        [
            "add 198.51.100.14",
            "2026-12-05",
            "2026-11-20T10:00:00Z",
            "2026-11-20T10:00:00Z",
            "2026-12-05",
            "14",
            "0",
            "0",
            "0",
            "**announced, but no longer in the plan**",
        ],
        [
            "add 198.51.100.11",
            "2026-12-10",
            "2026-11-26T09:00:00Z",
            "2026-11-26T09:05:00Z",
            "2026-12-10",
            "13",
            "2",
            "0",
            "0",
            "",
        ],
        [
            "remove 198.51.100.12",
            "2026-12-20",
            "2026-12-16T09:00:00Z",
            "2026-12-16T09:05:00Z",
            "2026-12-24 (pending)",
            "3",
            "2",
            "1",
            "0",
            "**late notice: 3 of 7 days; takes effect 2026-12-24 instead of 2026-12-20**; **1 notice delivery failed**",
        ],
        [
            "add 198.51.100.13",
            "2027-01-20",
            "not recorded",
            "not announced",
            "never (not announced)",
            "",
            "",
            "",
            "",
            "**not announced yet**",
        ],
    ]
    assert t["Region us / Upcoming changes"][1:] == [
        ["remove 198.51.100.12", "2026-12-20", "2026-12-16T09:05:00Z", "2026-12-24", "3"]
    ]
    # The reason's pipe is escaped (the row keeps its 5 cells), its tags are shown, not interpreted, and its URL
    # is not an autolink (tests/scripts/test_report_markdown.py renders such text with GitHub's cmark-gfm).
    reason = 'INC-42 <script>alert("x")</script> | see https://status.example.com/inc/42'
    assert t["Region eu / Short-notice exceptions"][1:] == [
        ["add 203.0.113.21", "2026-12-15T13:00:00Z", "2026-12-18", "2 of 7", reason]
    ]
    assert t["Region eu / Notices accepted undelivered"][1:] == [
        ["add 203.0.113.21", "ws-d", "2026-12-15T13:00:00Z", "compliance@example.com", sample.DECISION]
    ]
    assert t["Region eu / History"][1][-1] == f"**short-notice exception: 2 of 7 days; reason: {reason}**"
    assert t["Region us / Notices not delivered"][1:] == [
        [
            "remove 198.51.100.12",
            "ws-a",
            "webhook",
            "failed",
            "1",
            sample.WEBHOOK_ERROR,
        ]
    ]
    assert t["Region eu / Notices not delivered"][1:] == [["add 203.0.113.21", "ws-d", "email", "pending", "0", ""]]
    assert "<script>" not in text
    prov = dict(t["Provenance"][1:])
    assert prov["Plan"] == f"`{env['args'][1]}`" and prov["Plan commit"] == "not in a git checkout"
    assert prov["Ledger"] == f"`{env['db']}`" and prov["smtp-egress"] == __version__


# HTML -----------------------------------------------------------------------------------------------


class Tables(HTMLParser):
    """Every <table> of a page: its id and its rows of cell texts (th and td)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tables: list[dict] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append({"id": dict(attrs).get("id"), "rows": []})
        elif tag == "tr" and self.tables:
            self.tables[-1]["rows"].append([])
        elif tag in ("td", "th") and self.tables:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1]["rows"][-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)

    def by_id(self) -> dict[str, list[list[str]]]:
        return {t["id"]: t["rows"] for t in self.tables}


def html_tables(html: str) -> Tables:
    parser = Tables()
    parser.feed(html)
    parser.close()
    return parser


EXPECTED_TABLES = [
    "summary-table",
    "provenance-table",
    "history-eu",
    "exceptions-eu",
    "undelivered-eu",
    "waivers-eu",
    "upcoming-us",
    "history-us",
    "undelivered-us",
]


def check_html_tables(html: str) -> None:
    """The tables of the sample report, cell by cell (shared with the browser test, which feeds Chromium's DOM)."""
    parsed = html_tables(html)
    assert [t["id"] for t in parsed.tables] == EXPECTED_TABLES
    t = parsed.by_id()
    assert t["summary-table"] == [
        ["Region", "Workspaces", "Live addresses", "Upcoming", "Changes", "Flags"],
        ["eu", "2", "2", "0", "1", "1"],
        ["us", "2", "3", "1", "4", "4"],
    ]
    assert t["history-us"][3] == [
        "remove 198.51.100.12",
        "2026-12-20",
        "2026-12-16T09:00:00Z",
        "2026-12-16T09:05:00Z",
        "2026-12-24 (pending)",
        "3",
        "2",
        "1",
        "0",
        "late notice: 3 of 7 days; takes effect 2026-12-24 instead of 2026-12-20 1 notice delivery failed",
    ]
    assert [row[0] for row in t["history-us"]] == [
        "Change",
        "add 198.51.100.14",
        "add 198.51.100.11",
        "remove 198.51.100.12",
        "add 198.51.100.13",
    ]
    assert t["history-us"][4][2:5] == ["not recorded", "not announced", "never (not announced)"]
    assert t["exceptions-eu"] == [
        ["Change", "Announced", "Effective", "Lead (days)", "Reason"],
        ["add 203.0.113.21", "2026-12-15T13:00:00Z", "2026-12-18", "2 of 7", sample.REASON],
    ]
    assert t["waivers-eu"] == [
        ["Change", "Workspace", "Decided", "By", "Reason"],
        ["add 203.0.113.21", "ws-d", "2026-12-15T13:00:00Z", "compliance@example.com", sample.DECISION],
    ]
    assert t["upcoming-us"][1] == ["remove 198.51.100.12", "2026-12-20", "2026-12-16T09:05:00Z", "2026-12-24", "3"]
    assert t["undelivered-us"][1] == ["remove 198.51.100.12", "ws-a", "webhook", "failed", "1", sample.WEBHOOK_ERROR]


def test_html_tables_and_escaping(env, capsys):
    html = report(capsys, env, "--format", "html")
    check_html_tables(html)
    t = html_tables(html).by_id()
    prov = dict(t["provenance-table"])
    assert prov["Plan"] == env["args"][1] and prov["Ledger"] == env["db"] and prov["smtp-egress"] == __version__
    assert prov["Plan sha256"] == hashlib.sha256((env["tmp"] / "plan.yaml").read_bytes()).hexdigest()
    # Autoescape: the reason's and the delivery error's markup is text, and the reason's URL a plain link.
    assert "<script>" not in html and "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    assert "<body>Bad" not in html and "&lt;html&gt;&lt;body&gt;Bad Gateway&lt;/body&gt;&lt;/html&gt;" in html
    assert '<a class="bare" href="https://status.example.com/inc/42">https://status.example.com/inc/42</a>' in html
    assert "<h2>Summary</h2>" in html and html.index("<h2>Summary</h2>") < html.index("<h2>Region eu</h2>")
    assert re.search(r'<div class="stat alert"><b>5</b>flags on 4 changes</div>', html)


def test_html_is_self_contained(env, capsys):
    html = report(capsys, env, "--format", "html")
    assert not re.search(r"<(script|link|img|iframe|object|embed|video|audio|source|base)\b", html, re.I)
    assert not re.search(r"\ssrc\s*=|@import|url\(", html, re.I)
    hrefs = re.findall(r'href="([^"]*)"', html)
    assert hrefs and all(h.startswith("#") or re.match(r"https://(status|tickets)\.example\.com/", h) for h in hrefs)
    for m in re.finditer(r"<a\b[^>]*href=\"(https?://[^\"]+)\"[^>]*>([^<]*)</a>", html):
        assert m.group(2) == m.group(1)  # an external address is a plain link showing itself, never a resource
    assert "default-src 'none'" in html and "@media print" in html and "break-inside: avoid" in html


# --out, formats, errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, start",
    [
        ("r.html", "<!DOCTYPE html>"),
        ("r.htm", "<!DOCTYPE html>"),
        ("r.md", "# IP address change record"),
        ("r.json", "{"),
    ],
)
def test_out_picks_the_format_from_the_suffix_and_writes_atomically(env, capsys, name, start):
    path = env["tmp"] / "out" / name
    path.parent.mkdir()
    path.write_text("old")
    code, out, err = egress(capsys, "report", *env["args"], *AT, "--out", str(path))
    assert code == 0, err
    assert path.read_text().startswith(start) and os.listdir(path.parent) == [name]  # no temp file left
    assert out.startswith(f"wrote {path} (") and "5 flags, 1 short-notice exception, as of 2026-12-22" in out


def test_format_wins_over_the_suffix(env, capsys):
    path = env["tmp"] / "record.txt"
    assert egress(capsys, "report", *env["args"], "--out", str(path), "--format", "json")[0] == 0
    assert json.loads(path.read_text())["summary"]["changes"] == 5


def run_cli(*argv, cwd):
    done = subprocess.run(
        [EGRESS, "report", *argv],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "EGRESS_DB": ""},
        timeout=60,
    )
    assert "Traceback" not in done.stderr
    return done


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--format", "pdf"], "argument --format: invalid choice: 'pdf'"),
        (
            ["--since", "2026-13-01"],
            "egress report: error: --since: '2026-13-01' is not a date; write it as YYYY-MM-DD",
        ),
        (["--at", "yesterday"], "egress report: error: --at: 'yesterday' is not a date"),
        (["--out", "record.pdf"], "egress report: error: cannot tell the report format from --out 'record.pdf'"),
        (["--out", "no/such/dir/r.md"], "egress report: error: --out: cannot write 'no/such/dir/r.md'"),
    ],
)
def test_bad_input_exits_2_with_a_message(env, extra, message):
    done = run_cli(*env["args"], *extra, cwd=env["tmp"])
    assert (done.returncode, done.stdout) == (2, "")
    assert message in done.stderr


def test_a_missing_ledger_is_an_error_not_an_empty_report(env):
    done = run_cli("--plan", env["args"][1], cwd=env["tmp"])  # the default .egress/egress.db does not exist
    default = env["tmp"] / ".egress" / "egress.db"  # beside the plan: no Pulumi.yaml above it
    assert done.returncode == 2 and f"no ledger at 'sqlite:///{default}' (the default: " in done.stderr
    assert not (env["tmp"] / ".egress").exists()


def test_provenance_names_the_plan_commit(env, capsys):
    repo = env["tmp"] / "repo"
    repo.mkdir()
    plan = repo / "egress-ips.yaml"
    plan.write_bytes((env["tmp"] / "plan.yaml").read_bytes())
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    for cmd in (["init", "-q"], ["add", "egress-ips.yaml"], ["commit", "-q", "-m", "plan"]):
        subprocess.run(git + cmd, check=True, capture_output=True)
    head = subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()
    args = ["report", "--plan", str(plan), "--db", env["db"], "--json", *AT]
    assert json.loads(egress(capsys, *args)[1])["provenance"]["plan"]["git"] == {
        "commit": head,
        "path": "egress-ips.yaml",
        "modified": False,
    }
    plan.write_text(plan.read_text() + "# an uncommitted edit\n")
    assert json.loads(egress(capsys, *args)[1])["provenance"]["plan"]["git"]["modified"] is True
    md = egress(capsys, *args[:-3], *AT)[1]
    assert f"| Plan commit | `{head}` (`egress-ips.yaml`); the working copy differs |" in md


@pytest.mark.postgres
def test_postgresql_ledger_gives_the_same_report_with_the_password_masked(env, capsys, pg_url, tmp_path):
    url = sa.engine.make_url(pg_url)
    if not url.password:
        url = url.set(password="s3cret-pw")  # the test server trusts local connections; the password is unused
    url_text = url.render_as_string(hide_password=False)
    sample.build_sample_ledger(url_text, tmp_path / "plan-pg.yaml")
    on_pg = json.loads(report(capsys, {"args": ["--plan", str(tmp_path / "plan-pg.yaml"), "--db", url_text]}, "--json"))
    on_sqlite = json.loads(report(capsys, env, "--json"))
    assert on_pg["regions"] == on_sqlite["regions"] and on_pg["summary"] == on_sqlite["summary"]
    assert on_pg["provenance"]["ledger"] == url.render_as_string(hide_password=True)
    assert url.password not in on_pg["provenance"]["ledger"] and "***" in on_pg["provenance"]["ledger"]
    for fmt in ("md", "html"):
        assert url.password not in report(
            capsys, {"args": ["--plan", str(tmp_path / "plan-pg.yaml"), "--db", url_text]}, "--format", fmt
        )


def test_a_long_list_of_undelivered_notices_is_cut_in_html_and_markdown_not_in_json(tmp_path, capsys):
    import datetime as dt

    from smtp_egress.dates import UTC
    from smtp_egress.ledger import Ledger, Workspace
    from smtp_egress.plan import load_plan

    plan_path = tmp_path / "plan.yaml"
    plan_path.write_text(sample.PLAN)
    db = f"sqlite:///{tmp_path}/many.db"
    ledger = Ledger(db, create=True)
    now = dt.datetime(2026, 11, 26, tzinfo=UTC)
    ledger.upsert_workspaces([Workspace(f"ws-{i:03}", "us", {"email": f"u{i}@example.com"}) for i in range(53)], now)
    change = next(c for c in load_plan(plan_path).changes("us") if c.ip == "198.51.100.11")
    ledger.announce(change, now, 7, "f" * 64, ledger.workspaces("us"))
    for d in ledger.unsent():
        ledger.mark_failed(d, "550 no such mailbox")
    ledger.close()
    env = {"args": ["--plan", str(plan_path), "--db", db]}
    rows = md_tables(report(capsys, env))["Region us / Notices not delivered"]
    assert len(rows) == 1 + 50 + 1 and rows[-1][:2] == [
        "add 198.51.100.11",
        "and 3 more (every one is in --format json)",
    ]
    assert len(html_tables(report(capsys, env, "--format", "html")).by_id()["undelivered-us"]) == 1 + 50 + 1
    (c,) = [c for c in json.loads(report(capsys, env, "--json"))["regions"][1]["changes"] if c["undelivered"]]
    assert len(c["undelivered"]) == 53 and c["deliveries"]["failed"] == 53
    assert c["flags"] == ["delivery_failed", "notices_undelivered"] and c["state"] == "held"
    assert c["notices"] == {"delivered": 0, "pending": 0, "failed": 53, "waived": 0}
