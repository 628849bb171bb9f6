"""The ``egress`` command: one entry point, one subcommand module per concern.

Each subcommand module defines ``register(subparsers)`` (argument definitions only, no heavy
imports) and ``run(args) -> int``. An :class:`smtp_egress.errors.EgressError` becomes its message on
stderr and its exit code; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import io
import sys
from collections.abc import Sequence

from smtp_egress import __version__
from smtp_egress.errors import EgressError

COMMANDS = (
    "validate",
    "publish",
    "serve",
    "notify",
    "status",
    "workspaces",
    "synth",
    "allowlist",
    "report",
    "ledger",
    "deploy",
    "daily",
    "smtp",
    "worker",
    "domains",
    "tracking",
)


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
    from .common import resolve

    parser = build_parser()
    words = list(sys.argv[1:] if argv is None else argv)
    _text_only(parser, words)
    args = parser.parse_args(words)
    _printable_stdout()
    try:
        resolve(args)
        return int(args.run(args) or 0)
    except EgressError as exc:
        print(f"egress {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"egress {args.command}: interrupted", file=sys.stderr)
        return 130


def _text_only(parser: argparse.ArgumentParser, words: list[str]) -> None:
    """Exit 2 (argparse's usage error) for an argument that is not text: bytes that are not UTF-8 reach Python as
    lone surrogates, which no ledger, document or message can hold."""
    for i, word in enumerate(words):
        try:
            word.encode("utf-8")
        except UnicodeEncodeError:
            flag, value = word.split("=", 1) if word.startswith("--") and "=" in word else (None, word)
            if flag is None and i and words[i - 1].startswith("-"):
                flag = words[i - 1]
            shown = value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")[:80]
            where = f"the value of {flag}" if flag else "an argument"
            parser.error(f"{where} '{shown}' is not valid UTF-8 text")


def _printable_stdout() -> None:
    """Print any path or value a user gave, even one that is not valid UTF-8 (argv decodes such bytes to
    surrogates): escape what cannot be encoded, as Python does on stderr, instead of failing mid-output."""
    if isinstance(sys.stdout, io.TextIOWrapper) and sys.stdout.errors == "strict":
        sys.stdout.reconfigure(errors="backslashreplace")


if __name__ == "__main__":
    sys.exit(main())
