"""The workflow of ``egress smtp test``: a stored server (opened with the keyring) or one given on the command line
(its settings checked by the same rules as a saved one), then the probe (:mod:`smtp_egress.smtp.probe`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from smtp_egress.ledger_location import LedgerLocation
    from smtp_egress.smtp.keyring import Keyring
    from smtp_egress.smtp.model import SmtpServer
    from smtp_egress.smtp.probe import ProbeResult

AD_HOC = "command-line"  # the workspace named in a command-line server's label


@dataclasses.dataclass(frozen=True)
class TestInputs:
    stored: tuple[str, str] | None  # (workspace, server id) of a stored server, or None: ``fields``
    fields: Mapping[str, object]  # host, port, security, username, certificate (when not stored)
    password: str | None
    db_url: LedgerLocation | str | None
    keyring: Callable[[], Keyring]
    allow_private: bool = False
    mail_from: str = ""
    timeout: float = 10.0
    ca_file: str | None = None


def run_test(inputs: TestInputs) -> ProbeResult:
    from smtp_egress.smtp.model import Secret, SmtpServer
    from smtp_egress.smtp.probe import probe
    from smtp_egress.smtp.settings import validate

    if inputs.stored is not None:
        server = _stored(inputs)
    else:
        s = validate({**inputs.fields, "workspace_id": AD_HOC}, has_password=inputs.password is not None)
        secret = Secret(inputs.password) if inputs.password is not None else None
        server = SmtpServer(AD_HOC, s.server_id, s.host, s.port, s.security, s.username, secret, s.certificate)
    return probe(
        server,
        allow_private=inputs.allow_private,
        mail_from=inputs.mail_from,
        timeout=inputs.timeout,
        ca_file=inputs.ca_file,
    )


def _stored(inputs: TestInputs) -> SmtpServer:
    from smtp_egress.ledger import Ledger
    from smtp_egress.masking import excerpt
    from smtp_egress.smtp.store import UnknownServer, list_servers, load_servers

    assert inputs.stored is not None and inputs.db_url is not None
    workspace, server_id = inputs.stored
    ledger = Ledger(inputs.db_url)
    try:
        listed = [s for s in list_servers(ledger, workspace) if s.settings.server_id == server_id]
        if not listed:
            raise UnknownServer(
                f"workspace {excerpt(workspace, 60)} has no server {excerpt(server_id, 80)} (egress smtp list)"
            )
        keyring = inputs.keyring() if listed[0].has_password else None
        (server,) = load_servers(ledger, workspace, keyring, server_id)
        return server
    finally:
        ledger.close()
