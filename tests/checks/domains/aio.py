"""Running a coroutine on a loop of its own: ``asyncio.run`` would leave the main thread without a current event
loop, which later tests (Pulumi's runtime) expect to find."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coroutine)
    finally:
        loop.close()
