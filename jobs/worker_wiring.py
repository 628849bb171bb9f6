"""The worker's production collaborators: the SMTP delivery client, the workspaces' servers and verified tracking
domains from the ledger, and the link rewriter.

Everything is imported lazily (only a real run needs it):

- the deliverer is :class:`smtp_egress.delivery.Deliverer` (``EGRESS_SMTP_ALLOW_PRIVATE`` lets it reach
  loopback and private addresses, for labs), with ``on_tls_seen`` pinning TLS for a server in the ledger;
- the servers come from the SMTP settings store (``load_servers(ledger, workspace_id, keyring)``, passwords
  decrypted with the keyring of ``EGRESS_SMTP_KEY_FILE`` / ``EGRESS_SMTP_KMS_KEY``), cached for
  :data:`SERVERS_TTL` seconds per workspace;
- a workspace's tracking domain counts only while it is verified (the same rule as ``egress tracking serve``:
  :func:`smtp_egress.domains.store.verified_tracking_domains`), cached for :data:`TRACKING_TTL` seconds;
- links are rewritten (:func:`smtp_egress.tracking.rewrite.rewrite_links`, per recipient) with a
  :class:`~smtp_egress.tracking.tokens.TokenSigner` of the tracking key file (``WorkerConfig.tracking_keys``,
  from ``EGRESS_TRACKING_KEYS``), or of the keyring in a Secrets Manager secret (``WorkerConfig.tracking_keys_secret``,
  from ``EGRESS_TRACKING_KEYS_SECRET``, production). Without either nothing is rewritten (plain links) and the run
  says so once at start; a key file that cannot be read or is malformed is a
  :class:`~smtp_egress.tracking.keys.KeyFileError` before anything is delivered;
- the ledger URL may come from a secret too (``EGRESS_DB_SECRET``: :func:`ledger_from_secret`). A secret's value
  is read once at start and kept in memory only (:mod:`smtp_egress.worker.secrets`); a secret that is missing,
  denied, empty or malformed is a :class:`~smtp_egress.worker.secrets.SecretError` naming the variable and the
  secret, never the value, before anything is delivered.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from smtp_egress.smtp.guard import ALLOW_PRIVATE_ENV

if TYPE_CHECKING:
    from smtp_egress.ledger import Ledger
    from smtp_egress.smtp.model import SmtpServer
    from smtp_egress.tracking.tokens import TokenSigner

    from .worker import WorkerConfig

SERVERS_TTL = 60.0
TRACKING_TTL = 60.0
NO_KEYS = (
    "no tracking keys (neither EGRESS_TRACKING_KEYS nor EGRESS_TRACKING_KEYS_SECRET is set): links are sent as they "
    "are, untracked, on every workspace"
)
log = logging.getLogger("smtp_egress.worker")


class LedgerServers:
    """A workspace's servers from the ledger, cached briefly (a job per message must not mean a query each)."""

    def __init__(self, ledger: Ledger):
        from smtp_egress.smtp import store
        from smtp_egress.smtp.keyring import keyring_from_env

        self._store = store
        self._ledger = ledger

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


class LedgerTracking:
    """A workspace's tracking domain while it is verified (None otherwise), cached briefly per workspace."""

    def __init__(self, ledger: Ledger, ttl: float = TRACKING_TTL, clock: Callable[[], float] = time.monotonic):
        self._ledger, self._ttl, self._clock = ledger, ttl, clock
        self._cache: dict[str, tuple[float, str | None]] = {}

    def tracking_domain(self, workspace_id: str) -> str | None:
        from smtp_egress.domains.store import verified_tracking_domains

        hit = self._cache.get(workspace_id)
        if hit is None or self._clock() - hit[0] > self._ttl:
            with self._ledger.engine.connect() as conn:
                found = verified_tracking_domains(conn, workspace_id).get(workspace_id)
            hit = (self._clock(), found)
            self._cache[workspace_id] = hit
        return hit[1]


def rewrite_or_plain(
    message: bytes, *, tracking_domain: str, message_id: str, recipient: str, signer: TokenSigner
) -> bytes:
    """:func:`~smtp_egress.tracking.rewrite.rewrite_links`, or ``message`` unchanged (plain links, one log line)
    when a value cannot go in a token: a job must never be retried forever for its tracking."""
    from smtp_egress.tracking.rewrite import TrackingDomainError, rewrite_links
    from smtp_egress.tracking.tokens import TokenValueError

    try:
        return rewrite_links(
            message, tracking_domain=tracking_domain, message_id=message_id, recipient=recipient, signer=signer
        )
    except (TrackingDomainError, TokenValueError) as exc:
        log.warning("job %s: links left plain: %s", message_id, str(exc)[:200])
        return message


def tracking_signer(config: WorkerConfig) -> TokenSigner | None:
    """The signer of the tracking keyring (the secret's, else the key file's), None without one
    (:class:`KeyFileError` or :class:`~smtp_egress.worker.secrets.SecretError` for a bad one)."""
    from smtp_egress.tracking.keys import load_keyring
    from smtp_egress.tracking.tokens import TokenSigner

    if config.tracking_keys_secret:
        from smtp_egress.worker.secrets import TRACKING_KEYS_SECRET_ENV as VARIABLE
        from smtp_egress.worker.secrets import read_secret, tracking_keyring

        ref = config.tracking_keys_secret
        value = read_secret(ref, VARIABLE, region=config.region, endpoint_url=config.endpoint_url)
        return TokenSigner(tracking_keyring(value, VARIABLE, ref))
    if not config.tracking_keys:
        return None
    return TokenSigner(load_keyring(config.tracking_keys, f"from {config.tracking_keys_source}"))


def ledger_from_secret(config: WorkerConfig) -> WorkerConfig:
    """``config`` with the ledger URL its ``ledger_secret`` holds (read now, kept in memory only), or ``config``
    itself without one."""
    if not config.ledger_secret:
        return config
    import dataclasses

    from smtp_egress.ledger_location import LedgerLocation
    from smtp_egress.worker.secrets import DB_SECRET_ENV, ledger_url, read_secret

    ref = config.ledger_secret
    url = ledger_url(read_secret(ref, DB_SECRET_ENV, region=config.region, endpoint_url=config.endpoint_url),
                     DB_SECRET_ENV, ref)  # fmt: skip
    location = LedgerLocation(url, f"from the secret {ref} ({DB_SECRET_ENV})")
    return dataclasses.replace(config, ledger=location, ledger_secret=None)


def production(config: WorkerConfig, say: Callable[[str], None] | None = None) -> dict[str, Any]:
    """The keyword arguments of :func:`smtp_egress.jobs.worker.run_worker` for a real run; ``say`` gets the
    one line about links staying plain when there are no tracking keys."""
    from smtp_egress.delivery.deliverer import Deliverer
    from smtp_egress.ledger import Ledger

    signer = tracking_signer(config)  # a bad key file stops the run before anything is opened
    if signer is None and say is not None:
        say(NO_KEYS)
    ledger = Ledger(config.ledger)
    servers = LedgerServers(ledger)
    allow_private = os.environ.get(ALLOW_PRIVATE_ENV, "") == "1"
    deliverer = Deliverer(allow_private=allow_private, on_tls_seen=servers.tls_seen)
    tracking = {"tracking": LedgerTracking(ledger), "rewriter": rewrite_or_plain, "signer": signer} if signer else {}
    return {"deliverer": deliverer, "servers": servers, **tracking}
