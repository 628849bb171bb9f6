"""``egress report`` (:mod:`smtp_egress.jobs.report`): the compliance record of every change to the IP lists
and every notice.

Per region: the list as it stands on the report's day, the announced changes still to take effect, and
the history of every change (announced ones from the ledger, planned ones flagged "not announced"): when
it was announced, when it took effect (a late announcement delays it: make before break), its notice
lead, how many workspaces were notified and how many deliveries failed or are pending, and every
short-notice exception with its reason. Flags mark what a reviewer should look at: late notice,
short-notice exception, not announced, no longer in the plan, delivery failed. Provenance: the plan's
path, sha256 and git commit, the ledger URL (password masked), the generation time and the version.

  --format md     GitHub-flavoured Markdown, for pasting into tickets (the default)
  --format html   one self-contained, printable page (inline CSS, nothing fetched)
  --format json   for auditors' tools; the shape is documented in egress/report/render.py

Without --format, the format follows the suffix of --out (.md, .html or .htm, .json); on stdout it is
Markdown. --out writes the file atomically. --at DATE describes the record as it stood at midnight UTC of
DATE (announcements made later are left out; delivery counts are always the ledger's current ones).
--since DATE keeps in the history only the changes announced or effective on or after DATE (a change
never announced: planned on or after DATE). The report never changes the ledger's records, and exits 0
whatever it finds: read its flags.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from smtp_egress.wording import count

from .common import add_at, add_db, add_plan, ledger_location, moment_for

SUFFIXES = {".md": "md", ".markdown": "md", ".html": "html", ".htm": "html", ".json": "json"}


def register(sub) -> None:
    p = sub.add_parser(
        "report",
        help="the compliance record: every change, its notice, its exceptions (html, md, json)",
        description=__doc__.split("\n\n", 1)[1].replace("``", ""),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_plan(p)
    add_db(p)
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument(
        "--format", choices=("html", "md", "json"), help="output format (default: from the suffix of --out, else md)"
    )
    fmt.add_argument("--json", dest="format", action="store_const", const="json", help="the same as --format json")
    p.add_argument("--out", metavar="FILE", help="write the report to FILE atomically instead of stdout")
    add_at(p)
    p.add_argument(
        "--since", metavar="DATE", help="history of changes announced or effective on or after DATE (YYYY-MM-DD)"
    )
    p.set_defaults(run=run)


def output_format(fmt: str | None, out: str | None) -> str:
    """--format if given; else the suffix of --out; else Markdown."""
    from smtp_egress.errors import ConfigError

    if fmt:
        return fmt
    if out is None:
        return "md"
    try:
        return SUFFIXES[Path(out).suffix.lower()]
    except KeyError:
        raise ConfigError(
            f"cannot tell the report format from --out {out!r}; name the file .html, .md or .json, "
            "or pass --format html|md|json"
        ) from None


def run(args) -> int:
    from smtp_egress.dates import utc_now
    from smtp_egress.jobs.report import ReportInputs, build
    from smtp_egress.report.render import render

    from .common import at_flag, load_plan
    from .values import day_value, output_file, write_output

    fmt = output_format(args.format, output_file(args.out))
    since = day_value(args.since, "--since") if args.since is not None else None
    at = moment_for(args.at, at_flag(args)) if args.at is not None else None
    load_plan(args)  # a bad plan is named by where its path came from
    inputs = ReportInputs(plan_path=args.plan, db_url=ledger_location(args), generated_at=utc_now(), at=at, since=since)
    report = build(inputs)
    text = render(report, fmt)
    if args.out is not None:
        write_output(args.out, text.encode("utf-8"))
        s = report.summary
        print(
            f"wrote {args.out} ({fmt}): {count(len(s.regions), 'region')}, {count(s.changes, 'change')}, "
            f"{count(s.flags, 'flag')}, {count(s.exceptions, 'short-notice exception')}, as of {report.day.isoformat()}"
            + ("; SIMULATED: the record of a simulation ledger" if report.provenance.simulated else "")
        )
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
    return 0
