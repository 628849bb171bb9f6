"""Adds the ``nsenter://PID`` host kind to testinfra's ``--hosts``: a host running in namespaces of this machine
(a ``systemd-nspawn -b`` container). Every command runs through ``nsenter`` into the mount, UTS, IPC, network and
PID namespaces of process PID (the container's init), as root. testinfra has no such backend.

checks/hosts is run from a checkout with pytest (like scripts/dev), not installed with the package."""

from __future__ import annotations

import shlex
import sys
from typing import Any

import testinfra.backend
from testinfra.backend import base
from testinfra.backend.local import LocalBackend

NAME = "nsenter"


class NsenterBackend(LocalBackend):
    NAME = NAME

    def __init__(self, hostname: str, *args: Any, **kwargs: Any) -> None:
        if not hostname.isdigit():
            raise ValueError(f"nsenter://{hostname!r}: give the process ID of the host's init, e.g. nsenter://4242")
        self.pid = hostname
        super().__init__(*args, **kwargs)

    def get_pytest_id(self) -> str:
        return f"nsenter://{self.pid}"

    def run(self, command: str, *args: str, **kwargs: Any) -> base.CommandResult:
        inner = self.get_command(command, *args)
        wrapped = f"nsenter -t {self.pid} -m -u -i -n -p -- sh -c {shlex.quote(inner)}"
        return self.run_local(wrapped)


MODULE = "smtp_egress_nsenter_backend"  # a stable name for testinfra's import of the backend class


def pytest_configure(config: Any) -> None:
    sys.modules.setdefault(MODULE, sys.modules[__name__])
    testinfra.backend.BACKENDS.setdefault(NAME, f"{MODULE}.NsenterBackend")
