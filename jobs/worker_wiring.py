"""The worker's production collaborators: the SMTP delivery client and the workspaces' servers from the ledger.

Both are imported lazily (only a real run needs them):

- the deliverer is :class:`smtp_egress.delivery.Deliverer` (``EGRESS_SMTP_ALLOW_PRIVATE`` lets it reach
  loopback and private addresses, for labs), with ``on_tls_seen`` pinning TLS for a server in the ledger;
- the servers come from the SMTP settings store (``load_servers(ledger, workspace_id, keyring)``, passwords
  decrypted with the keyring of ``EGRESS_SMTP_KEY_FILE`` / ``EGRESS_SMTP_KMS_KEY``), cached for
  :data:`SERVERS_TTL` seconds per workspace.

Link rewriting stays off (plain links) until a verified tracking domain source and the rewriter are wired in.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from smtp_egress.smtp.guard import ALLOW_PRIVATE_ENV

if TYPE_CHECKING:
    from smtp_egress.smtp.model import SmtpServer

    from .worker import WorkerConfig

SERVERS_TTL = 60.0


class LedgerServers:
    """A workspace's servers from the ledger, cached briefly (a job per message must not mean a query each)."""

    def __init__(self, ledger_url: Any):
        from smtp_egress.ledger import Ledger
        from smtp_egress.smtp import store

        self._store = store
        self._ledger = Ledger(ledger_url)
        from smtp_egress.smtp.keyring import keyring_from_env

        self._keyring = keyring_from_env(os.environ)
        self._cache: dict[str, tuple[float, Sequence[SmtpServer]]] = {}

    def servers(self, workspace_id: str) -> Sequence[SmtpServer]:
        hit = self._cache.get(workspace_id)
        if hit is None or time.monotonic() - hit[0] > SERVERS_TTL:
            hit = (time.monotonic(), self._store.load_servers(self._ledger, workspace_id, self._keyring))
            self._cache[workspace_id] = hit
        return hit[1]

    def tls_seen(self, server: SmtpServer) -> None:
        self._store.mark_tls_seen(self._ledger, server)
        self._cache.pop(server.workspace_id, None)


def production(config: WorkerConfig) -> dict[str, Any]:
    """The keyword arguments of :func:`smtp_egress.jobs.worker.run_worker` for a real run."""
    from smtp_egress.delivery.deliverer import Deliverer

    servers = LedgerServers(config.ledger)
    allow_private = os.environ.get(ALLOW_PRIVATE_ENV, "") == "1"
    deliverer = Deliverer(allow_private=allow_private, on_tls_seen=servers.tls_seen)
    return {"deliverer": deliverer, "servers": servers}
