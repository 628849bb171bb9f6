"""``egress allowlist``: being written."""


def register(sub) -> None:
    p = sub.add_parser("allowlist", help="(being written)")
    p.set_defaults(run=run)


def run(args) -> int:
    from egress.errors import EgressError

    raise EgressError("egress allowlist is not available yet")
