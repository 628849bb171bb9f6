"""No silent empty ledger: only ``egress ledger init`` and ``egress workspaces import`` create one; every other
command refuses a missing one (exit 2), naming the URL it tried and how it was chosen. The default ledger (and
outbox) live in the project folder found from the plan, whatever the current directory. ``egress notify`` with no
workspace in the region warns on every run and exits 6 when a change is due.

Each scenario is one of issue 8's, run through the real ``egress`` command in a project folder of its own.
"""

from __future__ import annotations

import json
import mailbox
import shutil
from pathlib import Path

import pytest

from smtp_egress.ledger import Ledger
from smtp_egress.migrations import SCHEMA_REVISION
from smtp_egress.scripts.cli import main

DATA = Path(__file__).resolve().parents[1] / "data"
WORKSPACES = "workspace_id,region,email\nws-1,us,ops@one.example\nws-2,us,admin@two.example\nws-3,eu,it@three.example\n"


class Project:
    """A project folder (Pulumi.yaml, stacks/egress-ips.yaml: the example plan) and a folder elsewhere."""

    def __init__(self, root: Path):
        self.root = root / "project"
        (self.root / "stacks").mkdir(parents=True)
        (self.root / "Pulumi.yaml").write_text("name: smtp-egress\n")
        self.plan = self.root / "stacks" / "egress-ips.yaml"
        shutil.copy(DATA / "example-plan.yaml", self.plan)
        (self.root / "ws.csv").write_text(WORKSPACES)
        self.elsewhere = root / "elsewhere"
        self.elsewhere.mkdir()
        self.ledger = self.root / ".egress" / "egress.db"

    def egress(self, capsys, *argv: str) -> tuple[int, str, str]:
        code = main([*argv, "--plan", str(self.plan)])
        out, err = capsys.readouterr()
        assert "Traceback" not in err
        return code, out, err

    def published(self, capsys, day: str) -> str:
        path = self.root / f"published-{day}.json"
        assert self.egress(capsys, "publish", "--region", "us", "--at", day, "--out", str(path))[0] == 0
        return str(path)


@pytest.fixture
def project(tmp_path, monkeypatch) -> Project:
    for var in ("EGRESS_DB", "EGRESS_OUTBOX", "EGRESS_SMTP_URL", "EGRESS_WEBHOOK_SECRET"):
        monkeypatch.delenv(var, raising=False)
    made = Project(tmp_path)
    monkeypatch.chdir(made.root)
    return made


def test_a_typo_in_the_ledger_url_is_refused_not_an_empty_ledger_dropping_a_live_address(project, capsys):
    """Issue 8: `egress publish --region us --at 2026-12-15 --format txt --db sqlite:///.egress/egres.db` (a
    typo) printed the list without the live 198.51.100.11, exit 0."""
    assert project.egress(capsys, "ledger", "init", "--simulation")[0] == 0
    assert project.egress(capsys, "workspaces", "import", "ws.csv")[0] == 0
    code, _, _ = project.egress(
        capsys, "notify", "--region", "us", "--published", project.published(capsys, "2026-11-26"), "--at", "2026-11-26"
    )
    assert code == 0
    code, out, _ = project.egress(capsys, "publish", "--region", "us", "--at", "2026-12-15", "--format", "txt")
    assert (code, out) == (0, "198.51.100.10\n198.51.100.11\n198.51.100.12\n")  # the real ledger: .11 is live

    typo = "sqlite:///.egress/egres.db"
    argv = ("publish", "--region", "us", "--at", "2026-12-15", "--format", "txt", "--db", typo)
    code, out, err = project.egress(capsys, *argv)
    assert (code, out) == (2, "")
    assert f"no ledger at {typo!r} (from --db): the file does not exist" in err
    assert not (project.root / ".egress" / "egres.db").exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["publish", "--region", "us"],
        ["publish", "--static-dir", "site", "--base-url", "https://ips.example.com"],
        ["allowlist", "--region", "us", "--format", "txt"],
        ["allowlist", "--all", "bundle"],
        ["report"],
        ["notify", "--region", "us", "--published", "published.json"],
        ["notify", "--region", "us", "--published", "published.json", "--dry-run"],
        ["workspaces", "list", "--region", "us"],
        ["serve", "--port", "0"],
        ["synth", "--stack", "us"],
        ["ledger", "status"],
        ["ledger", "upgrade"],
    ],
    ids=lambda argv: " ".join(argv[:2]),
)
@pytest.mark.parametrize("chosen_by", ["--db", "EGRESS_DB", "default"])
def test_every_command_but_the_two_creators_refuses_a_missing_ledger(project, capsys, monkeypatch, argv, chosen_by):
    missing = project.root / "nowhere" / "ledger.db"
    url = f"sqlite:///{missing}"
    extra: list[str] = []
    if chosen_by == "--db":
        extra = ["--db", url]
    elif chosen_by == "EGRESS_DB":
        monkeypatch.setenv("EGRESS_DB", url)
    else:
        missing, url = project.ledger, f"sqlite:///{project.ledger}"
    code, out, err = project.egress(capsys, *argv, *extra)
    said = out + err
    how = {
        "--db": "(from --db)",
        "EGRESS_DB": "(from EGRESS_DB)",
        "default": f"(the default: .egress/egress.db in the project folder {project.root})",
    }[chosen_by]
    assert code == 2 and f"no ledger at {url!r} {how}" in said, said
    if argv[0] == "synth" and chosen_by == "default":  # synth falls back to the stack's publishedUrl: a placeholder
        assert "nothing was fetched" in said
    else:
        assert "the file does not exist" in said
    assert not missing.exists() and not missing.parent.exists()
    assert list(project.elsewhere.iterdir()) == []


