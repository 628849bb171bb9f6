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

--region R --upload s3://BUCKET/PREFIX --base-url URL uploads the region's part of that tree (the document,
.txt, .sig when signed, the changes feed of the region) to BUCKET under PREFIX, the root of the region's host
(the stacks' publisher: s3://BUCKET/R), only the objects whose bytes or headers changed, each after the ones it
refers to, once every file passed the daily job's strict checks; it deletes objects that left the tree only
after that, then invalidates the changed paths with --invalidate DISTRIBUTION_ID (CloudFront). --endpoint-url
URL: an S3- and CloudFront-compatible endpoint. Credentials: boto3's chain (environment, ~/.aws, the task
role). Exit 2: a missing bucket or distribution, no credentials, access denied; exit 3: the endpoint cannot be
reached or fails (objects written stay, nothing was deleted: rerun). --json prints the result. --at does not
apply: the list is uploaded as it stands now.

--verify SOURCE --public-key PEM checks signed documents: a static tree (every region), a document file
(and FILE.sig), or a URL (and the same URL with .sig appended to its path); exit 3 when a signature is
missing or does not match. OpenSSL 3 checks one the same way:
  openssl pkeyutl -verify -pubin -inkey smtp-egress.pub -rawin -in ip_addresses -sigfile ip_addresses.sig
"""

from __future__ import annotations

import argparse
import sys

from smtp_egress.wording import count

from .common import add_at, add_db, add_plan, ledger_location, moment_for


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
        help="with --static-dir or --upload: the tree's public URL, for links in changes.atom (env EGRESS_BASE_URL)",
    )
    p.add_argument(
        "--signing-key",
        metavar="PEM",
        help="with --static-dir or --upload: Ed25519 private key signing the documents (env EGRESS_SIGNING_KEY)",
    )
    p.add_argument("--public-key", metavar="PEM", help="with --verify: the platform's Ed25519 public key")
    p.add_argument(
        "--upload",
        metavar="S3_URL",
        help="with --region: upload the region's tree to s3://BUCKET/PREFIX (PREFIX: the host's root), only what "
        "changed",
    )
    p.add_argument("--endpoint-url", metavar="URL", help="with --upload: an S3/CloudFront-compatible endpoint")
    p.add_argument(
        "--invalidate", metavar="DISTRIBUTION_ID", help="with --upload: invalidate the changed paths on CloudFront"
    )
    p.add_argument("--json", action="store_true", help="with --upload: print the result as JSON")
    p.set_defaults(run=run)


def run(args) -> int:
    from smtp_egress.errors import ConfigError
    from smtp_egress.jobs.publish import render_region, write_static_tree

    from .common import load_plan, refuse, region
    from .values import directory, http_url, output_file, private_key, setting, write_output

    if args.upload is None:
        refuse(
            "a publish without --upload",
            {"--endpoint-url": args.endpoint_url, "--invalidate": args.invalidate, "--json": args.json},
        )
    elif args.region is None:
        raise ConfigError("--upload needs --region R (not --static-dir or --verify): each region has its own host")
    else:
        from .publish_upload import run as upload

        return upload(args, _inputs(args))
    if args.verify is not None:
        return verify(args)
    if args.static_dir is not None:
        for flag, value in (("--format", args.format), ("--out", args.out)):
            if value is not None:
                raise ConfigError(f"{flag} applies to --region only; --static-dir writes every file and format")
        if args.public_key is not None:
            raise ConfigError("--public-key applies to --verify only")
        root = directory(args.static_dir, "--static-dir")
        base = setting(args.base_url, "--base-url", "EGRESS_BASE_URL")
        if base.value is None:
            raise ConfigError(
                "--static-dir needs --base-url (or EGRESS_BASE_URL), the http(s) URL the tree is served from, for "
                "the links in changes.atom"
            )
        base_url = http_url(base, "base URL")
        inputs = _inputs(args)
        key = private_key(setting(args.signing_key, "--signing-key", "EGRESS_SIGNING_KEY"))
        load_plan(args)  # a bad plan is named by where its path came from
        try:
            tree = write_static_tree(inputs, root, base_url, key)
        except OSError as exc:  # a file of the tree that cannot be replaced (a directory in its way)
            raise ConfigError(f"--static-dir: cannot write into {str(root)[:200]!r}: {exc.strerror or exc}") from None
        for path in tree.files:
            print(f"wrote {path}")
        print(
            f"wrote {tree.headers} (Content-Type and Cache-Control of {count(len(tree.files), 'file')}, "
            "for the uploader)"
        )
        if key is None:
            print("not signed (no --signing-key / EGRESS_SIGNING_KEY)")
        if tree.simulated:
            print('SIMULATED: made from a simulation ledger; the documents say "simulated": true. Never upload them')
        return 0
    if args.public_key is not None:
        raise ConfigError("--public-key applies to --verify only")
    if args.signing_key is not None:
        raise ConfigError("--signing-key applies to --static-dir only")
    refuse("--region", {"--base-url": args.base_url}, " (a region's document links nowhere; --static-dir uses it)")
    output_file(args.out)
    inputs = _inputs(args)
    region(load_plan(args), args.region)
    rendered = render_region(inputs, args.region)
    data = rendered.txt_bytes if args.format == "txt" else rendered.json_bytes
    if args.out is not None:
        write_output(args.out, data)
        doc = rendered.document
        print(
            f"wrote {args.out}: region {doc['region']}, {count(len(doc['ip_addresses']), 'address')}, "
            f"{count(len(doc['upcoming']), 'upcoming change')}, sha256 {doc['sha256']}"
            + (" (SIMULATED: from a simulation ledger)" if doc.get("simulated") else "")
        )
    else:
        sys.stdout.write(data.decode("utf-8"))
        sys.stdout.flush()
    return 0


def _inputs(args):
    from smtp_egress.jobs.publish import PublishInputs

    from .common import at_flag

    return PublishInputs(plan_path=args.plan, db_url=ledger_location(args), moment=moment_for(args.at, at_flag(args)))


def verify(args) -> int:
    from smtp_egress.errors import ConfigError
    from smtp_egress.jobs.verify_published import verify_published

    from .common import refuse
    from .values import Setting, naming, public_key, source_url

    if args.public_key is None:
        raise ConfigError("--verify needs --public-key PEM, the platform's Ed25519 public key (obtained from it)")
    refuse(
        "--verify",
        {
            "--format": args.format,
            "--out": args.out,
            "--signing-key": args.signing_key,
            "--at": args.at,
            "--base-url": args.base_url,
            "--plan": args.plan if args.plan_from == "--plan" else None,
            "--db": args.db,
        },
    )
    source = source_url(Setting(args.verify, "--verify"), "source to verify")
    key = public_key(Setting(args.public_key, "--public-key"))
    try:
        with naming("--verify"):
            docs = verify_published(source, key)
    except OSError as exc:  # a path no file system takes (too long)
        raise ConfigError(f"--verify {source[:200]!r}: {exc.strerror or exc}") from None
    for doc in docs:
        print(
            f"{doc.source}: OK: signature {doc.signature} matches; region {doc.region}, "
            f"{count(doc.addresses, 'address')}, sha256 of the .txt list {doc.sha256}"
        )
    return 0
