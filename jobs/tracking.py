"""The click and open tracker as a job: open it (``egress tracking serve``), rotate its signing key.

:func:`open_tracker` checks everything a running tracker needs before it listens (the key file, the ledger at
this smtp-egress's schema revision, where the verified domains come from) and returns it bound, not yet serving;
:func:`rotate_key` appends a new signing key to the key file.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from smtp_egress.errors import ConfigError

if TYPE_CHECKING:
    from smtp_egress.ledger import Ledger
    from smtp_egress.ledger_location import LedgerLocation
    from smtp_egress.tracking.server import TrackingServer


@dataclasses.dataclass(frozen=True)
class TrackerInputs:
    host: str
    port: int
    keys_path: str
    keys_source: str  # "--keys" or "EGRESS_TRACKING_KEYS", for messages
    ledger: LedgerLocation
    domains: tuple[str, ...] = ()  # empty: the ledger's verified tracking domains
    forwarded_for: bool = False
    log: bool = True


@dataclasses.dataclass
class OpenTracker:
    server: TrackingServer
    ledger: Ledger
    domains_from: str  # "--domain" or "the ledger"

    def close(self) -> None:
        self.server.server_close()
        self.ledger.close()


def open_tracker(inputs: TrackerInputs) -> OpenTracker:
    from smtp_egress.ledger import Ledger
    from smtp_egress.tracking.domains import LedgerDomains, StaticDomains, VerifiedDomains
    from smtp_egress.tracking.keys import load_keyring
    from smtp_egress.tracking.server import Tracker, TrackingServer
    from smtp_egress.tracking.tokens import TokenSigner

    signer = TokenSigner(load_keyring(inputs.keys_path, f"from {inputs.keys_source}"))
    ledger = Ledger(inputs.ledger)
    try:
        domains: VerifiedDomains
        if inputs.domains:
            domains, source = StaticDomains(inputs.domains), "--domain"
        else:
            domains, source = LedgerDomains(ledger.engine), "the ledger"
        try:
            server = TrackingServer(
                (inputs.host, inputs.port),
                Tracker(signer, domains, ledger.engine),
                log=inputs.log,
                forwarded_for=inputs.forwarded_for,
            )
        except OSError as exc:
            raise ConfigError(
                f"cannot listen on {inputs.host}:{inputs.port}: {exc.strerror}; pick another --listen"
            ) from None
        except (UnicodeError, ValueError) as exc:
            raise ConfigError(f"--listen host {inputs.host[:80]!r} is not an address to listen on ({exc})") from None
        server.tracker.log = server.write_log
    except BaseException:
        ledger.close()
        raise
    return OpenTracker(server, ledger, source)


@dataclasses.dataclass(frozen=True)
class RotatedKey:
    key_id: str
    path: str
    keys: int  # keys in the file now (all verify; the new one signs)


def rotate_key(path: str, source: str = "") -> RotatedKey:
    from smtp_egress.tracking.keys import load_keyring, rotate

    key = rotate(path, source)
    return RotatedKey(key.key_id, path, len(load_keyring(path, source).keys))
