"""``egress serve``: serve the published list over HTTP, rendered per request from the plan and ledger.

Routes: /v1/info/ip_addresses?region=R (JSON), /v1/info/ip_addresses.txt?region=R (text),
/v1/info/ip_addresses/changes.json, /v1/info/ip_addresses/changes.atom, /healthz. Without ?region the
default region is served. Each client IP may make --rate requests a second (bursts of --burst); over
that the reply is 429 with Retry-After. SIGTERM or Ctrl-C stops the server cleanly (exit 0).
"""

from __future__ import annotations

import signal
import sys
import threading

from .common import add_db, add_plan, ledger_location


def whole_number(low: int, high: int, what: str):
    """An argparse type: a whole number from ``low`` to ``high`` (argparse names the flag when it is not)."""
    import argparse

    def parse(text: str) -> int:
        try:
            number = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text[:20]!r} is not a whole number ({what})") from None
        if not low <= number <= high:
            raise argparse.ArgumentTypeError(f"{number} is out of range ({what})")
        return number

    return parse


PORT = whole_number(0, 65535, "a port is 0 to 65535; 0 picks a free one")
BURST = whole_number(1, 1_000_000, "a burst is 1 to 1000000 requests")


def register(sub) -> None:
    p = sub.add_parser(
        "serve",
        help="serve the published list over HTTP (GET /v1/info/ip_addresses)",
        description=__doc__.split("\n\n", 1)[1].replace("``", ""),
    )
    add_plan(p)
    add_db(p)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    p.add_argument("--port", type=PORT, default=8080, help="port to listen on (default: 8080; 0 picks a free one)")
    p.add_argument(
        "--default-region",
        metavar="REGION",
        help="region served without ?region= (env EGRESS_DEFAULT_REGION; default: the plan's first region)",
    )
    p.add_argument(
        "--rate", type=float, metavar="N", help="requests per second per client IP (env EGRESS_RATE_LIMIT; default: 10)"
    )
    p.add_argument("--burst", type=BURST, metavar="N", help="requests a client may make at once (default: the rate)")
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

    from .values import setting

    given = setting(None if flag is None else repr(flag), "--rate", "EGRESS_RATE_LIMIT", str(DEFAULT_RATE))
    try:
        rate = float(given.value or "")
        if not 0 < rate <= 1_000_000:
            raise ValueError
    except ValueError:
        raise ConfigError(
            f"{given.named()} must be a number of requests per second above 0 and at most 1000000, e.g. 10"
        ) from None
    return rate


def run(args) -> int:
    from smtp_egress.errors import ConfigError
    from smtp_egress.server import make_server

    from .common import load_plan, region
    from .values import http_url, setting

    plan = load_plan(args)
    if not args.host:
        raise ConfigError("--host is empty; give the address to listen on, e.g. 127.0.0.1 (or 0.0.0.0 for all)")
    if len(args.host) > 253 or any(len(label) > 63 for label in args.host.split(".")):
        raise ConfigError(f"--host {args.host[:80]!r} is not an address or host name to listen on")
    default_region = setting(args.default_region, "--default-region", "EGRESS_DEFAULT_REGION")
    if default_region.value is not None:
        region(plan, default_region.value, str(default_region.source))
    base_url = setting(args.base_url, "--base-url", "EGRESS_BASE_URL")
    if base_url.value is not None:
        http_url(base_url, "base URL")
    try:  # a port taken or a host that cannot be bound: a ConfigError naming them
        server = make_server(
            plan,
            ledger_location(args),
            args.host,
            args.port,
            default_region=default_region.value,
            rate=rate_from(args.rate),
            burst=args.burst,
            base_url=base_url.value,
            log=not args.quiet,
        )
    except (UnicodeError, ValueError) as exc:  # a host name no resolver takes (too long, bad labels)
        raise ConfigError(f"--host {args.host[:80]!r} is not an address or host name to listen on ({exc})") from None
    banner = f"serving {server.url}/v1/info/ip_addresses (regions: {', '.join(plan.regions)})"
    return run_until_stopped(server, banner, "egress serve", server.server_close)


def run_until_stopped(server, banner: str, name: str, close) -> int:
    """Serve in a thread until SIGTERM or Ctrl-C (exit 0) or the loop dies (exit 1); ``close`` frees it all."""
    stop = threading.Event()
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, lambda *_: stop.set())
    worker = threading.Thread(target=server.serve_forever, name=name.replace(" ", "-"), daemon=True)
    worker.start()
    try:
        print(banner, flush=True)
        while not stop.wait(1.0):
            if not worker.is_alive():
                break
    finally:
        server.shutdown()
        close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if not stop.is_set():
        print(f"{name}: the server loop ended unexpectedly", file=sys.stderr, flush=True)
        return 1
    print(f"{name}: stopped", file=sys.stderr, flush=True)
    return 0
