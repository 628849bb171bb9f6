"""``egress publish`` (:mod:`smtp_egress.jobs.publish`): the published document as it stands at a moment,
on stdout, in a file or as a static tree.

``--region R`` prints the region's document (``--format json``, the default, or ``txt``), or writes it
with ``--out FILE``. ``--static-dir DIR`` writes, for object storage behind a CDN, the whole tree:

  DIR/<region>/v1/info/ip_addresses      JSON (application/json); DIR/<region>/ is the root of the
                                         region's host, one region per host as in the original API
  DIR/<region>/v1/info/ip_addresses.txt  the address list (text/plain; charset=utf-8)
  DIR/v1/info/ip_addresses/changes.json  every announced change of every region (application/json)
  DIR/v1/info/ip_addresses/changes.atom  the same as an Atom feed (application/atom+xml); its links
                                         use --base-url, and point at /v1/info/ip_addresses?region=R,
                                         which the CDN maps to /<region>/v1/info/ip_addresses
  DIR/<region>/v1/info/ip_addresses.sig  with a signing key (--signing-key PEM or env EGRESS_SIGNING_KEY,
                                         an Ed25519 private key): the raw 64-byte Ed25519 signature of
                                         the document's exact bytes (application/octet-stream)
  DIR/headers.json                       {path: {"Content-Type": ..., "Cache-Control": ...}} for
                                         every file above, for the uploader (not itself uploaded)

Every file is written atomically (a temp file in the same directory, fsync, rename), headers.json last,
so a crash never leaves a half-written file (at most a stray .NAME.*.tmp: upload only the files that
headers.json lists). A region whose list would be empty is refused (exit 3).

--verify SOURCE --public-key PEM checks signed documents: a static tree (every region), a document file
(and FILE.sig), or a URL (and the same URL with .sig appended to its path); exit 3 when a signature is
missing or does not match. OpenSSL 3 checks one the same way:
  openssl pkeyutl -verify -pubin -inkey smtp-egress.pub -rawin -in ip_addresses -sigfile ip_addresses.sig
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from smtp_egress.files import write_atomic

from .common import add_at, add_db, add_plan, env_or, ledger_location, moment_for


def register(sub) -> None:
    p = sub.add_parser(
        "publish",
        help="print or write the published list (one region, or the static tree)",
        description=__doc__.split("\n\n", 1)[1].replace("``", ""),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_plan(p)
    add_db(p)
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--region", metavar="REGION", help="publish this region's document")
    what.add_argument("--static-dir", metavar="DIR", help="write the static tree for every region into DIR")
    what.add_argument(
        "--verify", metavar="SOURCE", help="check signed documents: a static tree, a document file or a URL"
    )
    add_at(p)
    p.add_argument("--format", choices=("json", "txt"), help="with --region: json (default) or txt")
    p.add_argument("--out", metavar="FILE", help="with --region: write to FILE atomically instead of stdout")
    p.add_argument(
        "--base-url",
        metavar="URL",
        help="with --static-dir: the public URL of the tree, for links in changes.atom (env EGRESS_BASE_URL)",
    )
    p.add_argument(
        "--signing-key",
        metavar="PEM",
        help="with --static-dir: Ed25519 private key signing each region's document (env EGRESS_SIGNING_KEY)",
    )
    p.add_argument("--public-key", metavar="PEM", help="with --verify: the platform's Ed25519 public key")
    p.set_defaults(run=run)


def run(args) -> int:
    from smtp_egress.errors import ConfigError
    from smtp_egress.jobs.publish import PublishInputs, render_region, write_static_tree

    if args.verify:
        return verify(args)
    if args.public_key is not None:
        raise ConfigError("--public-key applies to --verify only")
    inputs = PublishInputs(plan_path=args.plan, db_url=ledger_location(args), moment=moment_for(args.at))
    if args.static_dir:
        from smtp_egress.signing import load_private_key

        base_url = env_or(args.base_url, "EGRESS_BASE_URL")
        for flag, value in (("--format", args.format), ("--out", args.out)):
            if value is not None:
                raise ConfigError(f"{flag} applies to --region only; --static-dir writes every file and format")
        if not base_url or not base_url.startswith(("https://", "http://")):
            raise ConfigError(
                f"--static-dir needs --base-url (or EGRESS_BASE_URL), the http(s) URL the tree is "
                f"served from, for the links in changes.atom; got {base_url!r}"
            )
        key_path = env_or(args.signing_key, "EGRESS_SIGNING_KEY")
        key = load_private_key(Path(key_path)) if key_path else None
        tree = write_static_tree(inputs, Path(args.static_dir), base_url, key)
        for path in tree.files:
            print(f"wrote {path}")
        print(f"wrote {tree.headers} (Content-Type and Cache-Control of {len(tree.files)} files, for the uploader)")
        if key is None:
            print("not signed (no --signing-key / EGRESS_SIGNING_KEY)")
        if tree.simulated:
            print('SIMULATED: made from a simulation ledger; the documents say "simulated": true. Never upload them')
        return 0
    if args.signing_key is not None:
        raise ConfigError("--signing-key applies to --static-dir only")
    rendered = render_region(inputs, args.region)
    data = rendered.txt_bytes if args.format == "txt" else rendered.json_bytes
    if args.out:
        write_atomic(Path(args.out), data)
        doc = rendered.document
        print(
            f"wrote {args.out}: region {doc['region']}, {len(doc['ip_addresses'])} addresses, "
            f"{len(doc['upcoming'])} upcoming changes, sha256 {doc['sha256']}"
            + (" (SIMULATED: from a simulation ledger)" if doc.get("simulated") else "")
        )
    else:
        sys.stdout.write(data.decode("utf-8"))
        sys.stdout.flush()
    return 0


def verify(args) -> int:
    from smtp_egress.errors import ConfigError
    from smtp_egress.jobs.verify_published import verify_published
    from smtp_egress.signing import load_public_key

    if not args.public_key:
        raise ConfigError("--verify needs --public-key PEM, the platform's Ed25519 public key (obtained from it)")
    for flag in ("--format", "--out", "--signing-key", "--at", "--base-url"):
        if getattr(args, flag[2:].replace("-", "_")) is not None:
            raise ConfigError(f"{flag} does not apply to --verify")
    for doc in verify_published(args.verify, load_public_key(Path(args.public_key))):
        print(
            f"{doc.source}: OK: signature {doc.signature} matches; region {doc.region}, {doc.addresses} addresses, "
            f"sha256 of the .txt list {doc.sha256}"
        )
    return 0
