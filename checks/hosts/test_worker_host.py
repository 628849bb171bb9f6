"""A delivery worker host as the DeliveryWorkers cloud-init leaves it (components/templates/worker-user-data.yaml.j2):
the worker's own user, its configuration readable only by root and that user, no secret on disk, the units
enabled, the firewall loaded. Run as root (the config file and the ruleset are root's to read): ``pytest checks/hosts --hosts=ssh://root@HOST``,
or ``--hosts='ssh://admin@HOST?sudo=true'`` for a user with sudo."""

from __future__ import annotations

import re
from typing import Any

import pytest

USER = "smtp-egress"
CONFIG = "/etc/smtp-egress/worker.env"
WORKER_UNIT = "/etc/systemd/system/smtp-egress-worker.service"
UNHEALTHY_UNIT = "/etc/systemd/system/smtp-egress-worker-unhealthy.service"
FIREWALL_UNIT = "/etc/systemd/system/smtp-egress-firewall.service"
EXEC_START = "ExecStart=/opt/smtp-egress/bin/egress worker run"
CONFIG_KEYS = {
    "EGRESS_QUEUE",
    "EGRESS_ARCHIVE",
    "EGRESS_REGION",
    "EGRESS_DB",
    "EGRESS_SMTP_KMS_KEY",
    "EGRESS_WORKER_HEALTH",
    "AWS_DEFAULT_REGION",
    "EGRESS_DB_SECRET",  # the ARN of the Secrets Manager secret holding the ledger URL, not the URL
    "EGRESS_TRACKING_KEYS_SECRET",  # the ARN of the secret holding the tracking keys
}
# What must never be on the worker's disk in its configuration or units: an SMTP or database password, a local
# key file (production uses KMS), AWS keys (the instance role provides credentials).
SECRET_PATTERNS = {
    "a password in a URL": re.compile(r"://[^/\s@:]*:[^/\s@]+@"),
    # a *_SECRET setting whose value is a Secrets Manager ARN names where the secret is: it is not one
    "a password setting": re.compile(
        r"(?i)^[A-Z_]*(PASSWORD|PASSWD|SECRET|TOKEN)[A-Z_]*=(?!arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:\S+$)"
    ),
    "an AWS access key ID": re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"),
    "an AWS secret key setting": re.compile(r"(?i)aws_secret_access_key|aws_session_token"),
    "a local SMTP key file": re.compile(r"^EGRESS_SMTP_KEY_FILE=", re.MULTILINE),
}
PRIVATE_RANGES = ("10.0.0.0/8", "100.64.0.0/10", "169.254.0.0/16", "172.16.0.0/12", "192.168.0.0/16")


def test_the_worker_has_its_own_system_user_without_login_or_home(host: Any) -> None:
    user = host.user(USER)
    assert user.exists
    assert user.uid < 1000, "a system user"
    assert user.shell in ("/usr/sbin/nologin", "/sbin/nologin", "/bin/false")
    assert user.home == "/nonexistent" and not host.file(user.home).exists


def test_the_config_is_readable_by_root_and_the_worker_only(host: Any) -> None:
    config = host.file(CONFIG)
    assert config.is_file
    assert (config.user, config.group, config.mode) == ("root", USER, 0o640)
    keys = {line.split("=", 1)[0] for line in config.content_string.splitlines() if line and line[0] != "#"}
    assert keys <= CONFIG_KEYS and {"EGRESS_QUEUE", "EGRESS_ARCHIVE"} <= keys


@pytest.mark.parametrize("path", [CONFIG, WORKER_UNIT, FIREWALL_UNIT, UNHEALTHY_UNIT])
def test_no_plaintext_secret_on_disk(host: Any, path: str) -> None:
    content = host.file(path).content_string
    found = [what for what, pattern in SECRET_PATTERNS.items() if pattern.search(content)]
    for line in content.splitlines():
        found += [what for what, pattern in SECRET_PATTERNS.items() if pattern.match(line)]
    assert not found, f"{path} holds {sorted(set(found))}"


def test_the_unit_runs_egress_worker_run_as_the_worker_with_its_config(host: Any) -> None:
    unit = host.file(WORKER_UNIT)
    assert (unit.user, unit.mode) == ("root", 0o644)
    lines = unit.content_string.splitlines()
    assert EXEC_START in lines
    assert {f"User={USER}", f"EnvironmentFile={CONFIG}", "NoNewPrivileges=yes", "ProtectSystem=strict"} <= set(lines)
    assert host.service("smtp-egress-worker").is_enabled


def test_the_firewall_is_enabled_and_loaded(host: Any) -> None:
    assert host.service("smtp-egress-firewall").is_enabled
    assert host.service("smtp-egress-firewall").is_running  # a oneshot that remains active
    ruleset = host.check_output("nft list table inet smtp_egress_worker")
    assert re.search(r"tcp dport 25 counter packets \d+ bytes \d+ reject with tcp reset", ruleset)
    assert re.search(r"ip daddr @private_v4 counter packets \d+ bytes \d+ reject", ruleset)
    assert re.search(r"ip6 daddr @private_v6 counter packets \d+ bytes \d+ reject", ruleset)
    for network in PRIVATE_RANGES:
        assert network in ruleset, network
    assert re.search(r"ip daddr 169\.254\.169\.254 tcp dport 80 meta skuid \{ 0, \d+ \} accept", ruleset)


def test_the_worker_is_running(host: Any) -> None:
    worker = host.service("smtp-egress-worker")
    assert worker.is_running
    # still running a little later: not a crash loop caught between restarts
    assert host.run("sleep 3").rc == 0 and worker.is_running
    assert host.run("systemctl show -p NRestarts --value smtp-egress-worker").stdout.strip() == "0"


def test_the_worker_runs_under_the_systemd_watchdog_and_reports_a_lasting_failure(host: Any) -> None:
    """Type=notify (it said READY=1 with its status), a watchdog it keeps feeding, no restart so far; a unit that
    keeps failing starts the one that marks the instance unhealthy in its auto-scaling group."""
    shown = host.check_output(
        "systemctl show -p Type -p NotifyAccess -p WatchdogUSec -p NRestarts -p OnFailure -p StartLimitBurst "
        "-p StatusText -p SubState smtp-egress-worker"
    )
    props = dict(line.split("=", 1) for line in shown.splitlines() if "=" in line)
    assert (props["Type"], props["NotifyAccess"], props["SubState"]) == ("notify", "main", "running"), props
    assert props["WatchdogUSec"] not in ("0", "infinity", ""), props
    assert props["NRestarts"] == "0", props
    assert props["StatusText"].startswith("consuming "), props  # READY=1 came with it
    assert "smtp-egress-worker-unhealthy.service" in props["OnFailure"].split(), props
    assert int(props["StartLimitBurst"]) > 1, props
    unhealthy = host.file(UNHEALTHY_UNIT)
    assert (unhealthy.user, unhealthy.mode) == ("root", 0o644)
    assert "ExecStart=/opt/smtp-egress/bin/egress worker report-unhealthy" in unhealthy.content_string.splitlines()
