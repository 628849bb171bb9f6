"""``egress domains verify``: options, inputs and the report (human or ``--json``)."""

from __future__ import annotations

from smtp_egress.jobs.domains_verify import DEFAULT_CONCURRENCY, DEFAULT_TIMEOUT

MAX_CONCURRENCY = 2000


def add_verify_options(p) -> None:
    from .notify import add_channel_options

    p.add_argument("domains", nargs="*", metavar="DOMAIN", help="tracking or sending domains of the workspaces")
    p.add_argument("--workspace", metavar="ID", help="the workspace's domains")
    p.add_argument("--all", action="store_true", help="every workspace with branded domains (the scheduled run)")
    p.add_argument("--nameserver", metavar="HOST:PORT", help="ask this server (default: the system's resolver)")
    p.add_argument(
        "--authoritative", action="store_true", help="ask each of the zone's name servers directly; report disagreement"
    )
    p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="S", help="seconds per lookup")
    p.add_argument(
        "--concurrency", type=int, default=DEFAULT_CONCURRENCY, metavar="N", help="workspaces checked at once"
    )
    p.add_argument(
        "--notify", action="store_true", help="tell each workspace whose state changed, on its notice channels"
    )
    p.add_argument("--progress", action="store_true", default=None, help="a progress bar even off a terminal")
    add_channel_options(p)
    p.set_defaults(base_url=None, deadline=None)


def nameserver(text: str | None) -> tuple[str, int] | None:
    """HOST:PORT ([v6]:PORT) as (host, port); ConfigError naming --nameserver."""
    from smtp_egress.errors import ConfigError

    from .values import excerpt

    if text is None:
        return None
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"--nameserver {excerpt(text)} must be HOST:PORT, e.g. 127.0.0.1:53 or [::1]:5353")
    return host, int(port)


def run(args, platform: dict[str, str]) -> int:
    from smtp_egress.domains.names import BadDomainName, domain_name
    from smtp_egress.errors import ConfigError
    from smtp_egress.jobs.domains_verify import Selection, VerifyInputs, run_verify

    from .common import at_flag, ledger_location, run_moment
    from .notify import notice_settings
    from .values import excerpt

    given = [bool(args.domains), args.workspace is not None, args.all]
    if sum(given) != 1:
        raise ConfigError("name the workspaces to check: DOMAIN..., --workspace ID or --all (exactly one of them)")
    names = []
    for d in args.domains:
        try:
            names.append(domain_name(d))
        except BadDomainName as exc:
            raise ConfigError(f"DOMAIN {excerpt(d)} {exc}") from None
    if not 0 < args.timeout <= 60:
        raise ConfigError(f"--timeout {args.timeout:g} must be above 0 and at most 60 seconds")
    if not 0 < args.concurrency <= MAX_CONCURRENCY:
        raise ConfigError(f"--concurrency {args.concurrency} must be from 1 to {MAX_CONCURRENCY}")
    when = run_moment(args.at, at_flag(args))
    inputs = VerifyInputs(
        db=ledger_location(args),
        platform_domains=platform,
        selection=Selection(args.workspace, tuple(names), args.all),
        moment=when.moment,
        moment_option=when.option,
        nameserver=nameserver(args.nameserver),
        authoritative=args.authoritative,
        timeout=args.timeout,
        concurrency=args.concurrency,
        notices=notice_settings(args) if args.notify else None,
        progress=args.progress,
    )
    result = run_verify(inputs)
    render(result, args.json)
    return result.exit_code


def render(result, as_json: bool) -> None:
    from smtp_egress.dates import rfc3339

    from .common import print_json

    if as_json:
        print_json(
            {
                "checked_at": rfc3339(result.moment),
                "simulated": result.simulated,
                "workspaces": [_item(i) for i in result.items],
                "notices": None
                if result.notices is None
                else {"sent": result.notices.sent, "failed": result.notices.failed},
                "exit_code": result.exit_code,
            }
        )
        return
    for i in result.items:
        d = i.domains
        print(f"{d.workspace_id}: {i.check.status} ({d.tracking_domain}){_state_words(i)}")
        for r in i.check.records:
            found = ", ".join(r.found) if r.found else "nothing"
            print(f"  {r.expected.type} {r.expected.name} -> {r.expected.value}: {r.status}; found {found}")
            print(f"    {r.diagnosis}")
            for note in r.notes:
                print(f"    note: {note}")
    if result.notices is not None:
        print(f"transition notices: {result.notices.sent} sent, {result.notices.failed} failed")
        for problem in result.notices.errors[:20]:
            print(f"  {problem}")


def _state_words(i) -> str:
    from smtp_egress.dates import rfc3339

    if i.transition is not None:
        return f"; now {i.transition.state} (was {i.transition.previous or 'never checked'})"
    if i.state is None:
        return "; no state yet"
    fails = i.state.fails_at()
    extra = f", fails at {rfc3339(fails)} if still failing" if fails is not None else ""
    return f"; state {i.state.state} since {rfc3339(i.state.since)}{extra}"


def _item(i) -> dict:
    from smtp_egress.dates import rfc3339

    s = i.state
    return {
        "workspace_id": i.domains.workspace_id,
        "region": i.domains.region,
        "tracking_domain": i.domains.tracking_domain,
        "sending_domain": i.domains.sending_domain,
        "status": i.check.status,
        "state": None if s is None else s.state,
        "state_since": None if s is None else rfc3339(s.since),
        "failing_since": None if s is None or s.failing_since is None else rfc3339(s.failing_since),
        "transition": None if i.transition is None else {"from": i.transition.previous, "to": i.transition.state},
        "records": [
            {
                "name": r.expected.name,
                "type": r.expected.type,
                "expected": r.expected.value,
                "status": r.status,
                "found": list(r.found),
                "diagnosis": r.diagnosis,
                "notes": list(r.notes),
            }
            for r in i.check.records
        ],
    }
