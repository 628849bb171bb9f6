"""``egress synth``: being written."""


def register(sub) -> None:
    p = sub.add_parser("synth", help="(being written)")
    p.set_defaults(run=run)


def run(args) -> int:
    from egress.errors import EgressError

    raise EgressError("egress synth is not available yet")
