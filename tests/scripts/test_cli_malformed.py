"""No traceback for any input a user can give (issue 9, "Done when"): every command, in every mode, is fed
malformed values for every flag it has and every environment variable it reads.

The flags come from the parser itself, so a new flag is covered the day it is added; the environment variables
from the help texts ("env NAME"), the notice channels' registry and the documented ones. Each run must end with
exit 0 (the value happened to be usable), 2 (a usage error) or 3 (a published document that cannot be used),
never a traceback, and a refusal must name the flag (as typed) or the variable it came from. Every value is a
relative path or not a path at all: a run that accepts one writes only inside the test's folder. ``egress serve``
runs until stopped, so its values are checked in a real process (tests/scripts/test_cli_flags.py).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import io
import re
import shutil
from pathlib import Path

import pytest

from smtp_egress.dates import UTC
from smtp_egress.notices.channels import CHANNELS
from smtp_egress.scripts.cli import build_parser, main

EXAMPLE_PLAN = Path(__file__).resolve().parents[1] / "data" / "example-plan.yaml"
CSV = "workspace_id,region,email\nws-1,us,ops@one.example\nws-2,us,admin@two.example\nws-3,eu,it@three.example\n"
C = ["--plan", "plan.yaml", "--db", "sqlite:///ledger.db"]
S = ["--plan", "plan.yaml", "--db", "sqlite:///status.db"]  # a region whose daily run succeeded: status exits 0
D = ["--plan", "plan.yaml", "--db", "sqlite:///domains.db"]  # a workspace with branded domains

# A valid command line for every command and mode: the runs below change one value at a time.
BASES = {
    "validate": ["validate", "--plan", "plan.yaml"],
    "publish --region": ["publish", "--region", "us", "--at", "2026-11-20", *C],
    "publish --static-dir": ["publish", "--static-dir", "site2", "--base-url", "https://ips.example.com", *C],
    "publish --verify": ["publish", "--verify", "site", "--public-key", "k.pem.pub"],
    "notify": ["notify", "--region", "us", "--published", "pub.json", "--at", "2026-11-20", "--dry-run", *C],
    "notify --accept-undelivered": [
        "notify",
        "--region",
        "us",
        "--accept-undelivered",
        "ws-2",
        "--reason",
        "gone",
        "--at",
        "2026-11-21",
        *C,
    ],
    "workspaces import": ["workspaces", "import", "ws.csv", *C],
    "workspaces list": ["workspaces", "list", "--region", "us", *C],
    "workspaces remove": ["workspaces", "remove", "ws-2", "--at", "2026-11-21", *C],
    "synth": ["synth", "--stack", "us", "--plan", "plan.yaml", "--published", "pub.json", "--at", "2026-11-20"],
    "allowlist --region": ["allowlist", "--region", "us", "--format", "txt", *C],
    "allowlist --all": ["allowlist", "--all", "bundle2", *C],
    "allowlist --verify": ["allowlist", "--verify", "tree", "--public-key", "k.pem.pub"],
    "allowlist --generate-key": ["allowlist", "--generate-key", "k2.pem"],
    "allowlist --list-formats": ["allowlist", "--list-formats"],
    "report": ["report", *C],
    "ledger init": ["ledger", "init", "--simulation", *C],
    "ledger status": ["ledger", "status", *C],
    "ledger upgrade": ["ledger", "upgrade", *C],
    "ledger adopt": ["ledger", "adopt", "--region", "us", "--published", "classic.json", *C],
    "status": ["status", "--region", "us", "--published", "status-pub.json", "--at", "2026-11-20", *S],
    "smtp add": ["smtp", "add", "--workspace", "ws-1", "--host", "8.8.8.8", "--port", "587", *C[2:]],
    "smtp list": ["smtp", "list", "--workspace", "ws-1", *C[2:]],
    "smtp remove": ["smtp", "remove", "--workspace", "ws-2", "--server", "8.8.8.8:465", *C[2:]],
    "smtp import": ["smtp", "import", "servers.csv", *C[2:]],
    "smtp test": ["smtp", "test", "--host", "127.0.0.1", "--port", "587"],  # refused: no connection
    "smtp keygen": ["smtp", "keygen", "--out", "new.key"],
    "worker enqueue": [
        "worker",
        "enqueue",
        "--workspace",
        "ws-1",
        "--from",
        "a@c.example",
        "--to",
        "x@y.example",
        "msg.eml",
        *C[2:],
    ],
    "worker status": ["worker", "status", *C[2:]],
    # --once on an empty embedded queue, no health endpoint, no waiting for retries: every run ends at once
    "worker run": ["worker", "run", "--once", "--wait-retries", "0", "--health", "off", *C[2:]],
    "domains expected": ["domains", "expected", "--workspace", "ws-4", *D],
    "domains verify": ["domains", "verify", "--all", "--at", "2026-11-21", *C],  # no branded domain: no lookup
    "tracking rotate-key": ["tracking", "rotate-key", "--keys", "tracking-keys"],
}
# Exit codes that are a command's verdict on what it looked at, not a refusal of its input.
VERDICTS = {"status": (4, 5, 6), "smtp test": (6,)}
# Variables a command's valid line needs (the worker decrypts SMTP passwords with the key file).
BASE_ENV = {"worker run": {"EGRESS_SMTP_KEY_FILE": "smtp.key"}}
BASE_EXIT = {"smtp test": 6}  # its base is a refused destination: the report, exit 6, and no connection
SKIPPED = {"serve"}  # runs until stopped: tests/scripts/test_cli_flags.py checks its values in a real process
SKIPPED |= {"tracking serve"}  # the same: tests/scripts/test_tracking_cli.py
# They drive the Pulumi CLI: tests/jobs/test_daily_cli.py feeds their own flags malformed values with a stand-in
# `pulumi` on PATH (their notice channel flags are notify's, covered here).
SKIPPED |= {"deploy", "daily"}
# Asks the instance metadata service first (169.254.169.254 here would wait for timeouts):
# tests/scripts/test_worker_unhealthy.py feeds its flags malformed values with a loopback IMDS and moto.
SKIPPED |= {"worker report-unhealthy"}

VALUES = [
    "",
    "-1",
    "99999",
    "nan",
    "2026-02-30",
    "9999-12-31",
    "adir",  # an existing (empty) directory
    "pub.json",  # an existing file (a published document)
    "pub.json/x",  # a path through a file
    "nope.json",
    "http://[::1",
    "ftp://ips.example.com/x",
    "a\nb",
    "x" * 300,  # longer than a file name may be
    "%s{0}",
    "\udcff",  # a byte that is not UTF-8, as Python receives it from argv or the environment
]
# Variables every command with the option reads; the others come from the help texts and the channel registry.
DOCUMENTED = {
    "allowlist": ["SOURCE_DATE_EPOCH"],
    "synth": ["EGRESS_TODAY", "EGRESS_PUBLISHED"],
    "domains": ["EGRESS_TRACKING_DOMAIN"],
    "worker": ["EGRESS_SMTP_KEY_FILE", "EGRESS_TRACKING_KEYS"],
}


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    """The project every run starts from: a plan, a simulation ledger with workspaces and a held batch (ws-1 told,
    ws-2 not), a published document (ours and classic), a key pair, a signed allowlist tree and static site."""
    from smtp_egress.ledger import Ledger
    from smtp_egress.plan import load_plan

    root = tmp_path_factory.mktemp("malformed")
    with contextlib.chdir(root):
        shutil.copy(EXAMPLE_PLAN, "plan.yaml")
        Path("ws.csv").write_text(CSV)
        Path("msg.eml").write_bytes(b"Subject: hi\r\nFrom: a@c.example\r\n\r\nHello\r\n")
        quiet = contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO())
        with quiet[0], quiet[1]:
            assert main(["ledger", "init", "--simulation", *C]) == 0
            assert main(["workspaces", "import", "ws.csv", *C]) == 0
            assert main(["allowlist", "--generate-key", "k.pem"]) == 0
            assert main(["publish", "--region", "us", "--at", "2026-11-20", "--out", "pub.json", *C]) == 0
            assert main(["allowlist", "--all", "tree", "--signing-key", "k.pem", "--at", "2026-11-20", *C]) == 0
            site = ["--static-dir", "site", "--signing-key", "k.pem", "--base-url", "https://ips.example.com"]
            assert main(["publish", *site, *C]) == 0
        Path("dom.csv").write_text(
            "workspace_id,region,email,sending_domain,tracking_domain\nws-4,us,o@four.example,four.example,t.four.example\n"
        )
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            assert main(["workspaces", "import", "dom.csv", *D]) == 0
        Path("classic.json").write_text('{"ip_addresses": ["198.51.100.10", "198.51.100.12"]}')
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            assert main(["ledger", "init", "--simulation", *S]) == 0
            assert main(["workspaces", "import", "ws.csv", *S]) == 0
            live = ["publish", "--region", "us", "--at", "2026-11-20", "--out", "status-pub.json", *S]
            assert main(live) == 0
            day = ["--published", "status-pub.json", "--at", "2026-11-20", "--outbox", "status-outbox"]
            assert main(["notify", "--region", "us", *day, *S]) == 0
            assert main(live) == 0
        plan = load_plan("plan.yaml")
        change = next(c for c in plan.changes("us") if c.action == "add")
        ledger = Ledger("sqlite:///ledger.db")
        try:
            at = dt.datetime(2026, 11, 20, 9, tzinfo=UTC)
            ledger.announce(change, at, plan.notice_days, plan.sha256, ledger.workspaces("us"))
            ledger.mark_sent(next(d for d in ledger.unsent() if d.workspace_id == "ws-1"), at)
        finally:
            ledger.close()
        Path("servers.csv").write_text("workspace_id,host,port\nws-1,8.8.4.4,587\n")
        with contextlib.redirect_stdout(io.StringIO()):
            assert main(["smtp", "add", "--workspace", "ws-2", "--host", "8.8.8.8", "--port", "465", *C[2:]]) == 0
        with contextlib.redirect_stdout(io.StringIO()):
            assert main(["smtp", "keygen", "--out", "smtp.key"]) == 0
        Path("adir").mkdir()
    return root


@pytest.fixture
def project(pristine, tmp_path, monkeypatch):
    """A fresh copy of the pristine project as the current directory; ``reset()`` restores it between runs."""
    work = tmp_path / "p"
    shutil.copytree(pristine, work)
    monkeypatch.chdir(work)
    for name in [*ENV_NAMES, "EGRESS_PLAN", "EGRESS_DB"]:
        monkeypatch.delenv(name, raising=False)
    files = {p.name: p.read_bytes() for p in pristine.iterdir() if p.is_file()}
    folders = {p.name for p in pristine.iterdir() if p.is_dir()}

    def reset() -> None:
        for path in work.iterdir():  # what a run wrote (a key, a tree, an --out file) goes
            if path.name not in files and path.name not in folders:
                shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
        for name, data in files.items():
            (work / name).write_bytes(data)
        for extra in ("ledger.db-wal", "ledger.db-shm"):
            (work / extra).unlink(missing_ok=True)
        shutil.rmtree(work / "adir", ignore_errors=True)
        (work / "adir").mkdir()

    return reset


def command_parser(argv: list[str]) -> argparse.ArgumentParser:
    """The (sub)parser of the command ``argv`` runs."""
    parser = build_parser()
    for word in argv:
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs or word not in subs[0].choices:
            break
        parser = subs[0].choices[word]
    return parser


def value_options(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    """Every option that takes a value, and every positional argument."""
    return [
        a
        for a in parser._actions
        if a.nargs != 0 and not isinstance(a, (argparse._HelpAction, argparse._SubParsersAction))
    ]


ENV_NAMES = sorted({o.env for c in CHANNELS.values() for o in c.options} | {"EGRESS_RATE_LIMIT", "SOURCE_DATE_EPOCH"})


def variables(name: str, parser: argparse.ArgumentParser) -> dict[str, str | None]:
    """The environment variables the command reads, each with the flag that wins over it (None: none)."""
    found: dict[str, str | None] = (
        {"EGRESS_PLAN": "--plan"} if any("--plan" in a.option_strings for a in parser._actions) else {}
    )
    for action in parser._actions:
        for var in re.findall(r"\benv (EGRESS_[A-Z_]+)", action.help or ""):
            found[var] = action.option_strings[0] if action.option_strings else None
    if name == "notify":
        flags = {o.env: o.flag for c in CHANNELS.values() for o in c.options}
        found |= {var: flags[var] for var in flags if var not in found}
    for var in DOCUMENTED.get(name.split()[0], []):
        found.setdefault(var, {"EGRESS_TODAY": "--at", "EGRESS_PUBLISHED": "--published"}.get(var))
    return found


def run(argv: list[str]) -> tuple[int | str, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code: int | str = main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 2
        except BaseException as exc:  # a traceback: what this test exists to catch
            code = f"{type(exc).__name__}: {exc}"[:300]
        finally:
            keep_an_event_loop()
    return code, out.getvalue(), err.getvalue()


def keep_an_event_loop() -> None:
    """``egress worker run`` ends with asyncio.run, which leaves the main thread without an event loop; the Pulumi
    runs of later tests in this process need one (a real CLI process runs one command and exits)."""
    try:
        asyncio.get_event_loop_policy().get_event_loop()
    except RuntimeError:
        asyncio.set_event_loop(asyncio.new_event_loop())


def without(argv: list[str], flag: str | None) -> list[str]:
    """``argv`` without ``flag`` and its value (so that its environment variable is the one read)."""
    if flag is None or flag not in argv:
        return list(argv)
    i = argv.index(flag)
    return argv[:i] + argv[i + 2 :]


def judge(code: int | str, out: str, err: str, names: tuple[str, ...], verdicts: tuple[int, ...] = ()) -> str | None:
    """Why the run is wrong, or None: exit 0, 2 or 3 (or one of the command's ``verdicts``) without a traceback; a
    refusal names where the value was."""
    if not isinstance(code, int) or code not in (0, 2, 3, *verdicts) or "Traceback" in err:
        return f"exit {code!r}; {err.strip()[-300:]!r}"
    if code in (2, 3) and not any(name in err or name in out for name in names):  # ledger status says it on stdout
        return f"exit {code} without naming {' or '.join(names)}: {err.strip()[-300:]!r}"
    return None


def test_every_command_is_covered():
    top = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    commands = set()
    for name, parser in top.choices.items():
        verbs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        commands |= {f"{name} {verb}" for verb in verbs[0].choices} if verbs else {name}
    covered = {" ".join(w for w in argv[:2] if not w.startswith("-")) for argv in BASES.values()}
    assert commands - SKIPPED == covered


@pytest.mark.parametrize("name", sorted(BASES))
def test_malformed_values_of_every_flag_and_variable_exit_2_or_3_naming_it(project, name, monkeypatch):
    base = BASES[name]
    parser = command_parser(base)
    base_env = BASE_ENV.get(name, {})
    for var, value in base_env.items():
        monkeypatch.setenv(var, value)
    project()
    code, _, err = run(base)
    assert code == BASE_EXIT.get(name, 0), f"{name}: the valid command line fails: {err}"
    assert VALUES[0] == ""
    wrong = []
    for action in value_options(parser):
        flag = action.option_strings[0] if action.option_strings else None
        for value in VALUES:
            argv = list(base)
            if flag is None:  # a positional: the word after the command's own words
                position = next(i for i, w in enumerate(argv) if i >= len(name.split()) and not w.startswith("-"))
                argv[position] = value
                names: tuple[str, ...] = (repr(value[:40])[1:-1][:30], "empty", "not valid UTF-8")
            elif flag in argv:
                argv[argv.index(flag) + 1] = value
                names = (flag,)
            else:
                argv += [flag, value]
                names = (flag,)
            project()
            why = judge(*run(argv), names, VERDICTS.get(name, ()))
            if why:
                wrong.append(f"{flag or action.dest} {value[:24]!r}: {why}")
    for var, flag in variables(name, parser).items():
        for value in VALUES[1:]:  # an empty variable is one not set
            project()
            monkeypatch.setenv(var, value)
            code, out, err = run(without(base, flag))
            monkeypatch.setenv(var, base_env[var]) if var in base_env else monkeypatch.delenv(var)
            why = judge(code, out, err, (var,), VERDICTS.get(name, ()))
            if why:
                wrong.append(f"{var}={value[:24]!r}: {why}")
    assert not wrong, f"{name}:\n" + "\n".join(wrong)
