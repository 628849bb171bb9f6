"""The provisioner applies a cloud-init document's write_files and runcmd as cloud-init does (real files, a real
shell); the booted host it provisions is checked in tests/checks/test_worker_host_checks.py."""

from __future__ import annotations

import subprocess

import pytest

from smtp_egress.components.worker_provision import ProvisionError, apply, runcmd_script, write_files


def test_runcmd_is_one_script_words_quoted_strings_as_lines():
    script = runcmd_script([["echo", "a b", "$HOME"], "test -n x || exit 1", ["true"]])
    assert script == "#!/bin/sh\necho 'a b' '$HOME'\ntest -n x || exit 1\ntrue\n"


def test_an_exit_in_a_string_stops_the_script_before_what_follows(tmp_path):
    marker = tmp_path / "enabled"
    proc = subprocess.run(["sh", "-c", runcmd_script(["exit 1", ["touch", str(marker)]])])
    assert proc.returncode == 1 and not marker.exists()


def test_files_get_their_content_owner_and_mode(tmp_path):
    (path,) = write_files(
        [{"path": "/etc/x/a.env", "owner": "root:root", "permissions": "0640", "content": "A=1\n"}], tmp_path
    )
    assert path == tmp_path / "etc/x/a.env" and path.read_text() == "A=1\n"
    assert oct(path.stat().st_mode)[-3:] == "640" and (path.stat().st_uid, path.stat().st_gid) == (0, 0)


@pytest.mark.parametrize("text", ["write_files: []\n", "#cloud-config\npackages: [curl]\n"])
def test_what_it_cannot_apply_faithfully_is_refused(text, tmp_path):
    with pytest.raises(ProvisionError):
        apply(text, tmp_path)
