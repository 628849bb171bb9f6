"""The command line never lies (issue 9, point 1): every message names the flag or variable actually used, a flag
that would do nothing is refused, EGRESS_PLAN is honoured by every command, ports and bundles are checked, an
exit-3 run says why and nothing else, counts and lengths of time are said right. Real files, a real SQLite
ledger, real ``egress`` processes where a process matters (serve)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from smtp_egress.scripts.cli import main

EXAMPLE_PLAN = Path(__file__).resolve().parents[1] / "data" / "example-plan.yaml"
CSV = "workspace_id,region,email\nws-1,us,ops@one.example\nws-2,eu,it@two.example\n"
ENV = (
    "EGRESS_DB",
    "EGRESS_PLAN",
    "EGRESS_BASE_URL",
    "EGRESS_SIGNING_KEY",
    "EGRESS_OUTBOX",
    "EGRESS_SMTP_URL",
    "EGRESS_SMTP_CAFILE",
    "EGRESS_FROM",
    "EGRESS_WEBHOOK_SECRET",
    "EGRESS_WEBHOOK_ALLOW_PRIVATE",
    "EGRESS_SLACK_ALLOW_PRIVATE",
    "EGRESS_PUBLISHED",
    "EGRESS_TODAY",
    "EGRESS_DEFAULT_REGION",
    "EGRESS_RATE_LIMIT",
    "SOURCE_DATE_EPOCH",
)


@pytest.fixture
def env(tmp_path, monkeypatch):
    """A project in tmp_path: the example plan, a simulation ledger with a workspace per region, a published
    document for us (pub.json), a signing key pair (k.pem, k.pem.pub)."""
    monkeypatch.chdir(tmp_path)
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    shutil.copy(EXAMPLE_PLAN, "plan.yaml")
    Path("ws.csv").write_text(CSV)
    db = f"sqlite:///{tmp_path}/ledger.db"
    common = ["--plan", "plan.yaml", "--db", db]
    assert main(["ledger", "init", "--simulation", *common]) == 0
    assert main(["workspaces", "import", "ws.csv", *common]) == 0
    assert main(["publish", "--region", "us", "--at", "2026-11-20", "--out", "pub.json", *common]) == 0
    assert main(["allowlist", "--generate-key", "k.pem"]) == 0
    return {"db": db, "common": common, "tmp": tmp_path}


def egress(capsys, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse's usage errors
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def notify(env, *extra: str) -> list[str]:
    return ["notify", "--region", "us", "--published", "pub.json", "--at", "2026-11-20", "--outbox", "ob", *extra]


def recorded(env) -> int:
    from smtp_egress.ledger import Ledger

    ledger = Ledger(env["db"])
    try:
        return len(ledger.recorded())
    finally:
        ledger.close()


# --- serve: ports, rates and hosts, in a real process ----------------------------------------------------------


def serve(tmp_path, *argv: str, **environ: str) -> subprocess.CompletedProcess:
    shutil.copy(EXAMPLE_PLAN, tmp_path / "plan.yaml")
    clean = {k: v for k, v in os.environ.items() if k not in ENV}
    cmd = [sys.executable, "-m", "smtp_egress.scripts.cli", "serve", "--plan", str(tmp_path / "plan.yaml"), *argv]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, env={**clean, **environ}, cwd=tmp_path)


@pytest.mark.parametrize(
    "argv, environ, needle",
    [
        (["--port", "99999"], {}, "argument --port: 99999 is out of range"),
        (["--port", "-1"], {}, "argument --port: -1 is out of range"),
        (["--port", "http"], {}, "argument --port: 'http' is not a whole number"),
        (["--burst", "0"], {}, "argument --burst: 0 is out of range"),
        (["--rate", "nan"], {}, "--rate 'nan' must be a number of requests per second"),
        ([], {"EGRESS_RATE_LIMIT": "inf"}, "EGRESS_RATE_LIMIT 'inf' must be a number"),
        (["--host", ""], {}, "--host is empty"),
        (["--host", "x" * 300], {}, "--host 'xxxx"),
        (["--default-region", "ap"], {}, "--default-region: region 'ap' is not in the plan"),
        ([], {"EGRESS_DEFAULT_REGION": "ap"}, "EGRESS_DEFAULT_REGION: region 'ap' is not in the plan"),
        (["--base-url", "ftp://ips.example.com"], {}, "--base-url 'ftp://ips.example.com' is not an http(s) URL"),
        ([], {"EGRESS_BASE_URL": "ips.example.com"}, "EGRESS_BASE_URL 'ips.example.com' is not an http(s) URL"),
    ],
)
def test_serve_refuses_bad_ports_rates_hosts_and_names_the_flag_or_variable(tmp_path, argv, environ, needle):
    db = ["--db", f"sqlite:///{tmp_path}/none.db"]  # never opened: every value is checked first
    done = serve(tmp_path, *argv, *db, **environ)
    assert done.returncode == 2, done.stderr
    assert needle in done.stderr and "Traceback" not in done.stderr
    assert "serving" not in done.stdout


# --- allowlist: --all into a file, --verify of a signed tree -----------------------------------------------------


def test_allowlist_all_into_an_existing_file_is_refused(env, capsys):
    Path("afile").write_text("keep me\n")
    code, _, err = egress(capsys, "allowlist", "--all", "afile", *env["common"])
    assert code == 2 and "--all 'afile' is a file, not a directory" in err
    assert Path("afile").read_text() == "keep me\n"


def test_verify_refuses_a_signed_tree_without_the_key_unless_told_no_signature(env, capsys):
    assert egress(capsys, "allowlist", "--all", "tree", "--signing-key", "k.pem", *env["common"])[0] == 0
    # A tampered bundle: a file widened and its checksum recomputed, as anyone who can write the files can do.
    import hashlib

    target = Path("tree/us/allowlist.txt")
    target.write_text("0.0.0.0/0\n")
    manifest = Path("tree/SHA256SUMS")
    digest = hashlib.sha256(b"0.0.0.0/0\n").hexdigest()
    manifest.write_text(
        "".join(
            f"{digest}  us/allowlist.txt\n" if line.endswith("  us/allowlist.txt") else line + "\n"
            for line in manifest.read_text().splitlines()
        )
    )
    code, out, err = egress(capsys, "allowlist", "--verify", "tree")
    assert code == 2 and "the tree is signed (SHA256SUMS.sig), but no --public-key was given" in err and out == ""
    code, _, err = egress(capsys, "allowlist", "--verify", "tree", "--public-key", "k.pem.pub")
    assert code == 3 and "does not match" in err
    code, out, _ = egress(capsys, "allowlist", "--verify", "tree", "--no-signature")
    assert code == 0 and "signature not checked (--no-signature)" in out  # said, and asked for
    code, _, err = egress(capsys, "allowlist", "--verify", "tree", "--no-signature", "--public-key", "k.pem.pub")
    assert code == 2 and "give one of them" in err


# --- EGRESS_PLAN: every command, or none ---------------------------------------------------------------------------


def test_egress_plan_is_honoured_by_every_command_and_named_when_wrong(env, capsys, monkeypatch):
    elsewhere = env["tmp"] / "elsewhere"
    elsewhere.mkdir()
    shutil.copy("plan.yaml", elsewhere / "ips.yaml")
    Path("plan.yaml").unlink()  # the --plan of the fixture is gone: only EGRESS_PLAN can find the plan
    monkeypatch.setenv("EGRESS_PLAN", str(elsewhere / "ips.yaml"))
    monkeypatch.setenv("EGRESS_DB", env["db"])
    code, out, _ = egress(capsys, "validate")
    assert code == 0 and f"{elsewhere / 'ips.yaml'}: OK" in out
    assert egress(capsys, "publish", "--region", "us", "--at", "2026-11-20")[0] == 0
    assert egress(capsys, "report", "--format", "json")[0] == 0
    assert egress(capsys, "allowlist", "--region", "us", "--format", "txt")[0] == 0
    assert egress(capsys, "workspaces", "import", "ws.csv")[0] == 0
    assert egress(capsys, "notify", "--region", "us", "--published", "pub.json", "--dry-run", "--outbox", "ob")[0] == 0
    monkeypatch.setenv("EGRESS_PLAN", str(elsewhere / "missing.yaml"))
    code, _, err = egress(capsys, "publish", "--region", "us")
    assert code == 2 and "the plan from EGRESS_PLAN is invalid" in err and "missing.yaml" in err
    code, _, err = egress(capsys, "validate", "--plan", "nope.yaml")  # the flag wins, and is named
    assert code == 2 and "the plan from --plan is invalid" in err and "nope.yaml" in err


# --- every message names the flag or variable actually used -------------------------------------------------------


@pytest.mark.parametrize(
    "argv, environ, needle",
    [
        (["--today", "2026-13-01"], {}, "--today: '2026-13-01' is not a date"),
        (["--at", "9999-12-31"], {}, "--at: '9999-12-31' is out of range"),
        (["--smtp-cafile", "nope.pem"], {}, "--smtp-cafile 'nope.pem' is not a readable PEM"),
        ([], {"EGRESS_SMTP_CAFILE": "nope.pem"}, "EGRESS_SMTP_CAFILE 'nope.pem' is not a readable PEM"),
        (["--outbox", "pub.json"], {}, "the Maildir outbox (--outbox) 'pub.json' cannot take notices"),
        (["--smtp-url", "smtp://"], {}, "--smtp-url: SMTP URL 'smtp://' is invalid"),
        ([], {"EGRESS_SMTP_URL": "http://x"}, "EGRESS_SMTP_URL: SMTP URL 'http://x' is invalid"),
        ([], {"EGRESS_FROM": "nobody"}, "EGRESS_FROM 'nobody' is not an address"),
        ([], {"EGRESS_WEBHOOK_ALLOW_PRIVATE": "maybe"}, "EGRESS_WEBHOOK_ALLOW_PRIVATE 'maybe' must be 1"),
        ([], {"EGRESS_SLACK_ALLOW_PRIVATE": "on"}, "EGRESS_SLACK_ALLOW_PRIVATE 'on' must be 1"),
        (["--base-url", "ips.example.com"], {}, "--base-url 'ips.example.com' is not an http(s) URL"),
        (["--region", "ap"], {}, "--region: region 'ap' is not in the plan"),
        (["--published", "http://[::1"], {}, "--published 'http://[::1' is not a valid URL"),
    ],
)
def test_notify_names_the_flag_or_variable_a_bad_value_came_from(env, capsys, monkeypatch, argv, environ, needle):
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    base = notify(env)
    for flag, value in zip(argv[::2], argv[1::2], strict=True):
        if flag in base:
            base[base.index(flag) + 1] = value
        else:
            base += [flag, value]
    code, _, err = egress(capsys, *base, *env["common"])
    assert code == 2 and needle in err, err
    assert recorded(env) == 0


@pytest.mark.parametrize(
    "argv, environ, needle",
    [
        (["--db", "nowhere://x"], {}, "the ledger URL 'nowhere://x' (from --db) is not a usable SQLAlchemy URL"),
        ([], {"EGRESS_DB": "nowhere://x"}, "the ledger URL 'nowhere://x' (from EGRESS_DB) is not a usable"),
        (["--signing-key", "nope.pem"], {}, "--signing-key: cannot read the signing key 'nope.pem' (--signing-key)"),
        ([], {"EGRESS_SIGNING_KEY": "pub.json"}, "the signing key 'pub.json' (EGRESS_SIGNING_KEY) is not"),
        ([], {"EGRESS_BASE_URL": "ftp://x"}, "EGRESS_BASE_URL 'ftp://x' is not an http(s) URL"),
        (["--static-dir", "pub.json"], {}, "--static-dir 'pub.json' is a file, not a directory"),
    ],
)
def test_publish_names_the_flag_or_variable_a_bad_value_came_from(env, capsys, monkeypatch, argv, environ, needle):
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    argv = ["--static-dir", "site", "--base-url", "https://ips.example.com", *argv]
    if "EGRESS_BASE_URL" in environ:
        argv = argv[:2] + argv[4:]
    plan = ["--plan", "plan.yaml"] + ([] if "--db" in argv or "EGRESS_DB" in environ else ["--db", env["db"]])
    code, _, err = egress(capsys, "publish", *argv, *plan)
    assert code == 2 and needle in err, err


def test_out_never_replaces_a_device_or_a_pipe(env, capsys):
    import stat

    os.mkfifo("pipe")  # like /dev/null or /dev/stdout: the atomic rename would put a regular file in its place
    for argv in (["publish", "--region", "us"], ["allowlist", "--region", "us", "--format", "txt"], ["report"]):
        code, out, err = egress(capsys, *argv, "--out", "pipe", *env["common"])
        assert code == 2 and "--out 'pipe' is not a regular file" in err and out == ""
        assert stat.S_ISFIFO(os.stat("pipe").st_mode)


def test_an_argument_that_is_not_text_is_a_usage_error_naming_its_flag(env, capsys):
    code, _, err = egress(capsys, "workspaces", "remove", "ws-1", "--reason", "bad \udcff byte", *env["common"])
    assert code == 2 and "the value of --reason 'bad \\xff byte' is not valid UTF-8 text" in err


# --- a flag that would do nothing is refused ------------------------------------------------------------------------


COMMON = ["--plan", "plan.yaml", "--db", "{db}"]
ACCEPT = ["notify", "--region", "us", "--accept-undelivered", "ws-1", "--reason", "x", *COMMON]


@pytest.mark.parametrize(
    "argv, needle",
    [
        ([*notify(None, "--reason", "why"), *COMMON], "--reason does not apply to a notify run without --allow-short"),
        ([*notify(None, "--by", "alice"), *COMMON], "--by does not apply to a notify run without --accept-undelivered"),
        ([*ACCEPT, "--outbox", "ob"], "--outbox does not apply to --accept-undelivered"),
        ([*ACCEPT, "--base-url", "https://a.example"], "--base-url does not apply to --accept-undelivered"),
        (["allowlist", "--region", "us", "--format", "txt", "--json", *COMMON], "--json does not apply to --region"),
        (["allowlist", "--generate-key", "k2.pem", "--json"], "--json does not apply to --generate-key"),
        (["allowlist", "--verify", "tree", "--plan", "plan.yaml"], "--plan does not apply to --verify"),
        (["allowlist", "--list-formats", "--db", "{db}"], "--db does not apply to --list-formats"),
        (["publish", "--region", "us", "--base-url", "https://a.example", *COMMON], "--base-url does not apply to"),
        (["publish", "--verify", "site", "--public-key", "k.pem.pub", "--db", "{db}"], "--db does not apply to"),
        (["synth", "--stack", "us", "--published", "pub.json", *COMMON], "--db does not apply with --published"),
    ],
)
def test_a_flag_that_would_do_nothing_is_refused(env, capsys, argv, needle):
    code, out, err = egress(capsys, *(word.replace("{db}", env["db"]) for word in argv))
    assert code == 2 and needle in err, err
    assert out == "" and recorded(env) == 0 and not Path("k2.pem").exists()


def test_synth_refuses_a_db_flag_that_egress_published_would_override(env, capsys, monkeypatch):
    monkeypatch.setenv("EGRESS_PUBLISHED", "pub.json")
    code, _, err = egress(capsys, "synth", "--stack", "us", "--plan", "plan.yaml", "--db", env["db"])
    assert code == 2 and "--db does not apply with EGRESS_PUBLISHED" in err and "(unset it)" in err


# --- what the output says ------------------------------------------------------------------------------------------


def test_an_exit_3_run_says_why_and_not_nothing_to_do(env, capsys):
    Path("broken.json").write_text("<html>502 Bad Gateway</html>")
    argv = notify(env)
    argv[argv.index("pub.json")] = "broken.json"
    code, out, err = egress(capsys, *argv, *env["common"])
    assert code == 3
    assert "nothing to do" not in out and "nothing was due" not in out
    assert "ACTION NEEDED" in err and "broken.json" in err
    assert "exit 3: the published document was unusable" in out


def test_counts_are_singular_when_one(env, capsys):
    code, out, _ = egress(capsys, *notify(env, "--dry-run"), *env["common"])
    assert code == 0 and "would announce addition of 198.51.100.11 on 2026-12-10 to 1 workspace" in out
    assert "1 workspaces" not in out
    code, out, _ = egress(capsys, "validate", "--plan", "plan.yaml")
    assert "us (3 addresses), eu (1 address)" in out


def test_notify_help_lists_the_exit_codes(capsys):
    with pytest.raises(SystemExit):
        main(["notify", "--help"])
    out = capsys.readouterr().out
    assert "exit codes" in out
    for code in range(7):
        assert f"\n  {code}  " in out, code


def test_json_of_verify_and_list_formats_still_works(env, capsys):
    code, out, _ = egress(capsys, "allowlist", "--list-formats", "--json")
    assert code == 0 and json.loads(out)[0]["format"] == "txt"
