"""``egress publish --region R --upload s3://BUCKET/PREFIX`` (:mod:`smtp_egress.jobs.publish_upload`): check the
flags, run the upload, print what was uploaded, deleted and invalidated (``--json``: the result as JSON)."""

from __future__ import annotations

import dataclasses

from smtp_egress.wording import count

from .common import print_json, refuse


def run(args, inputs) -> int:
    from smtp_egress.errors import ConfigError, RealClockOnly
    from smtp_egress.jobs.publish_upload import UploadInputs, upload_region

    from .common import at_flag, load_plan, region
    from .values import http_url, private_key, setting

    refuse("--upload", {"--format": args.format, "--out": args.out, "--public-key": args.public_key})
    target = upload_target(args)
    bucket = target.bucket
    if args.at is not None:  # a list of another day would drop addresses that can send, or add unattached ones
        raise RealClockOnly(
            f"{at_flag(args)} does not apply to --upload: customers read the list as it stands now, so it is "
            "uploaded as it stands now (render another day with --region R --at DATE, without --upload)"
        )
    base = setting(args.base_url, "--base-url", "EGRESS_BASE_URL")
    if base.value is None:
        raise ConfigError(
            "--upload needs --base-url (or EGRESS_BASE_URL), the public http(s) URL of the region's host, for the "
            "links in changes.atom"
        )
    key = private_key(setting(args.signing_key, "--signing-key", "EGRESS_SIGNING_KEY"))
    region(load_plan(args), args.region)
    result = upload_region(UploadInputs(inputs, args.region, target, http_url(base, "base URL"), key))
    if args.json:
        print_json(dataclasses.asdict(result) | {"changed": result.changed})
        return 0
    for key_ in result.uploaded:
        print(f"uploaded s3://{bucket}/{key_}")
    for key_ in result.deleted:
        print(f"deleted s3://{bucket}/{key_} (no longer in the tree)")
    if result.invalidated:
        print(
            f"invalidated {count(len(result.invalidated), 'path')} on distribution {args.invalidate} "
            f"(invalidation {result.invalidation_id}): {' '.join(result.invalidated)}"
        )
    elif args.invalidate is not None:
        print(f"nothing to invalidate on distribution {args.invalidate}")
    state = (
        "up to date: nothing uploaded" if not result.changed else f"{count(len(result.uploaded), 'object')} uploaded"
    )
    print(
        f"{result.target}: {state}, {count(len(result.unchanged), 'object')} unchanged; region {result.region}, "
        f"{count(result.addresses, 'address')}, sha256 {result.sha256}, {'signed' if result.signed else 'not signed'}; "
        f"{count(result.requests, 'request')}"
    )
    return 0


def upload_target(args):
    """The checked ``--upload s3://BUCKET/PREFIX``, ``--endpoint-url`` and ``--invalidate`` (an UploadTarget);
    ConfigError naming the flag of a bad value."""
    from smtp_egress.errors import ConfigError
    from smtp_egress.jobs.publish_upload import UploadTarget, parse_target

    from .values import Setting, http_url, naming

    with naming("--upload"):
        bucket, prefix = parse_target(args.upload)
    if args.endpoint_url is not None:
        http_url(Setting(args.endpoint_url, "--endpoint-url"), "S3 endpoint")
    if args.invalidate is not None and not _distribution_id(args.invalidate):
        raise ConfigError(
            f"--invalidate {args.invalidate[:40]!r} is not a CloudFront distribution ID (letters and digits, "
            "e.g. E2QWRUHAPOMQZL: the publisher's distribution_id)"
        )
    return UploadTarget(bucket, prefix, args.endpoint_url, args.invalidate)


def _distribution_id(text: str) -> bool:
    return 0 < len(text) <= 40 and text.isascii() and text.isalnum()
