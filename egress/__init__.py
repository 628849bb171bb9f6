"""smtp-egress domain: the IP plan, the date rules, the ledger and the published document.

Every other part (checks, scripts, components, stacks) imports these; nothing here imports them.
"""

__version__ = "0.1.0"
