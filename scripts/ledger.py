"""``egress ledger``: create, inspect and migrate the ledger database's schema; adopt a published list.

  init      create a new ledger at this smtp-egress's schema revision (any command also does this in an
            empty database); a ledger already at that revision is left alone (exit 0)
  status    the ledger's schema revision and the one this smtp-egress needs; exits 0 when commands can
            use the ledger (at that revision, or empty), 2 when they refuse it (the output says what to do)
  upgrade   migrate the ledger to this smtp-egress's revision, adopting a ledger made by release 0.1.0
            (before the schema was versioned); back the database up first. --sql prints the DDL for the
            URL's dialect from the ledger's revision to the head instead, changing nothing
  adopt     record the list a platform already publishes (--region R --published URL_OR_FILE, the classic
            {"ip_addresses": [...]} or our document) as the region's baseline: the plan's past-dated
            changes it reflects are in effect, not short notice; see egress ledger adopt --help

Every other command refuses a ledger whose revision is not its own (exit 2), naming the command to run.
A ledger is never downgraded: a revision this smtp-egress does not know means a newer one wrote it.
"""

from __future__ import annotations

import argparse
import sys

from . import ledger_adopt
from .common import add_db, add_json, print_json


def register(sub) -> None:
    p = sub.add_parser(
        "ledger",
        help="create, inspect or migrate the ledger (init, status, upgrade), or adopt a published list (adopt)",
        description=__doc__.split("\n\n", 1)[1].replace("``", ""),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    verbs = p.add_subparsers(dest="verb", metavar="VERB", required=True)
    init = verbs.add_parser("init", help="create a new ledger at this smtp-egress's schema revision")
    status = verbs.add_parser("status", help="the ledger's schema revision; exit 0 if usable, 2 if not")
    upgrade = verbs.add_parser(
        "upgrade",
        help="migrate the ledger to this smtp-egress's schema revision",
        description="Migrate the ledger to this smtp-egress's schema revision (back it up "
        "first), adopting a ledger of smtp-egress 0.1.0. All the migrations run "
        "in one transaction: on any error nothing is changed.",
    )
    for q in (init, status, upgrade):
        add_db(q)
        q.set_defaults(run=run)
    add_json(init)
    add_json(status)
    ledger_adopt.register(verbs)
    verbs.choices["adopt"].set_defaults(run=ledger_adopt.run)
    out = upgrade.add_mutually_exclusive_group()
    add_json(out)
    out.add_argument(
        "--sql",
        action="store_true",
        help="print the DDL from the ledger's revision to the head for review (changes nothing)",
    )


def run(args) -> int:
    return {"init": _init, "status": _status, "upgrade": _upgrade}[args.verb](args)


def _init(args) -> int:
    from smtp_egress.ledger import database_url, metadata, open_engine
    from smtp_egress.migrations import SCHEMA_REVISION, create_at_head, masked, refusal

    url = database_url(args.db)
    engine = open_engine(url)
    try:
        found = create_at_head(engine, metadata)
    finally:
        engine.dispose()
    if found.kind not in ("empty", "current"):
        raise refusal(found, engine.url)
    created = found.kind == "empty"
    if args.json:
        print_json({"url": masked(url), "created": created, "revision": SCHEMA_REVISION})
    elif created:
        print(f"created a new ledger at {masked(url)} (schema revision {SCHEMA_REVISION})")
    else:
        print(f"the ledger at {masked(url)} is already at schema revision {SCHEMA_REVISION}: nothing to do")
    return 0


def _status(args) -> int:
    from smtp_egress.ledger import open_engine
    from smtp_egress.migrations import SCHEMA_REVISION, SchemaState, masked, read_state, refusal

    url = _url(args.db)
    absent = _missing_sqlite_file(url)
    engine = open_engine(url)
    try:
        state = SchemaState("empty") if absent else read_state(engine)
    finally:
        engine.dispose()
    action = None if state.usable else str(refusal(state, engine.url))
    if args.json:
        print_json(
            {
                "url": masked(url),
                "state": state.kind,
                "revision": state.revision,
                "head": SCHEMA_REVISION,
                "usable": state.usable,
                "upgrade_needed": state.needs_upgrade,
                "action": action,
            }
        )
        return 0 if state.usable else 2
    found = {
        "empty": "empty: no ledger yet ('egress ledger init', or the first command, creates it)",
        "current": f"schema revision {state.revision}, this smtp-egress's: ready",
        "behind": f"schema revision {state.revision}, older than this smtp-egress's {SCHEMA_REVISION}: upgrade needed",
        "unversioned": "no schema revision (made by smtp-egress 0.1.0): upgrade needed",
        "ahead": f"schema revision {state.revision}, newer than this smtp-egress knows",
    }
    print(f"{masked(url)}: {found.get(state.kind, 'not an smtp-egress ledger')}")
    if action:
        print(action)
    return 0 if state.usable else 2


def _upgrade(args) -> int:
    from smtp_egress.errors import ConfigError
    from smtp_egress.migrations import masked
    from smtp_egress.migrations.upgrade import upgrade, upgrade_sql

    url = _url(args.db)
    if _missing_sqlite_file(url):
        raise ConfigError(
            f"no ledger at {masked(url)!r}: the file does not exist; 'egress ledger init' creates a new "
            "one, or pass --db URL (or set EGRESS_DB) to the existing ledger"
        )
    if args.sql:
        result = upgrade_sql(url, sys.stdout)
        if result.changed:
            print(
                f"egress ledger upgrade --sql: the SQL above {_what_it_does(result)}; run it as one transaction. "
                "Nothing was changed",
                file=sys.stderr,
            )
        return 0
    result = upgrade(url)
    if args.json:
        print_json(
            {
                "url": result.url,
                "found": result.found,
                "from": result.from_revision,
                "to": result.to_revision,
                "changed": result.changed,
            }
        )
    elif not result.changed:
        print(f"the ledger at {result.url} is already at schema revision {result.to_revision}: nothing to do")
    else:
        print(_what_it_does(result, done=True))
    return 0


def _url(flag_value: str | None) -> str:
    from smtp_egress.ledger import DEFAULT_DB

    return flag_value or f"sqlite:///{DEFAULT_DB}"


def _missing_sqlite_file(url: str) -> bool:
    from pathlib import Path

    import sqlalchemy as sa

    try:
        parsed = sa.make_url(url)
    except (sa.exc.ArgumentError, ValueError):
        return False  # opening it names the bad URL
    return (
        parsed.get_backend_name() == "sqlite"
        and parsed.database not in (None, "", ":memory:")
        and not Path(parsed.database).is_file()
    )


def _what_it_does(result, done: bool = False) -> str:
    """What an upgrade did (``done``), or what its SQL does."""
    verbs = ("created", "adopted", "upgraded") if done else ("creates", "adopts", "upgrades")
    if result.found == "empty":
        return f"{verbs[0]} the ledger at {result.url}, schema revision {result.to_revision} (the database was empty)"
    if result.found == "unversioned":
        return (
            f"{verbs[1]} the unversioned ledger of smtp-egress 0.1.0 at {result.url} (its tables checked) as "
            f"schema revision {result.to_revision}"
        )
    return f"{verbs[2]} the ledger at {result.url} from schema revision {result.from_revision} to {result.to_revision}"
