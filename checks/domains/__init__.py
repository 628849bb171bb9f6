"""Verifying customers' tracking-domain records in DNS: lookups with a time budget, diagnoses a customer can act
on, and comparing a zone's authoritative servers.

:class:`Resolver` holds the lookup settings; :func:`check_records` checks one workspace, :func:`check_many` many.
"""

from .check import check_many, check_records
from .resolver import NoNameserver, Resolver

__all__ = ["NoNameserver", "Resolver", "check_many", "check_records"]
