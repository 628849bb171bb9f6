"""The wheel: one import namespace (``smtp_egress``), and everything that runs is inside it.

The wheel is built from a copy of the source folders (so nothing outside them can leak in), installed
into a folder of its own, and run from a directory that is not the checkout: ``egress synth`` then reads
the stack program and its config from the wheel and must write exactly the reviewed golden plan.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Repository folder -> where it lives in the wheel. scripts/dev, scripts/bench and checks/hosts (testinfra checks,
# run from a checkout with pytest) are tooling, not shipped.
FOLDERS = {
    "egress": "smtp_egress",
    "checks": "smtp_egress/checks",
    "components": "smtp_egress/components",
    "jobs": "smtp_egress/jobs",
    "scripts": "smtp_egress/scripts",
    "stacks": "smtp_egress/stacks",
    "synth": "smtp_egress/synth",
}
NOT_SHIPPED = ("scripts/dev/", "scripts/bench/", "checks/hosts/")


def _source_files() -> dict[str, str]:
    """Every file of the source folders that the wheel must carry: repository path -> path in the wheel."""
    out = {}
    for folder, target in FOLDERS.items():
        for path in sorted((ROOT / folder).rglob("*")):
            rel = path.relative_to(ROOT).as_posix()
            if path.is_dir() or "__pycache__" in rel or rel.endswith(".pyc") or rel.startswith(NOT_SHIPPED):
                continue
            out[rel] = f"{target}/{path.relative_to(ROOT / folder).as_posix()}"
    return out


def test_the_wheel_has_one_top_level_name(wheel):
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
    top = sorted({n.split("/", 1)[0] for n in names})
    assert top == ["smtp_egress", next(t for t in top if t.endswith(".dist-info"))]
    assert top[1].startswith("smtp_egress-")


def test_the_wheel_carries_every_module_template_config_and_schema(wheel):
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        entry_points = z.read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    expected = _source_files()
    missing = sorted(f"{repo} (as {inside})" for repo, inside in expected.items() if inside not in names)
    assert not missing, f"the wheel lacks: {missing}; list the package or its data in pyproject.toml"
    for needed in (
        "smtp_egress/stacks/__main__.py",
        "smtp_egress/stacks/Pulumi.us.yaml",
        "smtp_egress/stacks/Pulumi.eu.yaml",
        "smtp_egress/schema/ip_addresses.schema.json",
        "smtp_egress/components/templates/worker-user-data.yaml.j2",
    ):
        assert needed in names
    assert "egress = smtp_egress.scripts.cli:main" in entry_points


def test_synth_from_the_installed_wheel_writes_the_golden_plan(wheel, tmp_path):
    target = tmp_path / "site"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            "--no-deps",
            "--target",
            str(target),
            str(wheel),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    data = ROOT / "tests" / "stacks" / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("EGRESS_")}
    env["PYTHONPATH"] = str(target)  # before site-packages, where the checkout's editable install lives
    where = subprocess.run(
        [sys.executable, "-c", "import smtp_egress.stacks as s; print(s.__file__)"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert where.stdout.strip() == str(target / "smtp_egress" / "stacks" / "__init__.py"), where.stderr
    out = elsewhere / "plan-us.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from smtp_egress.scripts.cli import main; sys.exit(main())",
            "synth",
            "--stack",
            "us",
            "--today",
            "2026-11-26",
            "--plan",
            str(data / "egress-ips.yaml"),
            "--published",
            str(data / "published-us-announced.json"),
            "--out",
            str(out),
        ],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert out.read_bytes() == (ROOT / "tests" / "golden" / "synth-us.json").read_bytes()
