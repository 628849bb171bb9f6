"""The wheel is what ships: installed in a clean virtual environment outside the checkout, it runs what a
deployment runs, from another directory.

How the environment is made (the choice, and why it is honest):

- ``python -m venv`` (with pip from ensurepip, offline) in a temporary folder outside the checkout, based on
  the system interpreter, not on the test runner's environment; ``pip install --no-index --no-deps`` of the
  wheel built from the shipped folders (the session's ``wheel`` fixture). So ``smtp_egress``, its data
  files and the ``egress`` console script come from the wheel alone.
- Its dependencies are not downloaded again: that would fetch ~450 MB (pulumi-aws) from the package index on
  every run, and the suite must run offline. A ``.pth`` file in the new environment appends the test runner's
  site-packages (where ``constraints.txt`` installed the pinned versions a release is built against) to
  ``sys.path``, after the environment's own site-packages. The runner's own smtp_egress there is an editable
  install, whose import hook only a ``.pth`` file inside a site directory activates; a folder added by a
  ``.pth`` line is not one, so that hook never runs and ``smtp_egress`` can only be imported from the wheel.
  :func:`test_smtp_egress_comes_from_the_wheel_alone` checks exactly that, for every module loaded.
- Every command runs with the checkout neither the working directory nor on ``sys.path`` (no PYTHONPATH, no
  EGRESS_* or PIP_* variables), on copies of the example data in the other directory.

What a real install adds is the resolution of the dependencies from pyproject.toml's ranges: the task image
(Dockerfile) and the worker AMI (packer/) install the wheel with ``--constraint constraints.txt``, the versions
this suite runs with. No Docker engine runs here: this test is what proves the image's content.
"""

from __future__ import annotations

import dataclasses
import json
import os
import select
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
import yaml

CHECKOUT = Path(__file__).resolve().parents[1]
STACK_DATA = CHECKOUT / "tests" / "stacks" / "data"  # the golden plans' inputs (tests/stacks/test_synth.py)
GOLDEN = CHECKOUT / "tests" / "golden"
TODAY = "2026-11-26"
PUBLISHED = {"us": "published-us-announced.json", "eu": "published-eu.json"}
# Modules run by another program, not imported: the stack program (Pulumi) and the migration scripts (Alembic).
RUN_BY_OTHERS = ("smtp_egress.stacks.__main__", "smtp_egress.migrations.env", "smtp_egress.migrations.versions.")
SCRUBBED = ("EGRESS_", "PYTHON", "PIP_", "VIRTUAL_ENV", "PULUMI_")


@dataclasses.dataclass(frozen=True)
class Installed:
    venv: Path  # the clean virtual environment
    site: Path  # its site-packages
    home: Path  # the working directory: not the checkout, holding copies of the example data

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(SCRUBBED)}
        env["PATH"] = f"{self.venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        env["PIP_CONFIG_FILE"] = os.devnull
        return env

    def run(self, *args: str, timeout: int = 300) -> subprocess.CompletedProcess[str]:
        """``args[0]`` from the environment's bin/ (egress, python), in ``home``."""
        exe = self.venv / "bin" / args[0]
        return subprocess.run(
            [str(exe), *args[1:]], cwd=self.home, env=self.env(), capture_output=True, text=True, timeout=timeout
        )

    def ok(self, *args: str) -> str:
        proc = self.run(*args)
        assert proc.returncode == 0, f"{args}: exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        return proc.stdout


def runner_dependency_dirs() -> list[str]:
    paths = sysconfig.get_paths()
    return sorted({paths["purelib"], paths["platlib"]})


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Installed:
    base = tmp_path_factory.mktemp("installed")
    assert CHECKOUT not in base.parents, f"the temporary folder {base} must be outside the checkout"
    venv = base / "venv"
    made = subprocess.run([sys.executable, "-m", "venv", str(venv)], capture_output=True, text=True, timeout=300)
    assert made.returncode == 0, made.stderr
    home = base / "elsewhere"
    home.mkdir()
    env = Installed(venv, Path(), home).env()
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-index", "--no-deps"]
    proc = subprocess.run([*pip, str(wheel)], env=env, cwd=home, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        env=env,
        cwd=home,
        capture_output=True,
        text=True,
        timeout=60,
    )
    site = Path(where.stdout.strip())
    assert site.is_relative_to(venv), where.stderr
    (site / "zz_test_runner_dependencies.pth").write_text("\n".join(runner_dependency_dirs()) + "\n")
    # The example data a person would have: the plan, the examples, the golden plans' inputs, a project file.
    shutil.copytree(CHECKOUT / "examples", home / "examples")
    (home / "stacks").mkdir()
    shutil.copy(CHECKOUT / "stacks" / "egress-ips.yaml", home / "stacks" / "egress-ips.yaml")
    shutil.copy(CHECKOUT / "Pulumi.yaml", home / "Pulumi.yaml")
    shutil.copytree(STACK_DATA, home / "data")
    return Installed(venv, site, home)


