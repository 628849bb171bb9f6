"""``egress allowlist``: what a customer must allow, in the syntax of the tool that enforces it.

  egress allowlist --region R --format F [--at DATE] [--live-only] [--no-aggregate] [--out FILE]
  egress allowlist --all DIR [--at DATE] [--signing-key PEM] [--live-only] [--no-aggregate]
  egress allowlist --verify DIR (--public-key PEM | --no-signature)
  egress allowlist --generate-key PATH
  egress allowlist --list-formats

The content is the region's published list on the day (--at, midnight UTC; default now) plus the announced
additions that have not started yet (customers must allow them before they send); --live-only leaves the
additions out. Planned changes that were never announced are never included. Addresses are aggregated into
the fewest exact CIDR blocks unless --no-aggregate. Every output begins with its provenance: region, time
of generation, plan sha256, the published document's sync_token, what is included and when additions start.

--all writes DIR/<region>/<file> for every format and region, each region's published document
(DIR/<region>/ip_addresses.json), DIR/README.txt and DIR/SHA256SUMS (check with sha256sum -c SHA256SUMS).
With a signing key (--signing-key or env EGRESS_SIGNING_KEY: an Ed25519 private key in PEM) it also writes
Ed25519 signatures SHA256SUMS.sig and <region>/ip_addresses.json.sig. --verify checks them with --public-key
(exit 3 on any mismatch); a tree that carries SHA256SUMS.sig is refused without a key (exit 2), since
anyone who can change its files can recompute the checksums: --no-signature checks the checksums alone.
SOURCE_DATE_EPOCH, when set, fixes the generation time (reproducible bundles).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from smtp_egress.wording import count

from .common import add_at, add_db, add_json, add_plan, at_flag, ledger_location, moment_for, print_json


def register(sub) -> None:
    p = sub.add_parser(
        "allowlist",
        help="generate allowlists (firewalls, MTAs, clouds), sign and verify bundles",
        description=__doc__.split("\n\n", 1)[1].replace("``", ""),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_plan(p)
    add_db(p)
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--region", metavar="REGION", help="one region's allowlist (with --format)")
    what.add_argument("--all", metavar="DIR", help="every format of every region, with SHA256SUMS, into DIR")
    what.add_argument("--verify", metavar="DIR", help="check a tree written by --all: signature and checksums")
    what.add_argument("--generate-key", metavar="PATH", help="write a new Ed25519 key pair: PATH (0600) and PATH.pub")
    what.add_argument("--list-formats", action="store_true", help="list the formats and their files")
    p.add_argument("--format", metavar="FORMAT", help="with --region: the output format (see --list-formats)")
    add_at(p)
    p.add_argument(
        "--live-only", action="store_true", help="only addresses live on the day, not announced upcoming additions"
    )
    p.add_argument("--no-aggregate", action="store_true", help="one entry per address instead of CIDR blocks")
    p.add_argument("--out", metavar="FILE", help="with --region: write to FILE atomically instead of stdout")
    p.add_argument(
        "--signing-key", metavar="PEM", help="with --all: Ed25519 private key to sign with (env EGRESS_SIGNING_KEY)"
    )
    p.add_argument(
        "--public-key", metavar="PEM", help="with --verify: the Ed25519 public key to check the signatures with"
    )
    p.add_argument(
        "--no-signature",
        action="store_true",
        help="with --verify: check the checksums only, even of a signed tree (they prove nothing against tampering)",
    )
    add_json(p, "with --all, --verify or --list-formats: print a machine-readable summary on stdout")
    p.set_defaults(run=run)


def _only(args, mode: str, allowed: set[str]) -> None:
    """Refuse every flag that does nothing in ``mode`` (one of the mutually exclusive modes)."""
    from .common import refuse

    flags = {
        "--plan": args.plan if args.plan_from == "--plan" else None,
        "--db": args.db,
        "--format": args.format,
        "--out": args.out,
        "--signing-key": args.signing_key,
        "--public-key": args.public_key,
        "--no-signature": args.no_signature,
        "--at": args.at,
        "--live-only": args.live_only,
        "--no-aggregate": args.no_aggregate,
        "--json": args.json,
    }
    refuse(mode, {flag: value for flag, value in flags.items() if flag not in allowed})


def run(args) -> int:
    if args.list_formats:
        _only(args, "--list-formats", {"--json"})
        return list_formats(args)
    if args.generate_key is not None:
        _only(args, "--generate-key", set())
        return generate_key(args)
    if args.verify is not None:
        _only(args, "--verify", {"--public-key", "--no-signature", "--json"})
        return verify(args)
    common = {"--plan", "--db", "--at", "--live-only", "--no-aggregate"}
    if args.all is not None:
        _only(args, "--all", common | {"--signing-key", "--json"})
        return write_all(args)
    _only(args, "--region", common | {"--format", "--out"})
    return one(args)


def generated_at():
    """Now, or SOURCE_DATE_EPOCH (reproducible builds) when set."""
    import datetime as dt

    from smtp_egress.dates import UTC, utc_now
    from smtp_egress.errors import ConfigError

    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch is None:
        return utc_now()
    try:
        return dt.datetime.fromtimestamp(int(epoch), UTC)
    except (ValueError, OverflowError, OSError):
        raise ConfigError(f"SOURCE_DATE_EPOCH {epoch[:40]!r} is not a number of seconds since 1970-01-01 UTC") from None


def _load(args):
    from smtp_egress.jobs.publish import load_state

    from .common import load_plan, region

    plan = load_plan(args)  # a bad plan or region is named by the flag (or variable) it came from
    if args.region is not None:
        region(plan, args.region)
    return load_state(args.plan, ledger_location(args), region=args.region)


def _warn(warnings) -> None:
    for w in warnings:
        print(f"egress allowlist: warning: {w}", file=sys.stderr)


def one(args) -> int:
    from smtp_egress.allowlists import build, get
    from smtp_egress.errors import ConfigError

    from .values import naming, output_file, write_output

    if not args.format:
        from smtp_egress.allowlists import FORMATS

        raise ConfigError(f"--region needs --format; choose one of: {', '.join(FORMATS)}")
    with naming("--format"):
        fmt = get(args.format)  # exit 2 listing the formats, before reading anything
    moment = moment_for(args.at, at_flag(args))
    output_file(args.out)
    state = _load(args)
    al = build(
        state.plan,
        args.region,
        state.announcements,
        moment,
        generated_at(),
        live_only=args.live_only,
        aggregate=not args.no_aggregate,
        simulated=state.simulated,
    )
    out = fmt.render(al)
    _warn(out.warnings)
    if args.out is not None:
        write_output(args.out, out.data)
        print(
            f"wrote {args.out}: region {al.region}, format {fmt.name}, {count(len(al.addresses), 'address')} in "
            f"{count(len(al.networks), 'block')}, "
            f"{count(0 if al.live_only else len(al.additions), 'upcoming addition')}"
            + (" (SIMULATED: from a simulation ledger)" if al.simulated else "")
        )
    else:
        sys.stdout.write(out.data.decode("utf-8"))
        sys.stdout.flush()
    return 0


def write_all(args) -> int:
    import contextlib

    from smtp_egress.allowlists.bundle import DOCUMENT, MANIFEST, tree_files
    from smtp_egress.errors import ConfigError
    from smtp_egress.files import write_atomic
    from smtp_egress.signing import SIGNATURE_SUFFIX

    from .values import directory, naming, private_key, setting

    root = directory(args.all, "--all")
    moment = moment_for(args.at, at_flag(args))
    key = private_key(setting(args.signing_key, "--signing-key", "EGRESS_SIGNING_KEY"))
    state = _load(args)
    plan = state.plan
    files, warnings = tree_files(
        plan,
        state.announcements,
        moment,
        generated_at(),
        live_only=args.live_only,
        aggregate=not args.no_aggregate,
        key=key,
        simulated=state.simulated,
    )
    with naming("--all"):
        try:
            if key is None:  # a signature left from an earlier signed run would not match the new files
                for stale in [MANIFEST, *(f"{r}/{DOCUMENT}" for r in plan.regions)]:
                    with contextlib.suppress(FileNotFoundError):
                        (root / (stale + SIGNATURE_SUFFIX)).unlink()
            for rel, data in files.items():  # SHA256SUMS, then its signature, come last
                write_atomic(root / rel, data, make_parents=True)
        except OSError as exc:
            raise ConfigError(f"cannot write into {str(root)[:200]!r}: {exc.strerror or exc}") from None
    _warn(warnings)
    summary = {
        "dir": str(root),
        "regions": sorted(plan.regions),
        "files": len(files),
        "signed": key is not None,
        "manifest": str(root / MANIFEST),
        "warnings": warnings,
        "simulated": state.simulated,
    }
    if args.json:
        print_json(summary)
    else:
        signed = (
            f"signed ({MANIFEST}{SIGNATURE_SUFFIX})" if key else "not signed (no --signing-key / EGRESS_SIGNING_KEY)"
        )
        print(
            f"wrote {count(len(files), 'file')} for {count(len(plan.regions), 'region')} into {root}; {signed}; "
            f"check with: cd {root} && sha256sum -c {MANIFEST}"
            + ("; SIMULATED: made from a simulation ledger, not a real list" if state.simulated else "")
        )
    return 0


def verify(args) -> int:
    from smtp_egress.allowlists.bundle import MANIFEST, verify_tree
    from smtp_egress.errors import ConfigError
    from smtp_egress.signing import SIGNATURE_SUFFIX, VerificationFailed

    from .values import Setting, blame, public_key

    if not args.verify:
        raise ConfigError("--verify: the directory is empty; give the tree that egress allowlist --all wrote")
    root = Path(args.verify)
    if args.public_key is not None and args.no_signature:
        raise ConfigError("--public-key checks the signature and --no-signature skips it: give one of them")
    key = public_key(Setting(args.public_key, "--public-key")) if args.public_key is not None else None
    signature = root / (MANIFEST + SIGNATURE_SUFFIX)
    if key is None and not args.no_signature and signature.is_file():
        raise ConfigError(
            f"--verify {args.verify[:200]!r}: the tree is signed ({signature.name}), but no --public-key was given "
            "to check the signature, and its checksums alone prove nothing (whoever can change the files can "
            "recompute them): give --public-key PEM, or --no-signature to check only the checksums"
        )
    try:
        report = verify_tree(root, key)
    except VerificationFailed as exc:  # no manifest to read, or its signature does not match
        raise blame("--verify", exc) from None
    if key is None and args.no_signature:
        report.signature = "not checked (--no-signature)"
    if args.json:
        print_json({**vars(report), "ok": report.ok})
    for rel in report.unlisted:
        print(
            f"egress allowlist: warning: {rel} is not in the manifest: it is not covered by the checksums",
            file=sys.stderr,
        )
    if not report.ok:
        raise VerificationFailed(
            f"{args.verify}: {count(len(report.problems), 'problem')}:\n  " + "\n  ".join(report.problems)
        )
    if not args.json:
        docs = f", {count(len(report.documents_signed), 'document')} signed" if key else ""
        files = count(report.files_checked, "file")
        print(f"{args.verify}: OK: signature {report.signature}; {files} match the manifest{docs}")
    return 0


def generate_key(args) -> int:
    from smtp_egress.errors import ConfigError
    from smtp_egress.signing import generate_key as generate

    from .values import naming

    if not args.generate_key:
        raise ConfigError("--generate-key: the path is empty; give the file to write the private key to")
    path = Path(args.generate_key)
    try:
        with naming("--generate-key"):
            pub = generate(path)
    except OSError as exc:
        raise ConfigError(f"--generate-key {args.generate_key[:200]!r}: {exc.strerror or exc}") from None
    print(
        f"wrote {path} (Ed25519 private key, mode 0600: keep it secret; use it with EGRESS_SIGNING_KEY={path}) "
        f"and {pub} (the public key: give it to whoever verifies)"
    )
    return 0


def list_formats(args) -> int:
    from smtp_egress.allowlists import FORMATS

    rows = [
        {"format": f.name, "file": f.filename, "what": f.summary, "provenance": f.provenance} for f in FORMATS.values()
    ]
    if args.json:
        print_json(rows)
    else:
        width, file_width = max(len(r["format"]) for r in rows), max(len(r["file"]) for r in rows)
        for r in rows:
            print(f"{r['format']:<{width}}  {r['file']:<{file_width}}  {r['what']}")
    return 0
