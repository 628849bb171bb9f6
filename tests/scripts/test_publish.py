"""``egress publish``: one region's document at a moment, ``--out`` written atomically, the static tree."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET

import jsonschema
import pytest

from smtp_egress.dates import UTC
from smtp_egress.document import canonical_text, load_schema
from smtp_egress.ledger import Ledger
from smtp_egress.plan import load_plan
from smtp_egress.scripts.cli import main

PLAN = """\
    notice_days: 7
    regions:
      us:
        - ip: 198.51.100.10
        - ip: 198.51.100.11
          active_from: 2026-12-10     # announced below
        - ip: 198.51.100.12
          retire_on: 2026-12-20       # never announced: must stay published
        - ip: 198.51.100.13
          active_from: 2026-12-05     # never announced: must never be published
      eu:
        - ip: 203.0.113.20
        - ip: 2001:db8::20
        - ip: 203.0.113.21
          active_from: 2026-12-20     # announced below
    """
ANNOUNCED_AT = dt.datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture
def env(tmp_path, monkeypatch):
    """A plan and a ledger in tmp_path; the us addition and the eu addition are announced."""
    for name in ("EGRESS_DB", "EGRESS_BASE_URL", "EGRESS_DEFAULT_REGION", "EGRESS_RATE_LIMIT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # anything written to a default path lands here, never in the repo
    plan_path = tmp_path / "plan.yaml"
    plan_path.write_text(textwrap.dedent(PLAN))
    plan = load_plan(plan_path)
    db = f"sqlite:///{tmp_path}/l.db"
    ledger = Ledger(db, create=True)
    for change in plan.changes():
        if change.ip in ("198.51.100.11", "203.0.113.21"):
            ledger.announce(change, ANNOUNCED_AT, plan.notice_days, plan.sha256, [])
    ledger.close()
    return {"plan": plan, "args": ["--plan", str(plan_path), "--db", db], "tmp": tmp_path}


def egress(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def document(capsys, env, region, at, *extra):
    code, out, err = egress(capsys, "publish", *env["args"], "--region", region, "--at", at, *extra)
    assert code == 0, err
    return out


def test_documents_validate_against_the_schema(env, capsys):
    schema = load_schema()
    for region in ("us", "eu"):
        for at in ("2026-11-01", "2026-12-01", "2026-12-10", "2026-12-21", "2027-06-01"):
            jsonschema.validate(json.loads(document(capsys, env, region, at)), schema)


def test_at_moves_an_announced_addition_across_its_effective_day(env, capsys):
    before = json.loads(document(capsys, env, "us", "2026-12-09"))
    after = json.loads(document(capsys, env, "us", "2026-12-10"))
    assert "198.51.100.11" not in before["ip_addresses"]
    assert before["upcoming"] == [
        {"ip": "198.51.100.11", "action": "add", "effective": "2026-12-10", "announced_at": "2026-11-30T09:00:00Z"}
    ]
    assert "198.51.100.11" in after["ip_addresses"]
    assert after["upcoming"] == []
    assert after["created_at"] == "2026-12-10T00:00:00Z" and after["sync_token"] != before["sync_token"]


def test_an_announcement_is_unknown_before_it_was_made(env, capsys):
    doc = json.loads(document(capsys, env, "us", "2026-11-30"))  # midnight, before the 09:00 announcement
    assert doc["upcoming"] == [] and "198.51.100.11" not in doc["ip_addresses"]


def test_unannounced_changes_never_take_effect(env, capsys):
    for at in ("2026-12-05", "2026-12-20", "2027-06-01"):
        listed = json.loads(document(capsys, env, "us", at))["ip_addresses"]
        assert "198.51.100.13" not in listed  # an unannounced addition is never published
        assert "198.51.100.12" in listed  # an unannounced removal stays published


def test_txt_is_the_canonical_list_that_sha256_covers(env, capsys):
    doc = json.loads(document(capsys, env, "eu", "2026-12-21"))
    txt = document(capsys, env, "eu", "2026-12-21", "--format", "txt")
    assert txt == canonical_text(doc["ip_addresses"]) == "203.0.113.20\n203.0.113.21\n2001:db8::20\n"
    assert hashlib.sha256(txt.encode()).hexdigest() == doc["sha256"]


def test_out_writes_the_same_bytes_and_leaves_no_temp_file(env, capsys):
    out = env["tmp"] / "pub" / "us.json"
    out.parent.mkdir()
    out.write_text("old")
    code, stdout, err = egress(
        capsys, "publish", *env["args"], "--region", "us", "--at", "2026-12-10", "--out", str(out)
    )
    assert code == 0, err
    assert "wrote" in stdout and "198.51.100.11" not in stdout
    assert out.read_text() == document(capsys, env, "us", "2026-12-10")
    assert oct(out.stat().st_mode & 0o777) == oct(0o644)
    assert sorted(p.name for p in out.parent.iterdir()) == ["us.json"]


def test_out_killed_mid_write_leaves_the_old_file_whole(env):
    """kill -9 after the new bytes are written but before the rename: the old file is untouched."""
    out = env["tmp"] / "us.json"
    out.write_text('{"ip_addresses": ["198.51.100.10"]}\n')
    crash = (
        "import os, signal, sys; os.fsync = lambda fd: os.kill(os.getpid(), signal.SIGKILL); "
        "from smtp_egress.scripts.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    argv = ["publish", *env["args"], "--region", "us", "--out", str(out)]
    proc = subprocess.run([sys.executable, "-c", crash, *argv], cwd=env["tmp"], capture_output=True, timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert out.read_text() == '{"ip_addresses": ["198.51.100.10"]}\n'
    leftovers = [p.name for p in env["tmp"].iterdir() if p.name.startswith(".us.json.")]
    assert len(leftovers) == 1 and leftovers[0].endswith(".tmp")  # the new bytes sat in a temp file only


def test_out_into_a_missing_directory_is_a_user_error(env, capsys):
    code, _, err = egress(capsys, "publish", *env["args"], "--region", "us", "--out", str(env["tmp"] / "no" / "x.json"))
    assert code == 2 and "cannot write" in err and "Traceback" not in err


def test_static_tree_and_headers_manifest(env, capsys):
    root = env["tmp"] / "site"
    code, _out, err = egress(
        capsys,
        "publish",
        *env["args"],
        "--static-dir",
        str(root),
        "--at",
        "2026-12-02",
        "--base-url",
        "https://ips.example.com",
    )
    assert code == 0, err
    files = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    assert files == sorted(
        [
            "headers.json",
            "us/v1/info/ip_addresses",
            "us/v1/info/ip_addresses.txt",
            "eu/v1/info/ip_addresses",
            "eu/v1/info/ip_addresses.txt",
            "v1/info/ip_addresses/changes.json",
            "v1/info/ip_addresses/changes.atom",
        ]
    )
    headers = json.loads((root / "headers.json").read_text())
    assert sorted(headers) == [f for f in files if f != "headers.json"]
    assert headers["us/v1/info/ip_addresses"] == {
        "Content-Type": "application/json",
        "Cache-Control": "public, max-age=300",
    }
    assert headers["eu/v1/info/ip_addresses.txt"]["Content-Type"] == "text/plain; charset=utf-8"
    assert headers["v1/info/ip_addresses/changes.atom"]["Content-Type"].startswith("application/atom+xml")
    for region in ("us", "eu"):
        assert (root / region / "v1/info/ip_addresses").read_text() == document(capsys, env, region, "2026-12-02")
        assert (root / region / "v1/info/ip_addresses.txt").read_text() == document(
            capsys, env, region, "2026-12-02", "--format", "txt"
        )
    changes = json.loads((root / "v1/info/ip_addresses/changes.json").read_text())
    assert sorted(c["ip"] for c in changes["changes"]) == ["198.51.100.11", "203.0.113.21"]
    feed = ET.parse(root / "v1/info/ip_addresses/changes.atom").getroot()
    assert len(feed.findall(f"{ATOM}entry")) == 2
    assert (
        feed.find(f"{ATOM}link[@rel='self']").get("href") == "https://ips.example.com/v1/info/ip_addresses/changes.atom"
    )


def test_static_tree_needs_a_base_url(env, capsys):
    code, _, err = egress(capsys, "publish", *env["args"], "--static-dir", str(env["tmp"] / "site"))
    assert code == 2 and "--base-url" in err and "Traceback" not in err
    assert not (env["tmp"] / "site").exists()


def test_unknown_region_exits_2_naming_it(env, capsys):
    code, out, err = egress(capsys, "publish", *env["args"], "--region", "ap")
    assert code == 2 and out == ""
    assert "'ap'" in err and "eu, us" in err and "Traceback" not in err


def test_bad_at_exits_2_naming_it(env, capsys):
    code, _, err = egress(capsys, "publish", *env["args"], "--region", "us", "--at", "10/12/2026")
    assert code == 2 and "'10/12/2026'" in err and "--at" in err


def test_an_empty_list_is_refused(env, capsys):
    plan = env["tmp"] / "new-region.yaml"
    plan.write_text("regions:\n  ap:\n    - ip: 192.0.2.7\n      active_from: 2026-12-10\n")
    out = env["tmp"] / "ap.json"
    code, _, err = egress(
        capsys, "publish", "--plan", str(plan), "--db", env["args"][3], "--region", "ap", "--out", str(out)
    )
    assert code == 3 and "'ap'" in err and "empty" in err
    assert not out.exists()


def test_cli_subprocess_prints_the_document(env):
    """The installed entry point, end to end (no in-process state)."""
    argv = [
        sys.executable,
        "-m",
        "smtp_egress.scripts.cli",
        "publish",
        *env["args"],
        "--region",
        "us",
        "--at",
        "2026-12-10",
        "--format",
        "txt",
    ]
    proc = subprocess.run(
        argv,
        cwd=env["tmp"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "198.51.100.10\n198.51.100.11\n198.51.100.12\n"
