"""The worker AMI's Packer template (packer/), checked with Debian's ``packer`` (1.6), offline.

What ``packer validate`` checks here, without AWS credentials or network: the HCL and its variables, the
amazon-ebs builder's configuration (required settings, the block device's volume type, IOPS and throughput),
and that every file a provisioner uploads exists (the wheel, constraints.txt, install-worker.sh). What it
cannot check: that the source AMI filter finds an image, the region, the account's permissions, or that the
build succeeds; ``packer build`` does that in an AWS account. The amazon builder is built into Packer 1.6 (no
plugin to download; ``scripts/dev/test`` installs the package when it is missing). What the image carries is
proved elsewhere: the wheel by tests/test_installed_wheel.py, the unit below with systemd's own checker.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import hcl2
import pytest

from smtp_egress.components.worker_host import render_user_data
from smtp_egress.components.worker_unit import (
    FIREWALL_UNIT_PATH,
    PLACEHOLDERS,
    UNHEALTHY_UNIT_PATH,
    worker_unit,
    write_unit,
)

ROOT = Path(__file__).resolve().parents[1]
PACKER = ROOT / "packer"
PREFIX = "/opt/smtp-egress"


def tool(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin:/sbin:/bin")
    if found is None:
        message = f"{name} is not installed (Debian's package; scripts/dev/test installs it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found


def validate(template: Path, wheel: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("packer"), "validate", "-var", "aws_region=us-east-1", "-var", f"wheel={wheel}", str(template)],
        cwd=cwd,
        env={**os.environ, "CHECKPOINT_DISABLE": "1", "PACKER_NO_COLOR": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_packer_validate_accepts_the_template_from_any_directory(wheel, tmp_path):
    proc = validate(PACKER, wheel, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_packer_validate_checks_the_builder_and_the_uploads(wheel, tmp_path):
    """Not a syntax check only: a missing builder setting and a missing wheel are refused."""
    broken = tmp_path / "packer"
    shutil.copytree(PACKER, broken)
    template = broken / "worker.pkr.hcl"
    template.write_text(re.sub(r'\n\s*ssh_username\s*=\s*"ec2-user"', "", template.read_text()))
    shutil.copy(ROOT / "constraints.txt", tmp_path / "constraints.txt")
    proc = validate(broken, wheel, tmp_path)
    assert proc.returncode != 0 and "ssh_username must be specified" in proc.stdout + proc.stderr
    proc = validate(PACKER, tmp_path / "missing.whl", tmp_path)
    assert proc.returncode != 0 and "missing.whl" in proc.stdout + proc.stderr


def plain(value: Any) -> Any:
    """python-hcl2's tree with the quotes it keeps around strings and block labels removed."""
    if isinstance(value, dict):
        return {plain(k): plain(v) for k, v in value.items() if k not in ("__is_block__", "__comments__")}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def test_the_template_installs_the_wheel_with_the_script_and_the_constraints():
    parsed = plain(hcl2.loads((PACKER / "worker.pkr.hcl").read_text()))
    (build,) = parsed["build"]
    provisioners = [(kind, body) for p in build["provisioner"] for kind, body in p.items()]
    uploads = [body["source"] for kind, body in provisioners if kind == "file"]
    assert uploads == ["${var.wheel}", "${local.constraints}", "${path.root}/install-worker.sh"]
    commands = " ".join(c for kind, body in provisioners if kind == "shell" for c in body["inline"])
    assert "sudo sh ${local.stage}/install-worker.sh ${local.stage}/${basename(var.wheel)}" in commands
    (source,) = parsed["source"]
    ebs = source["amazon-ebs"]["worker"]
    assert ebs["launch_block_device_mappings"][0]["device_name"] == "/dev/xvda"  # the launch template's root device
    assert ebs["launch_block_device_mappings"][0]["encrypted"] is True


def test_the_install_script_is_valid_shell_and_installs_where_the_unit_runs():
    script = PACKER / "install-worker.sh"
    for shell in ("sh", "bash"):
        proc = subprocess.run([shell, "-n", str(script)], capture_output=True, text=True, timeout=30)
        assert proc.returncode == 0, proc.stderr
    text = script.read_text()
    assert f"prefix={PREFIX}\n" in text
    assert '"$prefix/bin/pip" install --no-cache-dir --disable-pip-version-check --constraint "$constraints"' in text
    assert "-m smtp_egress.components.worker_unit" in text and 'systemd-analyze verify "$unit"' in text
    user_data = render_user_data(
        region="us", queue="https://sqs.us-east-1.amazonaws.com/1/q", archive="s3://bkt/archive", vpc_cidr="10.1.0.0/16"
    )
    assert f"test -x {PREFIX}/bin/egress" in user_data  # cloud-init's check of what the AMI carries
    _, unit = worker_unit(user_data)
    assert re.search(rf"^ExecStart={re.escape(PREFIX)}/bin/egress worker run$", unit, re.MULTILINE)


def test_the_ami_carries_the_launch_templates_unit_and_systemd_accepts_it(tmp_path):
    """The unit the AMI build writes is the one cloud-init writes, values aside; ``systemd-analyze verify``
    (the check the AMI build runs) accepts it, with ExecStart pointed at this environment's egress."""
    written = write_unit(tmp_path)
    path, unit = worker_unit(render_user_data(**PLACEHOLDERS))
    assert written == tmp_path / path.lstrip("/") and written.read_text() == unit
    assert path == "/etc/systemd/system/smtp-egress-worker.service" and oct(written.stat().st_mode)[-3:] == "644"
    assert (tmp_path / FIREWALL_UNIT_PATH.lstrip("/")).read_text() == worker_unit(
        render_user_data(**PLACEHOLDERS), FIREWALL_UNIT_PATH
    )[1]
    for needed in (FIREWALL_UNIT_PATH, UNHEALTHY_UNIT_PATH):  # beside the unit, where verify looks for them
        (tmp_path / Path(needed).name).write_text((tmp_path / needed.lstrip("/")).read_text())
    here = tmp_path / "smtp-egress-worker.service"
    here.write_text(unit.replace(f"{PREFIX}/bin/egress", str(Path(sys.executable).parent / "egress")))
    proc = subprocess.run([tool("systemd-analyze"), "verify", str(here)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and not proc.stderr.strip(), proc.stdout + proc.stderr
