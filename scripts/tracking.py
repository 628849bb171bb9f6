"""``egress tracking``: the click and open tracker behind customers' branded tracking domains.

  serve       answer /c/<token> with a redirect to the link's destination and /o/<token>.gif with a 1x1 GIF,
              recording each click and open in the ledger per message and recipient; only verified tracking
              domains answer (by Host), and a forged or tampered token is a 404. SIGTERM or Ctrl-C stops it
  rotate-key  append a new signing key to the key file (created, mode 0600, if missing): it signs new links
              from now on; every key still in the file verifies, so links already sent keep working until
              their key's line is deleted

The key file holds one '<key id> <secret>' line per key and must be readable by its owner only.
"""

from __future__ import annotations

import argparse

from .common import add_db, add_json, print_json

KEYS_ENV = "EGRESS_TRACKING_KEYS"
LISTEN_ENV = "EGRESS_TRACKING_LISTEN"
DOMAINS_ENV = "EGRESS_TRACKING_DOMAINS"
DEFAULT_LISTEN = "127.0.0.1:8081"


def register(sub) -> None:
    p = sub.add_parser(
        "tracking",
        help="the click and open tracker of branded tracking domains (serve, rotate-key)",
        description=__doc__.split("\n\n", 1)[1].replace("``", ""),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    verbs = p.add_subparsers(dest="verb", metavar="VERB", required=True)
    serve = verbs.add_parser("serve", help="serve /c/<token> (redirect) and /o/<token>.gif (open pixel)")
    serve.add_argument(
        "--listen", metavar="HOST:PORT", help=f"address to listen on (env {LISTEN_ENV}; default: {DEFAULT_LISTEN})"
    )
    add_keys(serve)
    add_db(serve)
    serve.add_argument(
        "--domain",
        action="append",
        metavar="DOMAIN",
        help=f"a verified tracking domain to answer for, repeatable (env {DOMAINS_ENV}, comma-separated; default: "
        "the verified tracking domains of the ledger's workspaces)",
    )
    serve.add_argument(
        "--forwarded-for",
        action="store_true",
        help="behind a proxy: take the client's address from the last X-Forwarded-For entry",
    )
    serve.add_argument("--quiet", action="store_true", help="do not log one line per request on stderr")
    rotate = verbs.add_parser("rotate-key", help="append a new signing key to the key file")
    add_keys(rotate)
    add_json(rotate)
    p.set_defaults(run=run)


def add_keys(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--keys", metavar="PATH", help=f"the tracking key file (env {KEYS_ENV})")


def run(args) -> int:
    return serve(args) if args.verb == "serve" else rotate_key(args)


def keys_setting(args):
    from smtp_egress.errors import ConfigError

    from .values import setting

    given = setting(args.keys, "--keys", KEYS_ENV)
    if not given.value or not given.value.strip():
        raise ConfigError(
            f"no tracking key file: give --keys PATH or set {KEYS_ENV} (egress tracking rotate-key "
            "--keys PATH creates one)"
        )
    return given


def listen_address(text: str, source: str) -> tuple[str, int]:
    from smtp_egress.errors import ConfigError

    host, sep, port = text.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535 or len(host) > 253:
        raise ConfigError(
            f"{source} {text[:80]!r} is not HOST:PORT (e.g. 127.0.0.1:8081, [::1]:8081, 0.0.0.0:80; port 0 to 65535)"
        )
    return host, int(port)


def serve(args) -> int:
    from smtp_egress.jobs.tracking import TrackerInputs, open_tracker
    from smtp_egress.tracking.domains import host_name

    from .common import ledger_location
    from .serve import run_until_stopped
    from .values import setting

    listen = setting(args.listen, "--listen", LISTEN_ENV, DEFAULT_LISTEN)
    host, port = listen_address(str(listen.value), listen.source or "the default")
    keys = keys_setting(args)
    domains = list(args.domain or [])
    env_domains = setting(None, None, DOMAINS_ENV)
    if not domains and env_domains.value:
        domains = [d for d in env_domains.value.split(",") if d.strip()]
    for name in domains:
        if not host_name(name) or ":" in name:
            from smtp_egress.errors import ConfigError

            where = "--domain" if args.domain else DOMAINS_ENV
            raise ConfigError(f"{where} {name[:80]!r} is not a host name (write its A-label form, e.g. links.x.com)")
    inputs = TrackerInputs(
        host=host,
        port=port,
        keys_path=str(keys.value),
        keys_source=str(keys.source),
        ledger=ledger_location(args),
        domains=tuple(domains),
        forwarded_for=args.forwarded_for,
        log=not args.quiet,
    )
    tracker = open_tracker(inputs)
    banner = f"tracking on {tracker.server.url} (domains from {tracker.domains_from})"
    return run_until_stopped(tracker.server, banner, "egress tracking serve", tracker.close)


def rotate_key(args) -> int:
    from smtp_egress.jobs.tracking import rotate_key as rotate

    keys = keys_setting(args)
    rotated = rotate(str(keys.value), f"from {keys.source}")
    if args.json:
        print_json({"key_id": rotated.key_id, "keys": rotated.keys, "path": rotated.path})
    else:
        print(f"new signing key {rotated.key_id} in {rotated.path} ({rotated.keys} keys verify)")
    return 0
