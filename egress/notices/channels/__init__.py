"""The notice channels: a registry, one module per channel (the allowlist formats' pattern).

Each module declares one :class:`~.base.Channel` as ``CHANNEL``: its name and workspaces column, how a
target is checked and masked, its settings and stack secrets, and its sender (payload, idempotency key,
when to stop trying). Adding a channel is one module, one name in :data:`_MODULES` and a test; the ledger,
the workspaces import, the fan-out, ``egress notify``'s options, the stack's secrets and the Fargate task's
secrets all read this registry. Pending deliveries of a run go out in :data:`_MODULES`' order per change.
"""

from __future__ import annotations

import importlib
from typing import Any

from ...errors import ConfigError
from .base import Channel, Option, Sender, StackSecret, mask_secret_url

__all__ = ["CHANNELS", "Channel", "Option", "Sender", "StackSecret", "get", "mask", "stack_secrets"]

_MODULES = ("email", "webhook", "slack")  # the registration: one module of this package per channel

CHANNELS: dict[str, Channel[Any]] = {
    c.name: c for c in (importlib.import_module(f"{__name__}.{m}").CHANNEL for m in _MODULES)
}


def get(name: str) -> Channel[Any]:
    if name not in CHANNELS:
        raise ConfigError(f"unknown notice channel {name!r}; the channels are: {', '.join(CHANNELS)}")
    return CHANNELS[name]


def mask(channel: str, target: str) -> str:
    """``target`` as its channel shows it; a channel this code does not know: masked as a secret URL."""
    known = CHANNELS.get(channel)
    return known.mask(target) if known is not None else mask_secret_url(target)


def stack_secrets() -> tuple[StackSecret, ...]:
    """Every channel's stack secrets, in registry order."""
    return tuple(s for c in CHANNELS.values() for s in c.secrets)
