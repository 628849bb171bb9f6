"""``egress publish``: not written yet."""


def register(sub) -> None:
    p = sub.add_parser("publish", help="(not written yet)")
    p.set_defaults(run=run)


def run(args) -> int:
    raise NotImplementedError("publish")
