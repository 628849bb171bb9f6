"""The delivery worker's systemd units, as the launch template's cloud-init writes them, for the worker AMI.

The units are part of the workers' cloud-init document (``templates/worker-user-data.yaml.j2``, rendered by
:func:`smtp_egress.components.worker_host.render_user_data`); the stack's values (queue URL, archive bucket,
region) are in the configuration file the worker unit reads, not in the units. The AMI build
(``packer/install-worker.sh``) runs ``python -m smtp_egress.components.worker_unit [ROOT]``: it writes the worker
unit, the firewall unit it requires and the unit its ``OnFailure=`` starts under ROOT (default ``/``) and prints
the worker unit's path, so that the build can check it with ``systemd-analyze verify`` against the AMI's own
systemd. They stay disabled: at boot cloud-init writes them again with the configuration and enables them.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from .worker_host import render_user_data

PLACEHOLDERS: dict[str, Any] = {
    "region": "unset",
    "queue": "set-at-boot-by-cloud-init",
    "archive": "s3://set-at-boot-by-cloud-init/archive",
    "vpc_cidr": "10.0.0.0/16",
}


UNIT_PATH = "/etc/systemd/system/smtp-egress-worker.service"
FIREWALL_UNIT_PATH = "/etc/systemd/system/smtp-egress-firewall.service"  # the worker's unit requires it
UNHEALTHY_UNIT_PATH = "/etc/systemd/system/smtp-egress-worker-unhealthy.service"  # its OnFailure=


def worker_unit(user_data: str, path: str = UNIT_PATH) -> tuple[str, str]:
    """(path, content) of the worker's systemd unit (or of the file at ``path``) in a cloud-init document."""
    document = yaml.safe_load(user_data)
    (unit,) = [f for f in document["write_files"] if f["path"] == path]
    return str(unit["path"]), str(unit["content"])


def write_unit(root: Path) -> Path:
    """Write the worker's unit, the firewall unit it requires and its OnFailure= unit under ``root``, mode 0644 as
    cloud-init writes them; return the worker unit's path."""
    user_data = render_user_data(**PLACEHOLDERS)
    written = []
    for wanted in (FIREWALL_UNIT_PATH, UNHEALTHY_UNIT_PATH, UNIT_PATH):
        path, content = worker_unit(user_data, wanted)
        target = root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content, encoding="utf-8")
        target.chmod(0o644)
        written.append(target)
    return written[-1]


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    print(write_unit(Path(args[0] if args else "/")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
