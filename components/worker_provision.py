"""Apply a worker's cloud-init document the way cloud-init does: ``write_files``, then ``runcmd``.

The launch template's user data is applied by cloud-init on EC2. Where cloud-init does not run (the CI's worker
host, a lab machine), ``python -m smtp_egress.components.worker_provision USER_DATA`` does the same two steps,
as root on the booted host: each file written with its owner and mode (parent folders created 0755, as
cloud-init does), then the ``runcmd`` list run as one ``sh`` script (a list item is a command quoted word by
word, a string is a line of shell), so the script's ``exit 1`` stops it exactly as it stops cloud-init's.
Only the keys the worker's document uses are accepted: another key is an error, not something skipped.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

KNOWN_KEYS = {"write_files", "runcmd"}


class ProvisionError(Exception):
    """The document is not one this provisioner can apply faithfully."""


def runcmd_script(runcmd: Sequence[Any]) -> str:
    """cloud-init's runcmd script: one line per item."""
    lines = [item if isinstance(item, str) else shlex.join(str(word) for word in item) for item in runcmd]
    return "#!/bin/sh\n" + "\n".join(lines) + "\n"


def write_files(files: Sequence[Mapping[str, Any]], root: Path) -> list[Path]:
    written = []
    for entry in files:
        target = root / str(entry["path"]).lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
        target.write_text(str(entry.get("content", "")), encoding="utf-8")
        user, _, group = str(entry.get("owner", "root:root")).partition(":")
        os.chown(target, _uid(user), _gid(group or user))
        target.chmod(int(str(entry.get("permissions", "0644")), 8))
        written.append(target)
    return written


def _uid(name: str) -> int:
    import pwd

    return pwd.getpwnam(name).pw_uid


def _gid(name: str) -> int:
    import grp

    return grp.getgrnam(name).gr_gid


def apply(user_data: str, root: Path = Path("/")) -> int:
    """Write the files under ``root``, then run the runcmd script (on the host itself: ``root`` must be ``/``
    for commands that act on the running system); return the script's exit status."""
    document = yaml.safe_load(user_data)
    if not user_data.startswith("#cloud-config\n") or not isinstance(document, dict):
        raise ProvisionError("not a #cloud-config document")
    unknown = set(document) - KNOWN_KEYS
    if unknown:
        raise ProvisionError(f"keys this provisioner does not apply: {sorted(unknown)}")
    write_files(document.get("write_files", []), root)
    script = runcmd_script(document.get("runcmd", []))
    return subprocess.run(["sh", "-c", script, "runcmd"], check=False).returncode


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: python -m smtp_egress.components.worker_provision USER_DATA", file=sys.stderr)
        return 2
    try:
        return apply(Path(args[0]).read_text(encoding="utf-8"))
    except ProvisionError as exc:
        print(f"worker_provision: {args[0]}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
