"""Delivering one rendered message through a workspace's own SMTP server: connect to the checked address, TLS
(SNI, verification or fingerprint, no downgrade), AUTH inside TLS only, pooled sessions, per-recipient replies."""

from .deliverer import MAYBE_ACCEPTED, Deliverer

__all__ = ["MAYBE_ACCEPTED", "Deliverer"]
