"""checks/hosts against a worker host built here by the project's own steps, not against a description of one:
scripts/dev/worker-host debootstraps Debian bookworm (cached), installs the wheel into /opt/smtp-egress, boots
it with systemd-nspawn in its own network namespace, and applies the launch template's cloud-init document
(write_files, runcmd) with smtp_egress.components.worker_provision. The same document as on EC2, with the
embedded queue and a local archive instead of SQS and S3 (the container has no network)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from smtp_egress.components.worker_host import render_user_data

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "dev" / "worker-host"
CHECKS = ROOT / "checks" / "hosts"
NEEDED = ("debootstrap", "systemd-nspawn", "nsenter", "nft")

pytestmark = pytest.mark.timeout(1800)  # the first run debootstraps and downloads the dependencies (then cached)


WATCHDOG_S = 10  # shorter than production's 30 s, so that the hung worker below is restarted sooner
LEDGER = "sqlite:////var/lib/smtp-egress/ledger.db"
# What stands in for the production ledger (a PostgreSQL server the workers reach): a SQLite ledger the worker
# user owns, created before the worker is enabled. Only this test host needs it; the runcmd is otherwise the
# template's own.
SEED = [
    ["install", "-d", "-o", "smtp-egress", "-g", "smtp-egress", "-m", "0700", "/var/lib/smtp-egress"],
    ["runuser", "-u", "smtp-egress", "--", "/opt/smtp-egress/bin/egress", "ledger", "init", "--db", LEDGER],
]


def user_data(broken: bool = False) -> str:
    """The stack's cloud-init document for this host (``broken``: :func:`mutated`), with the ledger seeded."""
    text = render_user_data(
        region="ci",
        queue="/var/lib/smtp-egress/queue",
        archive="/var/lib/smtp-egress/archive",
        vpc_cidr="10.200.0.0/24",
        ledger_url=LEDGER,
        smtp_kms_key="arn:aws:kms:us-east-1:111122223333:key/ci-host",  # never called: no server has a password
        watchdog_seconds=WATCHDOG_S,
    )
    document = yaml.safe_load(mutated(text) if broken else text)
    enable = ["systemctl", "enable", "--now", "smtp-egress-worker.service"]
    at = document["runcmd"].index(enable)
    document["runcmd"][at:at] = SEED
    return "#cloud-config\n" + yaml.safe_dump(document, sort_keys=False, width=1000)


def mutated(text: str) -> str:
    """The template with a config file left world-readable and the port-25 rule missing."""
    broken = text.replace(
        '[chmod, "0640", /etc/smtp-egress/worker.env]', '[chmod, "0644", /etc/smtp-egress/worker.env]'
    )
    broken = "".join(line for line in broken.splitlines(keepends=True) if "tcp dport 25" not in line)
    assert broken.count("0644") > text.count("0644") and "tcp dport 25" not in broken
    return broken


def run(*args: str, timeout: float) -> str:
    proc = subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"worker-host {args[0]}: {proc.stdout}{proc.stderr}"
    return proc.stdout


def boot_host(tmp: Path, wheel: Path, document: str) -> Iterator[str]:
    """Build, boot and provision a host; yield its init's PID; power it off."""
    (tmp / "user-data.yaml").write_text(document)
    root = tmp / "root"
    run("build", str(root), str(wheel), str(tmp / "user-data.yaml"), timeout=1500)
    nspawn, init = run("boot", str(root), f"egress-{uuid.uuid4().hex[:8]}", timeout=180).split()
    try:
        run("provision", init, timeout=120)
        yield init
    finally:
        run("stop", nspawn, timeout=90)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def needs_tools() -> None:
    missing = [tool for tool in NEEDED if not shutil.which(tool, path=os.environ["PATH"] + ":/usr/sbin:/sbin")]
    if os.geteuid() != 0 or missing:
        if os.environ.get("CI"):
            pytest.fail(f"the worker host needs root and {missing} (scripts/dev/test installs them)")
        pytest.skip(f"needs root and {missing}")


@pytest.fixture(scope="module")
def host_pid(needs_tools: None, wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from boot_host(tmp_path_factory.mktemp("worker-host"), wheel, user_data())


def checks(pid: str) -> subprocess.CompletedProcess[str]:
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "-rfEX",
        str(CHECKS),
        f"--hosts=nsenter://{pid}",
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=ROOT)


def test_the_host_checks_pass_on_the_host_the_provisioning_builds(host_pid: str) -> None:
    proc = checks(host_pid)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.splitlines()[-1].startswith("10 passed"), proc.stdout


def test_a_wrong_mode_or_a_missing_rule_fails_the_checks(
    needs_tools: None, wheel: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    for pid in boot_host(tmp_path_factory.mktemp("broken-host"), wheel, user_data(broken=True)):
        proc = checks(pid)
        failed = sorted(
            line.split("::")[1].split("[")[0] for line in proc.stdout.splitlines() if line.startswith("FAILED")
        )
        assert proc.returncode == 1, proc.stdout
        assert failed == [
            "test_the_config_is_readable_by_root_and_the_worker_only",
            "test_the_firewall_is_enabled_and_loaded",
        ]


def worker_state(pid: str) -> dict[str, str]:
    shown = subprocess.run(
        ["nsenter", "-t", pid, "-m", "-u", "-i", "-n", "-p", "--", "systemctl", "show", "-p", "MainPID", "-p",
         "NRestarts", "-p", "SubState", "-p", "Result", "smtp-egress-worker"],
        capture_output=True, text=True, timeout=30, check=True,
    ).stdout  # fmt: skip
    return dict(line.split("=", 1) for line in shown.splitlines() if "=" in line)


def test_a_hung_worker_is_killed_by_the_watchdog_and_restarted(host_pid: str) -> None:
    """SIGSTOP the worker's main process inside the host (a hang: no pings, no progress): systemd's watchdog kills
    it after WatchdogSec and Restart=always starts a new one, which is READY and feeds the watchdog again. Runs
    after the checks above (they want NRestarts 0)."""
    before = worker_state(host_pid)
    assert before["SubState"] == "running" and before["MainPID"] != "0", before
    # the MainPID as the host's own PID namespace numbers it: signal it from inside
    enter = ["nsenter", "-t", host_pid, "-m", "-u", "-i", "-n", "-p", "--"]
    subprocess.run([*enter, "kill", "-STOP", before["MainPID"]], check=True, timeout=30)
    deadline = time.monotonic() + WATCHDOG_S + 10 + 60  # the watchdog, RestartSec=10, a start
    now = before
    while time.monotonic() < deadline:
        now = worker_state(host_pid)
        if now["MainPID"] not in ("0", before["MainPID"]) and now["SubState"] == "running":
            break
        time.sleep(1)
    assert now["MainPID"] not in ("0", before["MainPID"]) and now["SubState"] == "running", now
    assert int(now["NRestarts"]) == int(before["NRestarts"]) + 1, now
    journal = subprocess.run(
        [*enter, "journalctl", "-u", "smtp-egress-worker", "--no-pager", "-o", "cat"],
        capture_output=True, text=True, timeout=30,
    ).stdout  # fmt: skip
    assert "Watchdog timeout" in journal, journal[-2000:]
    time.sleep(WATCHDOG_S * 1.5)  # the new worker keeps the watchdog fed
    assert worker_state(host_pid)["MainPID"] == now["MainPID"]