def test_smtp_egress_comes_from_the_wheel_alone(installed):
    probe = f"""
import importlib, json, pkgutil, sys, smtp_egress
from importlib.metadata import distribution
for m in pkgutil.walk_packages(smtp_egress.__path__, "smtp_egress."):
    if not m.name.startswith({RUN_BY_OTHERS!r}):
        importlib.import_module(m.name)
files = {{n: getattr(m, "__file__", None) for n, m in sys.modules.items() if n.split(".")[0] == "smtp_egress"}}
dist = str(distribution("smtp-egress").locate_file(""))
print(json.dumps({{"files": files, "path": sys.path, "dist": dist}}))
"""
    seen = json.loads(installed.ok("python", "-c", probe))
    assert len(seen["files"]) > 100, "every module of the package was imported"
    outside = {n: f for n, f in seen["files"].items() if not f or not Path(f).is_relative_to(installed.site)}
    assert not outside, f"modules not loaded from the wheel's install: {outside}"
    assert Path(seen["dist"]) == installed.site
    dependency_dirs = set(runner_dependency_dirs())
    from_checkout = [p for p in seen["path"] if p and Path(p).is_relative_to(CHECKOUT) and p not in dependency_dirs]
    assert not from_checkout, f"the checkout is on sys.path: {from_checkout}"


def test_help_lists_the_commands(installed):
    out = installed.ok("egress", "--help")
    for command in ("validate", "synth", "notify", "publish", "deploy", "daily", "status"):
        assert command in out


def test_validate_checks_the_plan_in_the_working_directory(installed):
    out = installed.ok("egress", "validate", "--json")
    assert json.loads(out)["ok"] is True


@pytest.mark.parametrize("stack", ["us", "eu"])
def test_synth_writes_the_golden_plan(installed, stack):
    out = installed.home / f"plan-{stack}.json"
    installed.ok(
        "egress",
        "synth",
        "--stack",
        stack,
        "--today",
        TODAY,
        "--plan",
        "data/egress-ips.yaml",
        "--published",
        f"data/{PUBLISHED[stack]}",
        "--out",
        str(out),
    )
    assert out.read_bytes() == (GOLDEN / f"synth-{stack}.json").read_bytes()


def test_the_quick_start_notifies_then_publishes(installed):
    """README's quick start on a simulation ledger (in the working directory's .egress/), then egress publish."""
    installed.ok("egress", "ledger", "init", "--simulation")
    installed.ok("egress", "workspaces", "import", "examples/workspaces.csv")
    installed.ok("egress", "notify", "--region", "us", "--published", "examples/published-us.json", "--at", TODAY)
    outbox = installed.home / ".egress" / "outbox" / "new"
    notices = sorted(outbox.iterdir())
    assert len(notices) == 3 and all("[SIMULATION]" in n.read_text() for n in notices)
    document = json.loads(installed.ok("egress", "publish", "--region", "us", "--at", TODAY))
    assert document["simulated"] is True and "198.51.100.10" in document["ip_addresses"]
    installed.ok("egress", "publish", "--static-dir", "site", "--base-url", "https://ips.example.com", "--at", TODAY)
    assert json.loads((installed.home / "site" / "us" / "v1" / "info" / "ip_addresses").read_text()) == document


def test_the_policy_pack_runs_on_the_installed_environment(installed):
    """The pack `egress deploy` gives `pulumi up`, written by the installed package, started as Pulumi starts a
    Python pack (its virtualenv's python, unbuffered, on the pack's __main__.py in the pack's folder; it prints
    the port of its gRPC server): it serves every rule."""
    from google.protobuf import empty_pb2
    from pulumi.runtime.proto import analyzer_pb2_grpc

    from smtp_egress.checks.policies import RESOURCE_RULES, STACK_RULES

    write = "import sys; from pathlib import Path; from smtp_egress.jobs.policy_pack import write_policy_pack as w; "
    pack = installed.home / installed.ok("python", "-c", write + "print(w(Path(sys.argv[1])))", "pack").strip()
    assert pack == installed.home / "pack" / "policy_pack"
    runtime = yaml.safe_load((pack / "PulumiPolicy.yaml").read_text())["runtime"]
    assert runtime == {"name": "python", "options": {"virtualenv": str(installed.venv)}}
    python = Path(runtime["options"]["virtualenv"]) / "bin" / "python"
    proc = subprocess.Popen(
        [str(python), "-u", "__main__.py"],
        cwd=pack,
        env=installed.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert select.select([proc.stdout], [], [], 60)[0], "the pack printed no port within 60 s"
        port = int(proc.stdout.readline().decode().strip() or 0)
        assert port, proc.stderr.read().decode() if proc.poll() is not None else "no port printed"
        import grpc

        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            info = analyzer_pb2_grpc.AnalyzerStub(channel).GetAnalyzerInfo(empty_pb2.Empty(), timeout=30)
        assert {p.name for p in info.policies} == {*RESOURCE_RULES, *STACK_RULES}
    finally:
        proc.kill()
        proc.wait(timeout=10)
