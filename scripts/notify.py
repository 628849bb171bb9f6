"""``egress notify``: not written yet."""


def register(sub) -> None:
    p = sub.add_parser("notify", help="(not written yet)")
    p.set_defaults(run=run)


def run(args) -> int:
    raise NotImplementedError("notify")
