"""``egress smtp``: each workspace's own SMTP servers: ``add``, ``list``, ``remove``, ``import``, ``test``, ``keygen``.

A password is read from a file (``--password-file F``, or an import file's ``password_file`` column), never from
the command line, and sealed with the key of ``EGRESS_SMTP_KEY_FILE`` (``egress smtp keygen --out F`` makes one)
or, in production, KMS (``EGRESS_SMTP_KMS_KEY``, region ``EGRESS_REGION``). ``EGRESS_SMTP_ALLOW_PRIVATE=1`` lets
tests and labs use loopback and private addresses. ``test`` exits 6 when a step failed (the report says which).
"""

from __future__ import annotations

import argparse
import os

from .common import add_db, add_json

PROBE_FAILED = 6  # smtp_egress.errors.DELIVERY_INCOMPLETE: mail through this server would not be delivered


def register(sub) -> None:
    p = sub.add_parser(
        "smtp",
        help="add, list, remove, import or test workspaces' own SMTP servers",
        description="Manage each workspace's own SMTP servers. Passwords are sealed with the key file of "
        "EGRESS_SMTP_KEY_FILE or the KMS key of EGRESS_SMTP_KMS_KEY; EGRESS_SMTP_ALLOW_PRIVATE=1 allows "
        "loopback and private addresses (tests and labs only).",
    )
    verbs = p.add_subparsers(dest="verb", metavar="VERB", required=True)
    add = verbs.add_parser("add", help="add a server to a workspace", description="Check and save one server.")
    _server_flags(add, workspace=True)
    add.add_argument("--campaign-types", metavar="A,B", help="the campaign types it serves (comma-separated)")
    add.add_argument("--default", action="store_true", help="make it the workspace's default server")
    ls = verbs.add_parser("list", help="list the servers (never a password)")
    ls.add_argument("--workspace", metavar="W", help="only this workspace's servers")
    rm = verbs.add_parser("remove", help="remove a server of a workspace")
    rm.add_argument("--workspace", metavar="W", required=True)
    rm.add_argument("--server", metavar="HOST:PORT", required=True, help="the server's id (egress smtp list)")
    imp = verbs.add_parser(
        "import",
        help="insert or update servers from a CSV or JSON file, all or nothing",
        description="Columns: workspace_id,host,port[,security,username,password_file,certificate,campaign_types,"
        "default]. A password column is refused: name a password_file (relative to FILE's folder) instead.",
    )
    imp.add_argument("file", metavar="FILE")
    test = verbs.add_parser(
        "test",
        help="walk DNS, TCP, banner, EHLO, TLS, certificate, AUTH and MAIL FROM with a server (nothing is sent)",
        description="Test a stored server (--workspace W --server HOST:PORT) or one given by --host/--port: says "
        f"which step failed and what to change; exits {PROBE_FAILED} when one did.",
    )
    _server_flags(test, workspace=False)
    test.add_argument("--server", metavar="HOST:PORT", help="a stored server of --workspace")
    test.add_argument("--from", dest="mail_from", metavar="ADDR", default="", help="MAIL FROM (default: <>)")
    test.add_argument("--timeout", metavar="SECONDS", default="10", help="for each step (default 10)")
    keygen = verbs.add_parser("keygen", help="make a key file for EGRESS_SMTP_KEY_FILE (mode 0600)")
    keygen.add_argument("--out", metavar="FILE", required=True)
    for q in (add, ls, rm, imp, test):
        add_db(q)
    for q in (add, ls, imp, test):
        add_json(q)
    for q in (add, ls, rm, imp, test, keygen):
        q.set_defaults(run=run)


def _server_flags(parser: argparse.ArgumentParser, *, workspace: bool) -> None:
    parser.add_argument("--workspace", metavar="W", required=workspace, help="the workspace (egress workspaces list)")
    parser.add_argument("--host", metavar="H", required=workspace, help="host name or address of the server")
    parser.add_argument("--port", metavar="P", required=workspace, help="465, 587 or 2525 (never 25)")
    parser.add_argument("--security", metavar="implicit-tls|starttls", help="implied by 465, 587 and 2525")
    parser.add_argument("--username", metavar="U", help="the AUTH user name")
    parser.add_argument("--password-file", metavar="F", help="a file holding the password on its first line")
    parser.add_argument("--password", nargs="?", action=_NoPassword, help=argparse.SUPPRESS)
    parser.add_argument(
        "--certificate", metavar="verify|fingerprint:SHA256", help="verify (default) or pin a self-signed certificate"
    )


class _NoPassword(argparse.Action):
    """``--password``: refused without echoing the value (argparse would quote it as an unknown argument)."""

    def __call__(self, parser, namespace, values, option_string=None):
        parser.error(
            "a password is never given on the command line (ps and the shell history would show it): "
            "put it in a file readable only by you and give --password-file F"
        )


def run(args) -> int:
    from . import smtp_verbs

    return smtp_verbs.VERBS[args.verb](args)


def allow_private() -> bool:
    from smtp_egress.smtp.guard import ALLOW_PRIVATE_ENV

    return os.environ.get(ALLOW_PRIVATE_ENV, "") == "1"


def keyring():
    """The keyring of the environment (EGRESS_SMTP_KMS_KEY wins over EGRESS_SMTP_KEY_FILE)."""
    from smtp_egress.smtp.keyring import keyring_from_env

    return keyring_from_env(os.environ)
