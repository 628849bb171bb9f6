"""smtp-egress: the ``smtp_egress`` package. Its own modules (the folder egress/) are the domain: the IP
plan, the date rules, the ledger, the published document, notices, allowlists and the report.

The other folders of the repository are its subpackages: ``smtp_egress.checks``, ``smtp_egress.components``,
``smtp_egress.scripts`` (the ``egress`` command) and ``smtp_egress.stacks`` (the stack program). They import
the domain; the domain imports none of them.
"""

__version__ = "0.1.0"
