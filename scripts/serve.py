"""``egress serve``: serve the published list over HTTP, rendered per request from the plan and ledger.

Routes: /v1/info/ip_addresses?region=R (JSON), /v1/info/ip_addresses.txt?region=R (text),
/v1/info/ip_addresses/changes.json, /v1/info/ip_addresses/changes.atom, /healthz. Without ?region the
default region is served. Each client IP may make --rate requests a second (bursts of --burst); over
that the reply is 429 with Retry-After. SIGTERM or Ctrl-C stops the server cleanly (exit 0).
"""

from __future__ import annotations

import os
import signal
import sys
import threading

from .common import add_db, add_plan, env_or, ledger_location


def register(sub) -> None:
    p = sub.add_parser(
        "serve",
        help="serve the published list over HTTP (GET /v1/info/ip_addresses)",
        description=__doc__.split("\n\n", 1)[1].replace("``", ""),
    )
    add_plan(p)
    add_db(p)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="port to listen on (default: 8080; 0 picks a free one)")
    p.add_argument(
        "--default-region",
        metavar="REGION",
        help="region served without ?region= (env EGRESS_DEFAULT_REGION; default: the plan's first region)",
    )
    p.add_argument(
        "--rate", type=float, metavar="N", help="requests per second per client IP (env EGRESS_RATE_LIMIT; default: 10)"
    )
    p.add_argument("--burst", type=int, metavar="N", help="requests a client may make at once (default: the rate)")
    p.add_argument(
        "--base-url",
        metavar="URL",
        help="public URL of this server, for links in changes.atom (env EGRESS_BASE_URL; default: http://HOST:PORT)",
    )
    p.add_argument("--quiet", action="store_true", help="do not log one line per request on stderr")
    p.set_defaults(run=run)


def rate_from(flag: float | None) -> float:
    from smtp_egress.errors import ConfigError
    from smtp_egress.server import DEFAULT_RATE

    value: str | float
    if flag is not None:
        value, where = flag, "--rate"
    else:
        value, where = os.environ.get("EGRESS_RATE_LIMIT", DEFAULT_RATE), "EGRESS_RATE_LIMIT"
    try:
        rate = float(value)
        if not rate > 0 or rate == float("inf"):
            raise ValueError
    except ValueError:
        raise ConfigError(f"{where} {value!r} must be a positive number of requests per second, e.g. 10") from None
    return rate


def run(args) -> int:
    from smtp_egress.plan import load_plan
    from smtp_egress.server import make_server

    plan = load_plan(args.plan)
    server = make_server(
        plan,
        ledger_location(args),
        args.host,
        args.port,
        default_region=env_or(args.default_region, "EGRESS_DEFAULT_REGION"),
        rate=rate_from(args.rate),
        burst=args.burst,
        base_url=env_or(args.base_url, "EGRESS_BASE_URL"),
        log=not args.quiet,
    )
    stop = threading.Event()
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, lambda *_: stop.set())
    worker = threading.Thread(target=server.serve_forever, name="egress-serve", daemon=True)
    worker.start()
    try:
        print(f"serving {server.url}/v1/info/ip_addresses (regions: {', '.join(plan.regions)})", flush=True)
        while not stop.wait(1.0):
            if not worker.is_alive():
                break
    finally:
        server.shutdown()
        server.server_close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if not stop.is_set():
        print("egress serve: the server loop ended unexpectedly", file=sys.stderr, flush=True)
        return 1
    print("egress serve: stopped", file=sys.stderr, flush=True)
    return 0
