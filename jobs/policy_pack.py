"""The policy pack, made ready for the Pulumi CLI wherever smtp-egress is installed.

The pack ships as package data beside :mod:`smtp_egress.checks` (``policy_pack/__main__.py`` and
``PulumiPolicy.yaml``). Its ``PulumiPolicy.yaml`` names the Python that runs it as the checkout's virtual
environment (``runtime.options.virtualenv: ../../.venv``), which is right for ``pulumi preview --policy-pack
checks/policy_pack`` in the repository and wrong everywhere else: in an installed wheel that path points into
site-packages' parent, and the package folder may be read-only (the task image's root filesystem is).
:func:`write_policy_pack` writes a copy whose ``virtualenv`` is the environment of the interpreter running
this code (``sys.prefix``), where smtp_egress and pulumi_policy are installed; outside a virtual environment
it leaves the option out and Pulumi runs ``python3`` from PATH.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

PACK_FILES = ("__main__.py",)  # copied as they are; PulumiPolicy.yaml is rewritten
HEADER = (
    "# Written by smtp_egress.jobs.policy_pack for the Python environment that wrote it (its virtualenv);\n"
    "# the reviewed source is smtp_egress/checks/policy_pack/PulumiPolicy.yaml.\n"
)


def shipped_pack() -> Path:
    """The policy pack as shipped (package data beside :mod:`smtp_egress.checks`)."""
    from smtp_egress import checks

    return Path(checks.__file__).resolve().parent / "policy_pack"


def running_environment() -> Path | None:
    """The virtual environment of the running interpreter, or None when it runs outside one."""
    return Path(sys.prefix) if sys.prefix != sys.base_prefix else None


def pack_settings(shipped: dict[str, Any], environment: Path | None) -> dict[str, Any]:
    """The shipped PulumiPolicy.yaml's settings with ``runtime.options.virtualenv`` set to ``environment``."""
    settings = dict(shipped)
    runtime = dict(settings.get("runtime") or {})
    options = {k: v for k, v in (runtime.get("options") or {}).items() if k != "virtualenv"}
    if environment is not None:
        options["virtualenv"] = str(environment)
    runtime["options"] = options
    settings["runtime"] = runtime
    return settings


def write_policy_pack(into: Path, environment: Path | None = None) -> Path:
    """Write the pack into ``into/policy_pack`` (created) for ``environment`` (default: the running one's)
    and return that folder, the argument of ``pulumi up --policy-pack``."""
    import yaml

    source = shipped_pack()
    pack = into / "policy_pack"
    pack.mkdir(parents=True, exist_ok=True)
    for name in PACK_FILES:
        shutil.copyfile(source / name, pack / name)
    shipped = yaml.safe_load((source / "PulumiPolicy.yaml").read_text(encoding="utf-8"))
    settings = pack_settings(shipped, environment if environment is not None else running_environment())
    text = HEADER + yaml.safe_dump(settings, sort_keys=False, default_flow_style=False)
    (pack / "PulumiPolicy.yaml").write_text(text, encoding="utf-8")
    return pack
