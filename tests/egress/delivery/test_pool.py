"""Sessions pooled per server: reused across messages (RSET between), several at once up to the limit,
closed when idle too long or at aclose() (QUIT), a session the server closed replaced by a fresh one."""

from __future__ import annotations

import asyncio
import time

from smtp_egress.delivery import Deliverer

from .helpers import MESSAGE, envelope, run, server


def _many(cafile, srv, count: int, *, concurrent: bool, pause: float = 0.0, **kw):
    async def go():
        d = Deliverer(allow_private=True, ca_file=cafile, timeout=10, **kw)
        try:
            if concurrent:
                return await asyncio.gather(
                    *(d.deliver(srv, envelope(f"r{i}@example.com"), MESSAGE) for i in range(count))
                )
            out = []
            for i in range(count):
                out.append(await d.deliver(srv, envelope(f"r{i}@example.com"), MESSAGE))
                await asyncio.sleep(pause)
            return out
        finally:
            await d.aclose()

    return run(go())


def test_one_session_carries_message_after_message_with_rset_between(sink, cafile) -> None:
    s = sink("starttls", pipelining=True)
    done = _many(cafile, server(s.port), 20, concurrent=False)
    assert {o.kind for d in done for o in d.outcomes} == {"delivered"}
    assert len(s.handler.peers) == 1 and len(s.handler.messages) == 20
    assert s.handler.rsets == 19 and s.handler.quits == 1  # and aclose() said goodbye


def test_concurrent_messages_use_at_most_connections_per_server(sink, cafile) -> None:
    s = sink("starttls", pipelining=True)
    done = _many(cafile, server(s.port), 60, concurrent=True, connections_per_server=3)
    assert {o.kind for d in done for o in d.outcomes} == {"delivered"}
    assert len(s.handler.messages) == 60 and len(s.handler.peers) == 3
    assert s.handler.quits == 3


def test_servers_with_different_settings_get_their_own_sessions(sink, cafile) -> None:
    s = sink("starttls", pipelining=True)

    async def go():
        d = Deliverer(allow_private=True, ca_file=cafile, timeout=10)
        for srv in (server(s.port), server(s.port, server_id="s2"), server(s.port)):
            await d.deliver(srv, envelope(), MESSAGE)
        await d.aclose()

    run(go())
    assert len(s.handler.peers) == 2 and len(s.handler.messages) == 3


def test_an_idle_session_is_closed_after_the_idle_timeout(sink, cafile) -> None:
    s = sink("starttls", pipelining=True)
    done = _many(cafile, server(s.port), 3, concurrent=False, pause=0.4, idle_timeout=0.3)
    assert {o.kind for d in done for o in d.outcomes} == {"delivered"}
    assert len(s.handler.peers) == 3 and s.handler.quits == 3


def test_a_pooled_session_the_server_closed_is_replaced_without_losing_the_message(sink, cafile) -> None:
    s = sink("starttls", pipelining=True, timeout=0.3)  # the server drops sessions idle for 0.3 s (421)
    started = time.monotonic()
    done = _many(cafile, server(s.port), 3, concurrent=False, pause=0.6)
    assert {o.kind for d in done for o in d.outcomes} == {"delivered"}
    assert len(s.handler.messages) == 3 and len(s.handler.peers) == 3
    assert time.monotonic() - started < 5
