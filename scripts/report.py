"""``egress report``: being written."""


def register(sub) -> None:
    p = sub.add_parser("report", help="(being written)")
    p.set_defaults(run=run)


def run(args) -> int:
    from egress.errors import EgressError

    raise EgressError("egress report is not available yet")
