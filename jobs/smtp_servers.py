"""The workflows of ``egress smtp add|list|remove|import``: settings checked (rules, then the destination), the
password sealed with the configured keyring, the ledger written in one transaction.

A keyring is needed only when a password is saved; the caller builds it from ``EGRESS_SMTP_KEY_FILE`` or
``EGRESS_SMTP_KMS_KEY`` (:func:`smtp_egress.smtp.keyring.keyring_from`) and passes it in, lazily.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from smtp_egress.ledger_location import LedgerLocation
    from smtp_egress.smtp.keyring import Keyring
    from smtp_egress.smtp.settings import ServerSettings
    from smtp_egress.smtp.store import Saved, StoredServer

KeyringSource = Callable[[], "Keyring"]


@dataclasses.dataclass(frozen=True)
class AddInputs:
    fields: Mapping[str, object]  # workspace_id, host, port, security, username, certificate, campaign_types, default
    password: str | None  # read from --password-file
    db_url: LedgerLocation | str
    keyring: KeyringSource
    allow_private: bool = False


def run_add(inputs: AddInputs) -> tuple[ServerSettings, Saved]:
    from smtp_egress.ledger import Ledger
    from smtp_egress.smtp.settings import check_destination, validate
    from smtp_egress.smtp.store import save_servers

    settings = validate(inputs.fields, has_password=inputs.password is not None)
    check_destination(settings, allow_private=inputs.allow_private)
    keyring = inputs.keyring() if inputs.password is not None else None
    ledger = Ledger(inputs.db_url)
    try:
        (saved,) = save_servers(ledger, [(settings, inputs.password)], keyring, replace=False)
    finally:
        ledger.close()
    return settings, saved


def run_import(path: str, db_url: LedgerLocation | str, keyring: KeyringSource, allow_private: bool) -> list[Saved]:
    """Insert or update every server of ``path``, all or nothing (every destination checked first)."""
    from smtp_egress.ledger import Ledger
    from smtp_egress.smtp.importing import read_servers
    from smtp_egress.smtp.settings import SettingsInvalid, check_destination
    from smtp_egress.smtp.store import save_servers

    servers = read_servers(path)
    problems = []
    for settings, _ in servers:
        where = f"{path}: {settings.server_id} "
        try:
            check_destination(settings, where.__add__, allow_private=allow_private)
        except SettingsInvalid as exc:
            problems.extend(exc.problems)
    if problems:
        raise SettingsInvalid(problems, f"{path}: nothing was imported")
    ring = keyring() if any(p is not None for _, p in servers) else None
    ledger = Ledger(db_url)
    try:
        return save_servers(ledger, servers, ring, replace=True)
    finally:
        ledger.close()


def run_list(db_url: LedgerLocation | str, workspace_id: str | None) -> list[StoredServer]:
    from smtp_egress.ledger import Ledger
    from smtp_egress.smtp.store import list_servers

    ledger = Ledger(db_url)
    try:
        return list_servers(ledger, workspace_id)
    finally:
        ledger.close()


def run_remove(db_url: LedgerLocation | str, workspace_id: str, server_id: str) -> bool:
    """Remove the server; True when it was the workspace's default."""
    from smtp_egress.ledger import Ledger
    from smtp_egress.smtp.store import remove_server

    ledger = Ledger(db_url)
    try:
        return remove_server(ledger, workspace_id, server_id)
    finally:
        ledger.close()