def test_the_two_creators_create_and_say_so(project, capsys):
    code, out, _ = project.egress(capsys, "workspaces", "import", "ws.csv")
    assert code == 0 and out.startswith(f"created a new real ledger at 'sqlite:///{project.ledger}' (the default: ")
    code, out, _ = project.egress(capsys, "workspaces", "import", "ws.csv")
    assert code == 0 and "created" not in out  # it exists now
    other = project.root / "other.db"
    code, out, _ = project.egress(capsys, "ledger", "init", "--simulation", "--db", f"sqlite:///{other}")
    assert (
        code == 0
        and out == f"created a new simulation ledger at sqlite:///{other} (schema revision {SCHEMA_REVISION})\n"
    )


def test_notify_from_another_directory_uses_the_projects_ledger_and_outbox(project, capsys, monkeypatch):
    """Issue 8: `egress notify` run from another directory announced "to 0 workspaces", exit 0 (a new, empty
    ledger beside the current directory)."""
    assert project.egress(capsys, "ledger", "init", "--simulation")[0] == 0
    assert project.egress(capsys, "workspaces", "import", "ws.csv")[0] == 0
    published = project.published(capsys, "2026-11-26")
    monkeypatch.chdir(project.elsewhere)
    code, out, err = project.egress(capsys, "notify", "--region", "us", "--published", published, "--at", "2026-11-26")
    assert code == 0, err
    assert "recorded addition of 198.51.100.11 on 2026-12-10 for 2 workspaces" in out
    outbox = project.root / ".egress" / "outbox"
    assert len(list(mailbox.Maildir(str(outbox), create=False))) == 2  # one notice (2 changes) per US workspace
    assert list(project.elsewhere.iterdir()) == []


def test_help_shows_where_the_default_ledger_is(project, capsys):
    with pytest.raises(SystemExit):
        main(["publish", "--help"])
    shown = "".join(capsys.readouterr().out.split())  # argparse wraps lines at spaces and hyphens
    assert "theprojectfolder,thenearestfolderholdingPulumi.yamlatorabovetheplan's" in shown
    assert f"withthedefault--planhere:{project.ledger}" in shown


def test_notify_with_no_workspace_warns_every_run_and_exits_6_when_a_change_is_due(project, capsys):
    assert project.egress(capsys, "ledger", "init", "--simulation")[0] == 0
    published = project.published(capsys, "2026-11-26")
    argv = ("notify", "--region", "us", "--published", published, "--at", "2026-11-26")
    for extra in ((), ("--dry-run",)):
        code, out, err = project.egress(capsys, *argv, *extra)
        assert code == 6, out + err
        assert "WARNING: region 'us' has no workspace in the ledger at " in err
        assert "2 changes of region 'us' are due to be announced" in err and "nothing was announced" in err
    ledger = Ledger(f"sqlite:///{project.ledger}")
    try:
        assert ledger.announcements() == {}  # no notice clock started for nobody
    finally:
        ledger.close()
    code, out, _ = project.egress(capsys, *argv, "--json")
    summary = json.loads(out)
    assert code == summary["exit_code"] == 6 and summary["announced"] == []
    warning = (
        f"region 'us' has no workspace in the ledger at 'sqlite:///{project.ledger}' (the default: .egress/egress.db "
        f"in the project folder {project.root}): no notice can reach anyone. Import the custom-SMTP workspaces: "
        "egress workspaces import FILE (with the same --db or EGRESS_DB as this run)"
    )
    assert summary["warnings"] == [warning]
    # Nothing due (the EU region has no dated change): still the warning, exit 0.
    eu = project.root / "published-eu.json"
    assert project.egress(capsys, "publish", "--region", "eu", "--out", str(eu))[0] == 0
    code, out, err = project.egress(capsys, "notify", "--region", "eu", "--published", str(eu), "--at", "2026-11-27")
    assert code == 0 and "WARNING: region 'eu' has no workspace" in err and "nothing was due" in out
