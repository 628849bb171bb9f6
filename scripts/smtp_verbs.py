"""What each ``egress smtp`` verb does with its arguments: call the job, render the result (text or ``--json``).

Nothing here prints a password: settings carry none, a stored server shows only whether it has one and the key
that sealed it, and the probe's steps are already free of it.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
from collections.abc import Iterator

from .common import ledger_location, print_json
from .smtp import PROBE_FAILED, allow_private, keyring


@contextlib.contextmanager
def _named(flags: str) -> Iterator[None]:
    """A server or workspace not in the ledger: the error names the flags that chose it."""
    from smtp_egress.smtp.store import UnknownServer

    from .values import Named

    try:
        yield
    except UnknownServer as exc:
        raise Named(flags, exc) from None


def _password(args: argparse.Namespace) -> str | None:
    from smtp_egress.smtp.importing import read_password_file

    if args.password_file is None:
        return None
    from pathlib import Path

    return read_password_file(Path(args.password_file), "--password-file")


def _fields(args: argparse.Namespace) -> dict[str, object]:
    names = ("host", "port", "security", "username", "certificate")
    fields: dict[str, object] = {name: getattr(args, name) for name in names}
    fields["workspace_id"] = args.workspace
    fields["campaign_types"] = getattr(args, "campaign_types", None)
    fields["default"] = getattr(args, "default", False)
    return fields


def _settings_json(s) -> dict[str, object]:
    return {**dataclasses.asdict(s), "server_id": s.server_id, "campaign_types": list(s.campaign_types)}


def add(args: argparse.Namespace) -> int:
    from smtp_egress.jobs.smtp_servers import AddInputs, run_add

    password = _password(args)
    inputs = AddInputs(_fields(args), password, ledger_location(args), keyring, allow_private())
    with _named("--workspace"):
        settings, saved = run_add(inputs)
    if args.json:
        print_json(
            {**_settings_json(settings), "default": saved.default, "default_taken_from": saved.default_taken_from}
        )
        return 0
    print(
        f"added {settings.workspace_id}/{saved.server_id} ({settings.security})"
        + (", the default" if saved.default else "")
    )
    if saved.default_taken_from:
        print(f"  {saved.default_taken_from} is no longer the default")
    return 0


def list_(args: argparse.Namespace) -> int:
    from smtp_egress.dates import rfc3339
    from smtp_egress.jobs.smtp_servers import run_list

    servers = run_list(ledger_location(args), args.workspace)
    if args.json:
        print_json(
            [
                {
                    **_settings_json(s.settings),
                    "has_password": s.has_password,
                    "password_key": s.key_ref,
                    "tls_pinned_at": rfc3339(s.tls_pinned_at) if s.tls_pinned_at else None,
                }
                for s in servers
            ]
        )
        return 0
    for s in servers:
        c = s.settings
        flags = [c.security, c.certificate, f"user {c.username}" if c.username else "no AUTH"]
        flags += ["default"] if c.default else []
        flags += [f"campaign types {','.join(c.campaign_types)}"] if c.campaign_types else []
        flags += ["TLS pinned"] if s.tls_pinned_at else []
        print(f"{c.workspace_id}\t{c.server_id}\t" + "; ".join(flags))
    return 0


def remove(args: argparse.Namespace) -> int:
    from smtp_egress.jobs.smtp_servers import run_remove

    with _named("--workspace W --server HOST:PORT"):
        was_default = run_remove(ledger_location(args), args.workspace, args.server)
    print(f"removed {args.workspace}/{args.server}")
    if was_default:
        print(f"  it was the default: {args.workspace} has no default server now (egress smtp add ... --default)")
    return 0


def _import(args: argparse.Namespace) -> int:
    from smtp_egress.errors import InputError
    from smtp_egress.jobs.smtp_servers import run_import

    from .values import excerpt

    try:
        with open(args.file, "rb"):
            pass
    except OSError as exc:
        raise InputError(f"FILE {excerpt(args.file)}: cannot read the servers file: {exc.strerror or exc}") from None
    saved = run_import(args.file, ledger_location(args), keyring, allow_private())
    added = sum(s.added for s in saved)
    if args.json:
        print_json({"file": args.file, "added": added, "updated": len(saved) - added, "total": len(saved)})
    else:
        print(f"{args.file}: {len(saved)} servers ({added} added, {len(saved) - added} updated)")
    return 0


def keygen(args: argparse.Namespace) -> int:
    from smtp_egress.smtp.keyring import KEY_FILE_ENV
    from smtp_egress.smtp.keyring import keygen as make

    ref = make(args.out)
    print(f"wrote a new key ({ref}) to {args.out} (mode 0600): set {KEY_FILE_ENV}={args.out}; keep a backup")
    return 0


def test(args: argparse.Namespace) -> int:
    from smtp_egress.errors import ConfigError
    from smtp_egress.jobs.smtp_test import TestInputs, run_test

    stored = None
    if args.server is not None or (args.workspace is not None and args.host is None):
        given = [
            f for f, v in (("--host", args.host), ("--port", args.port), ("--password-file", args.password_file)) if v
        ]
        if given or not args.workspace or not args.server:
            raise ConfigError(
                "give either --workspace W --server HOST:PORT (a stored server) or --host H --port P (not both)"
                + (f"; {', '.join(given)} with --server" if given else "")
            )
        stored = (args.workspace, args.server)
    elif args.workspace is not None:
        raise ConfigError("--workspace goes with --server (a stored server), not with --host")
    try:
        timeout = float(args.timeout)
        assert 0 < timeout <= 300
    except (ValueError, AssertionError):
        raise ConfigError(
            f"--timeout {args.timeout[:20]!r} must be a number of seconds, more than 0, at most 300"
        ) from None
    location = ledger_location(args) if stored else None
    inputs = TestInputs(
        stored, _fields(args), _password(args), location, keyring, allow_private(), args.mail_from, timeout
    )
    with _named("--workspace W --server HOST:PORT"):
        result = run_test(inputs)
    if args.json:
        steps = [dataclasses.asdict(s) for s in result.steps]
        print_json({"server": result.label, "ok": result.ok, "steps": steps, "fingerprint": result.fingerprint})
    else:
        print(f"{result.label}:")
        for s in result.steps:
            mark = {True: "passed", False: "FAILED", None: "skipped"}[s.passed]
            print(f"  {s.name:<12} {mark:<8} {s.detail}")
            if s.advice:
                print(f"  {'':<12} {'':<8} what to change: {s.advice}")
        if result.failed is not None and result.failed.name == "certificate" and result.fingerprint:
            print(f"  the server presented the certificate fingerprint:{result.fingerprint}")
    return 0 if result.ok else PROBE_FAILED


VERBS = {"add": add, "list": list_, "remove": remove, "import": _import, "keygen": keygen, "test": test}
