"""A URL given on the command line or in the environment that cannot be used is refused without its password:
the refusal names the flag or variable and shows the URL masked, whichever check refuses it (parsing, the
scheme, the port). Each password below holds characters a URL parser cuts at."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from smtp_egress.scripts.cli import main

EXAMPLE_PLAN = Path(__file__).resolve().parents[1] / "data" / "example-plan.yaml"
SECRET = "Zq9-top/sec#ret"
NEEDLES = ["Zq9", "top/sec", "sec#ret"]
BAD = {  # URLs that fail in different places, each carrying SECRET as its password
    "bad port": f"https://ops:{SECRET}@ips.example.com:notaport/v1",
    "bad scheme": f"ftp://ops:{SECRET}@ips.example.com/v1",
    "port out of range": f"https://ops:{SECRET}@ips.example.com:99999/v1",
}


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shutil.copy(EXAMPLE_PLAN, "plan.yaml")
    common = ["--plan", "plan.yaml", "--db", "sqlite:///ledger.db"]
    assert main(["ledger", "init", "--simulation", *common]) == 0
    Path("ws.csv").write_text("workspace_id,region,email\nws-1,us,ops@one.example\n")
    assert main(["workspaces", "import", "ws.csv", *common]) == 0
    assert main(["publish", "--region", "us", "--at", "2026-11-20", "--out", "pub.json", *common]) == 0
    return common


NOTIFY = ["notify", "--region", "us", "--at", "2026-11-20"]
CASES = {
    "notify --published": ([*NOTIFY, "--published"], None),
    "notify --base-url": ([*NOTIFY, "--published", "pub.json", "--base-url"], None),
    "notify --smtp-url": ([*NOTIFY, "--published", "pub.json", "--smtp-url"], None),
    "notify EGRESS_SMTP_URL": ([*NOTIFY, "--published", "pub.json"], "EGRESS_SMTP_URL"),
    "notify EGRESS_BASE_URL": ([*NOTIFY, "--published", "pub.json"], "EGRESS_BASE_URL"),
    "synth --published": (["synth", "--stack", "us", "--at", "2026-11-20", "--published"], None),
    "publish --base-url": (["publish", "--static-dir", "site", "--at", "2026-11-20", "--base-url"], None),
    "ledger adopt --published": (["ledger", "adopt", "--region", "us", "--published"], None),
}


@pytest.mark.parametrize("bad", BAD.values(), ids=list(BAD))
@pytest.mark.parametrize("case", CASES.values(), ids=list(CASES))
def test_an_unusable_url_is_refused_without_its_password(project, capsys, monkeypatch, case, bad):
    argv, env = case
    if env is None:
        argv = [*argv, bad]
    else:
        monkeypatch.setenv(env, bad)
    plan = project if argv[0] != "synth" else ["--plan", "plan.yaml"]
    code = main([*argv, *plan])
    out, err = capsys.readouterr()
    assert code in (2, 3, 6), (code, err)
    assert "Traceback" not in err
    leaked = [n for n in NEEDLES if n in out + err]
    assert not leaked, err
    assert "***" in err or "not a valid URL" not in err


def test_a_db_url_that_cannot_be_used_is_refused_without_its_password(project, capsys, monkeypatch):
    for url in (f"postgresql+psycopg://u:{SECRET}@db:bad/x", f"mysql://u:{SECRET}@db/x", f"postgres://u:{SECRET}@h/x"):
        monkeypatch.setenv("EGRESS_DB", url)
        assert main(["report", "--plan", "plan.yaml"]) == 2
        out, err = capsys.readouterr()
        assert "EGRESS_DB" in err and not [n for n in NEEDLES if n in out + err], err
