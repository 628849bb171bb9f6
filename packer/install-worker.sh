#!/bin/sh
# Run as root on the AMI build instance by packer/worker.pkr.hcl:
#   install-worker.sh WHEEL CONSTRAINTS
# 1. Python 3.11 (Amazon Linux 2023's python3 is 3.9; smtp-egress needs 3.11 or later).
# 2. smtp-egress from WHEEL, with the dependency versions of CONSTRAINTS, into /opt/smtp-egress (a virtual
#    environment): /opt/smtp-egress/bin/egress, the command the unit runs.
# 3. The systemd units the launch template's cloud-init expects (the worker and the firewall it requires), rendered
#    by the installed package from the same template (components/templates/worker-user-data.yaml.j2), checked with
#    `systemd-analyze verify` and left disabled: at boot cloud-init writes them again with the worker's
#    configuration (/etc/smtp-egress/worker.env) and enables them.
set -eu
wheel=$1
constraints=$2
prefix=/opt/smtp-egress
python=python3.11

if ! command -v "$python" >/dev/null 2>&1; then
  dnf install -y "$python"
fi
"$python" -m venv "$prefix"
"$prefix/bin/pip" install --no-cache-dir --disable-pip-version-check --constraint "$constraints" "$wheel"
"$prefix/bin/egress" --help >/dev/null

unit=$("$prefix/bin/python" -m smtp_egress.components.worker_unit)
systemd-analyze verify "$unit"
echo "smtp-egress: installed $("$prefix/bin/pip" show smtp-egress | sed -n 's/^Version: //p') in $prefix and $unit (disabled until boot)"
