"""``egress ledger``: create, inspect and migrate the ledger database's schema; adopt a published list.

  init      create a new ledger at this smtp-egress's schema revision: a real one, or with --simulation
            a simulation ledger (tests, demos, rehearsals), on which runs that record take a date option
            (--at) and everything made from it says it is simulated; a ledger already there is left
            alone (exit 0), unless it is of the other kind (exit 2: a ledger's kind is fixed)
  status    the ledger's kind, its schema revision and the one this smtp-egress needs; exits 0 when
            commands can use the ledger, 2 when they refuse it or there is none (the output says what to do)
  upgrade   migrate the ledger to this smtp-egress's revision, adopting a ledger made by release 0.1.0
            (before the schema was versioned); back the database up first. --sql prints the DDL for the
            URL's dialect from the ledger's revision to the head instead, changing nothing
  adopt     record the list a platform already publishes (--region R --published URL_OR_FILE, the classic
            {"ip_addresses": [...]} or our document) as the region's baseline: the plan's past-dated
            changes it reflects are in effect, not short notice; see egress ledger adopt --help

Only 'ledger init' and 'workspaces import' create a ledger; every other command refuses a missing one
(exit 2) and a ledger whose revision is not its own (exit 2), naming the command to run. A ledger is never
downgraded: a revision this smtp-egress does not know means a newer one wrote it.
"""

from __future__ import annotations

import argparse
import sys

from . import ledger_adopt
from .common import add_db, add_json, add_plan, ledger_location, print_json


def register(sub) -> None:
    p = sub.add_parser(
        "ledger",
        help="create, inspect or migrate the ledger (init, status, upgrade), or adopt a published list (adopt)",
        description=__doc__.split("\n\n", 1)[1].replace("``", ""),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    verbs = p.add_subparsers(dest="verb", metavar="VERB", required=True)
    init = verbs.add_parser(
        "init",
        help="create a new ledger (--simulation: a simulation ledger for tests and demos)",
        description="Create a new ledger at this smtp-egress's schema revision. A simulation ledger (--simulation) "
        "lets runs that record take a date option (--at DATE, never going back in time), and everything made "
        "from it says it is simulated; a real ledger records the real time only. The kind is fixed at creation.",
    )
    init.add_argument(
        "--simulation",
        action="store_true",
        help="a simulation ledger: dated recording runs allowed, everything made from it marked simulated",
    )
    status = verbs.add_parser("status", help="the ledger's kind and schema revision; exit 0 if usable, 2 if not")
    upgrade = verbs.add_parser(
        "upgrade",
        help="migrate the ledger to this smtp-egress's schema revision",
        description="Migrate the ledger to this smtp-egress's schema revision (back it up "
        "first), adopting a ledger of smtp-egress 0.1.0. All the migrations run "
        "in one transaction: on any error nothing is changed.",
    )
    for q in (init, status, upgrade):
        add_plan(q)  # only to find the project folder, and so the default ledger
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
    from smtp_egress.errors import ConfigError
    from smtp_egress.ledger import SIMULATION, Ledger
    from smtp_egress.masking import mask_url as masked
    from smtp_egress.migrations import SCHEMA_REVISION

    where = ledger_location(args)
    ledger = Ledger(where, create=True, simulation=args.simulation)
    try:
        created, kind = ledger.created, ledger.kind
    finally:
        ledger.close()
    url = masked(where.url)
    wanted = SIMULATION if args.simulation else "real"
    if kind != wanted:
        raise ConfigError(
            f"the ledger at {where.describe(url)} is a {kind} ledger, not a {wanted} one: a ledger's kind is fixed "
            f"when it is created. Point --db (or EGRESS_DB) at another database for a new {wanted} ledger"
        )
    if args.json:
        print_json({"url": url, "created": created, "revision": SCHEMA_REVISION, "kind": kind})
    elif created:
        print(f"created a new {kind} ledger at {url} (schema revision {SCHEMA_REVISION})")
    else:
        print(f"the {kind} ledger at {url} is already at schema revision {SCHEMA_REVISION}: nothing to do")
    return 0


def _status(args) -> int:
    import sqlalchemy as sa

    from smtp_egress.ledger import Ledger
    from smtp_egress.ledger_location import missing_message
    from smtp_egress.masking import mask_url as masked
    from smtp_egress.migrations import SCHEMA_REVISION, refusal

    where = ledger_location(args)
    url = where.url
    state, absent = _state(where)
    kind = None
    if state.usable:
        ledger = Ledger(where)
        try:
            kind = ledger.kind
        finally:
            ledger.close()
    action: str | None = None
    if absent:
        action = missing_message(where, masked(url), absent)
    elif not state.usable:
        action = str(refusal(state, sa.make_url(url)))
    if args.json:
        print_json(
            {
                "url": masked(url),
                "state": state.kind,
                "kind": kind,
                "revision": state.revision,
                "head": SCHEMA_REVISION,
                "usable": state.usable,
                "upgrade_needed": state.needs_upgrade,
                "action": action,
            }
        )
        return 0 if state.usable else 2
    found = {
        "empty": "no ledger yet",
        "current": f"a {kind} ledger, schema revision {state.revision}, this smtp-egress's: ready",
        "behind": f"schema revision {state.revision}, older than this smtp-egress's {SCHEMA_REVISION}: upgrade needed",
        "unversioned": "no schema revision (made by smtp-egress 0.1.0): upgrade needed",
        "ahead": f"schema revision {state.revision}, newer than this smtp-egress knows",
    }
    print(f"{masked(url)}: {found.get(state.kind, 'not an smtp-egress ledger')}")
    if action:
        print(action)
    return 0 if state.usable else 2


def _upgrade(args) -> int:
    from smtp_egress.errors import LedgerMissing
    from smtp_egress.ledger_location import missing_message
    from smtp_egress.masking import mask_url as masked
    from smtp_egress.migrations.upgrade import upgrade, upgrade_sql

    where = ledger_location(args)
    url = where.url
    _, absent = _state(where)
    if absent and (not args.sql or absent == NO_FILE):  # --sql on an empty database: the DDL that creates one
        raise LedgerMissing(missing_message(where, masked(url), absent))
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


NO_FILE, NO_TABLES = "the file does not exist", "the database holds no tables"


def _state(where):
    """The database's schema state, and why there is no ledger there (None: there is something)."""
    from smtp_egress.ledger import open_engine
    from smtp_egress.ledger_location import sqlite_file
    from smtp_egress.migrations import SchemaState, read_state

    path = sqlite_file(where.url)
    if path is not None and not path.is_file():
        return SchemaState("empty"), NO_FILE  # never create the file just to look at it
    engine = open_engine(where.url, where)
    try:
        state = read_state(engine)
    finally:
        engine.dispose()
    return state, NO_TABLES if state.kind == "empty" else None


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
