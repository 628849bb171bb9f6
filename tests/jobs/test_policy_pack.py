"""The policy pack written for the running Python (smtp_egress.jobs.policy_pack): what `egress deploy` gives
`pulumi up --policy-pack`. Started for real from an installed wheel in tests/test_installed_wheel.py."""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

from smtp_egress.jobs.policy_pack import pack_settings, running_environment, shipped_pack, write_policy_pack

SHIPPED = {"runtime": {"name": "python", "options": {"virtualenv": "../../.venv"}}, "version": "0.1.0"}


def test_the_virtualenv_option_names_the_given_environment_or_is_left_out():
    assert pack_settings(SHIPPED, Path("/opt/smtp-egress"))["runtime"] == {
        "name": "python",
        "options": {"virtualenv": "/opt/smtp-egress"},
    }
    assert pack_settings(SHIPPED, None) == {"runtime": {"name": "python", "options": {}}, "version": "0.1.0"}
    assert SHIPPED["runtime"]["options"] == {"virtualenv": "../../.venv"}, "the shipped settings are not changed"


def test_the_running_environment_is_this_virtualenv():
    assert sys.prefix != sys.base_prefix, "the suite runs in a virtual environment (.venv)"
    assert running_environment() == Path(sys.prefix)


def test_the_written_pack_is_the_shipped_one_for_this_python(tmp_path):
    pack = write_policy_pack(tmp_path)
    assert pack == tmp_path / "policy_pack"
    assert (pack / "__main__.py").read_bytes() == (shipped_pack() / "__main__.py").read_bytes()
    written = yaml.safe_load((pack / "PulumiPolicy.yaml").read_text())
    shipped = yaml.safe_load((shipped_pack() / "PulumiPolicy.yaml").read_text())
    assert written == {**shipped, "runtime": {"name": "python", "options": {"virtualenv": sys.prefix}}}
    other = write_policy_pack(tmp_path / "other", Path("/opt/smtp-egress"))
    assert yaml.safe_load((other / "PulumiPolicy.yaml").read_text())["runtime"]["options"] == {
        "virtualenv": "/opt/smtp-egress"
    }
