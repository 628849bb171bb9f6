"""``egress domains``: customers' branded tracking domains.

``expected --workspace W [--format table|zone|json]`` prints the two records the workspace must add, for its
region (json: a list of ``{"name", "type", "value"}``, absolute names). ``verify [DOMAIN... | --workspace W |
--all]`` checks them in DNS and moves each workspace's state (:mod:`smtp_egress.jobs.domains_verify`; exit codes:
0 every workspace checked is verified, 7 a check failed, 8 a check was unknown and none failed, 6 a transition
notice was not delivered, 2 bad input). The platform's regional hosts derive from the region's stack file
(``smtp-egress:trackingDomain`` in ``stacks/Pulumi.<region>.yaml``), or ``EGRESS_TRACKING_DOMAIN`` for every region.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from .common import add_at, add_db, add_json, add_plan

TRACKING_DOMAIN_ENV = "EGRESS_TRACKING_DOMAIN"


def register(sub) -> None:
    from .domains_verify import add_verify_options

    p = sub.add_parser(
        "domains",
        help="the records customers add for branded tracking, and their verification",
        description="Customers' branded tracking domains: the CNAME and MX records each workspace must add, and "
        "their verification in DNS (README, 'Branded tracking domains').",
    )
    verbs = p.add_subparsers(dest="verb", metavar="VERB", required=True)
    exp = verbs.add_parser("expected", help="print the records a workspace must add")
    exp.add_argument("--workspace", metavar="ID", required=True, help="the workspace")
    exp.add_argument(
        "--format",
        choices=("table", "zone", "json"),
        default="table",
        help="a table (default), zone-file lines or JSON (a list of {name, type, value}, absolute names)",
    )
    ver = verbs.add_parser(
        "verify",
        help="check workspaces' records in DNS and record their state",
        description="Check the CNAME and MX of the workspaces named (by tracking or sending domain, --workspace, or "
        "--all) and move each one's state: a verified domain becomes failed only after definite failures on checks "
        "spanning at least 72 hours; SERVFAIL, timeouts and refusals are unknown and change nothing. Exit 0: every "
        "workspace checked is verified; 7: a check failed; 8: a check was unknown (and none failed); 6: a transition "
        "notice was not delivered; 2: bad input.",
    )
    add_verify_options(ver)
    add_at(ver)
    for q in (exp, ver):
        add_plan(q)
        add_db(q)
    add_json(ver)
    exp.set_defaults(run=_expected)
    ver.set_defaults(run=_verify)


def platform_domains(regions) -> dict[str, str]:
    """Region -> the platform's tracking domain: EGRESS_TRACKING_DOMAIN, else the region's stack file (a region
    whose stack file does not set it is left out); ConfigError naming a value that is not a domain name."""
    from pathlib import Path

    import yaml

    from smtp_egress.domains.names import BadDomainName, domain_name
    from smtp_egress.errors import ConfigError

    from .values import excerpt, setting

    env = setting(None, None, TRACKING_DOMAIN_ENV).value
    out: dict[str, str] = {}
    for region in sorted(set(regions)):
        source, value = TRACKING_DOMAIN_ENV, env
        if value is None:
            path = Path(__file__).resolve().parents[1] / "stacks" / f"Pulumi.{region}.yaml"
            source = f"smtp-egress:trackingDomain in {path}"
            try:
                config = (yaml.safe_load(path.read_text("utf-8")) or {}).get("config") or {}
            except (OSError, yaml.YAMLError):
                config = {}
            value = config.get("smtp-egress:trackingDomain")
            if not isinstance(value, str):
                continue  # a region without a stack: refused by the job if one of its workspaces is asked for
        try:
            out[region] = domain_name(value)
        except BadDomainName as exc:
            raise ConfigError(f"{source} {excerpt(value)} {exc}") from None
    return out


@contextlib.contextmanager
def named_workspace(workspace: str | None) -> Iterator[None]:
    """An unknown workspace's error names --workspace (the job's message names only the workspace)."""
    from smtp_egress.jobs.domains_verify import UnknownDomain

    try:
        yield
    except UnknownDomain as exc:
        if workspace is None:
            raise
        raise UnknownDomain(f"--workspace: {exc}") from None


def _regions(args) -> list[str]:
    from .common import load_plan

    return list(load_plan(args).regions)


def _expected(args) -> int:
    from smtp_egress.domains.expected import zone_line
    from smtp_egress.jobs.domains_expected import run_expected

    from .common import ledger_location, print_json

    with named_workspace(args.workspace):
        done = run_expected(ledger_location(args), args.workspace, platform_domains(_regions(args)))
    if args.format == "json":
        print_json([{"name": r.name, "type": r.type, "value": r.value} for r in done.records])
    elif args.format == "zone":
        for r in done.records:
            print(zone_line(r))
    else:
        from smtp_egress.domains.names import unicode_name

        d = done.domains
        shown = unicode_name(d.tracking_domain)
        also = f", tracking domain {shown}" if shown != d.tracking_domain else ""
        print(f"workspace {d.workspace_id} (region {d.region}{also}): add these two records")
        rows = [("NAME", "TYPE", "VALUE")] + [(r.name, r.type, r.value) for r in done.records]
        widths = [max(len(row[i]) for row in rows) for i in range(2)]
        for name, rtype, value in rows:
            print(f"{name:<{widths[0]}}  {rtype:<{widths[1]}}  {value}")
    return 0


def _verify(args) -> int:
    from .domains_verify import run

    with named_workspace(args.workspace):
        return run(args, platform_domains(_regions(args)))
