"""Adds the ``nsenter://PID`` host kind to testinfra's ``--hosts`` (see :mod:`.nsenter`)."""

from smtp_egress.checks.hosts.nsenter import register

register()
