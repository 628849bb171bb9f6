"""Many workspaces at once: bounded, in input order, a progress callback, and always finishing."""

from __future__ import annotations

import time
from collections.abc import Callable

from smtp_egress.checks.domains import Resolver, check_many
from smtp_egress.domains.records import DomainCheck, ExpectedRecord

from .aio import run
from .zones import MX, TRACK


def workspace(i: int, zone: str) -> tuple[str, list[ExpectedRecord]]:
    good = i % 2 == 0
    name = "ok" if good else "nothing"
    return (
        f"ws-{i}",
        [ExpectedRecord(f"{name}.{zone}.", "CNAME", TRACK), ExpectedRecord(f"b1.mail.{zone}.", "MX", f"10 {MX}")],
    )


def test_results_in_order_with_progress(resolver: Callable[..., Resolver]) -> None:
    seen: list[DomainCheck] = []
    items = [workspace(i, "cust.test") for i in range(200)]
    results = run(check_many(items, resolver(concurrency=20), on_result=seen.append))
    assert [r.workspace_id for r in results] == [f"ws-{i}" for i in range(200)]
    assert [r.status for r in results[:4]] == ["verified", "failed", "verified", "failed"]
    assert sorted(r.workspace_id for r in seen) == sorted(f"ws-{i}" for i in range(200))


def test_a_silent_server_cannot_stall_a_bulk_run(silent_server: tuple[str, int]) -> None:
    items = [workspace(i, "cust.test") for i in range(40)]
    started = time.monotonic()
    results = run(check_many(items, Resolver(silent_server, False, 0.3, 40)))
    assert {r.status for r in results} == {"unknown"} and len(results) == 40
    assert time.monotonic() - started < 3


def test_an_empty_run() -> None:
    assert run(check_many([], Resolver(("127.0.0.1", 53), False, 1.0, 5))) == []
