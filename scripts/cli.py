"""The ``egress`` command: one entry point, one subcommand module per concern.

Each subcommand module defines ``register(subparsers)`` (argument definitions only, no heavy
imports) and ``run(args) -> int``. An :class:`smtp_egress.errors.EgressError` becomes its message on
stderr and its exit code; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from smtp_egress import __version__
from smtp_egress.errors import EgressError

COMMANDS = ("validate", "publish", "serve", "notify", "workspaces", "synth", "allowlist", "report", "ledger")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="egress",
        description="smtp-egress: the IP plan, the published list, change notices and allowlists.",
    )
    parser.add_argument("--version", action="version", version=f"egress {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        module = importlib.import_module(f"smtp_egress.scripts.{name}")
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except EgressError as exc:
        print(f"egress {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"egress {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
