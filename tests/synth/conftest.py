"""Terraform with the real hashicorp/aws provider, offline: the provider comes from a local filesystem mirror
through a CLI configuration file written here, never from the network.

Found where the machines keep them: ``terraform`` on PATH (or /usr/local/bin), the mirror in
``EGRESS_TERRAFORM_MIRROR`` or one of :data:`MIRRORS` (a folder holding ``registry.terraform.io/hashicorp/aws``).
Neither present: the tests skip, saying so (under ``CI=true`` they fail instead, as the PostgreSQL tests do);
one without the other is a broken install and fails.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

MIRRORS = (
    "/opt/tf-plugins",
    "~/.terraform.d/plugins",
    "~/.local/share/terraform/plugins",
    "/usr/local/share/terraform/plugins",
    "/usr/share/terraform/plugins",
)
AWS = Path("registry.terraform.io/hashicorp/aws")


@dataclasses.dataclass(frozen=True)
class Diagnostic:
    severity: str
    summary: str
    detail: str
    address: str | None

    def __str__(self) -> str:
        return f"{self.severity}: {self.address}: {self.summary}: {self.detail}"


def _terraform() -> str | None:
    found = shutil.which("terraform")
    if found is None and os.access("/usr/local/bin/terraform", os.X_OK):
        found = "/usr/local/bin/terraform"
    return found


def _mirror() -> Path | None:
    candidates = [os.environ.get("EGRESS_TERRAFORM_MIRROR") or "", *MIRRORS]
    for candidate in filter(None, candidates):
        folder = Path(candidate).expanduser()
        if (folder / AWS).is_dir() and any((folder / AWS).glob("*/*/terraform-provider-aws*")):
            return folder
    return None


def _unavailable(what: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(
            f"{what}: CI must have Terraform and the hashicorp/aws provider's mirror (see tests/synth/conftest.py)"
        )
    pytest.skip(f"{what}; the provider's checks of the synth plans did not run")


class Terraform:
    """``terraform init`` once (offline), then ``validate`` any number of ``main.tf.json`` documents."""

    def __init__(self, binary: str, mirror: Path, home: Path):
        self.binary = binary
        self.home = home
        cli_config = home / "offline.tfrc"
        cli_config.write_text(
            "disable_checkpoint = true\n"
            "provider_installation {\n"
            f"  filesystem_mirror {{\n    path = {json.dumps(str(mirror))}\n"
            f'    include = ["{AWS}"]\n  }}\n'
            f'  direct {{\n    exclude = ["{AWS}"]\n  }}\n'
            "}\n"
        )
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("TF_")},
            "TF_CLI_CONFIG_FILE": str(cli_config),
            "TF_DATA_DIR": str(home / "data"),
            "TF_IN_AUTOMATION": "1",
            "CHECKPOINT_DISABLE": "1",
        }
        self.workdir = home / "work"
        self.workdir.mkdir()
        self._write({"terraform": {"required_providers": {"aws": {"source": "hashicorp/aws"}}}})
        self.run("init", "-input=false", "-backend=false")

    def run(self, *args: str, workdir: Path | None = None) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [self.binary, *args, "-no-color"],
            cwd=workdir or self.workdir,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode != 0 and args[0] != "validate":
            raise AssertionError(f"terraform {' '.join(args)} failed:\n{done.stderr}\n{done.stdout[-3000:]}")
        return done

    def _write(self, document: dict) -> None:
        (self.workdir / "main.tf.json").write_text(json.dumps(document, indent=1))

    def schema(self) -> dict:
        return json.loads(self.run("providers", "schema", "-json").stdout)

    def validate(self, document: dict) -> list[Diagnostic]:
        """Every error the provider and Terraform find in ``document`` (an empty list: it is valid)."""
        self._write(document)
        out = json.loads(self.run("validate", "-json").stdout)
        return [
            Diagnostic(d["severity"], d["summary"], d.get("detail", ""), d.get("address"))
            for d in out["diagnostics"]
            if d["severity"] == "error"
        ]

    def project(self, document: dict) -> Path:
        """A new working folder holding ``document``, initialised offline (its own state, for plan and apply)."""
        folder = Path(tempfile.mkdtemp(prefix="tf-", dir=self.home))
        (folder / "main.tf.json").write_text(json.dumps(document, indent=1))
        self.run("init", "-input=false", workdir=folder)
        return folder


@pytest.fixture(scope="session")
def terraform(tmp_path_factory) -> Iterator[Terraform]:
    binary, mirror = _terraform(), _mirror()
    if binary is None and mirror is None:  # nothing to run here: say so (fail under CI)
        _unavailable("neither terraform nor the hashicorp/aws provider's filesystem mirror is on this machine")
    if binary is None or mirror is None:
        missing = "terraform (not on PATH)" if binary is None else f"the provider's mirror (looked in {MIRRORS})"
        pytest.fail(f"{missing} is missing while the other is installed; set EGRESS_TERRAFORM_MIRROR or fix PATH")
    yield Terraform(binary, mirror, tmp_path_factory.mktemp("terraform"))


@pytest.fixture(scope="session")
def provider_schema(terraform: Terraform) -> dict:
    """``terraform providers schema -json`` of the mirrored provider (the names and checks of every attribute)."""
    return terraform.schema()


@pytest.fixture(scope="session")
def validate(terraform: Terraform) -> Callable[[dict], list[Diagnostic]]:
    return terraform.validate
