"""``egress notify``: notices come from a real address and link to a URL customers can open.

A From: that is not an address (``ip-notices@localhost``, a typo) is refused before anything is recorded or
sent, naming the flag or environment variable it came from; a loopback base URL and the default sender over
SMTP are warnings on every run."""

from __future__ import annotations

import email
import mailbox

import pytest

from smtp_egress.ledger import Ledger
from smtp_egress.scripts.cli import main

PLAN = """\
regions:
  us:
    - ip: 198.51.100.10
    - ip: 198.51.100.11
      active_from: 2026-12-10
"""
PUBLIC = "https://us.ips.example.com"


class Notify:
    """A ledger with one US workspace and the document published on 2026-11-26; calling it runs
    ``egress notify`` for that day into the Maildir ``outbox`` (announcing 198.51.100.11) and returns the exit code."""

    def __init__(self, tmp_path):
        (tmp_path / "plan.yaml").write_text(PLAN)
        (tmp_path / "ws.csv").write_text("workspace_id,region,email\nws-1,us,ops@customer.example\n")
        self.db = f"sqlite:///{tmp_path}/ledger.db"
        self.common = ["--plan", "plan.yaml", "--db", self.db]
        assert main(["ledger", "init", "--simulation", "--db", self.db]) == 0  # the runs are dated
        assert main(["workspaces", "import", "ws.csv", *self.common]) == 0
        assert main(["publish", "--region", "us", "--at", "2026-11-26", "--out", "published.json", *self.common]) == 0

    def __call__(self, *extra: str) -> int:
        run = ["notify", "--region", "us", "--published", "published.json", "--today", "2026-11-26"]
        return main([*run, "--outbox", "outbox", *self.common, *extra])


@pytest.fixture
def notify(tmp_path, monkeypatch) -> Notify:
    monkeypatch.chdir(tmp_path)
    for var in ("EGRESS_SMTP_URL", "EGRESS_DB", "EGRESS_OUTBOX", "EGRESS_FROM", "EGRESS_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    return Notify(tmp_path)


def outbox(tmp_path) -> list[email.message.Message]:
    return list(mailbox.Maildir(str(tmp_path / "outbox"), create=False)) if (tmp_path / "outbox").exists() else []


def announcements(db: str) -> int:
    ledger = Ledger(db)
    try:
        return len(ledger.announcements())
    finally:
        ledger.close()


@pytest.mark.parametrize(
    "value",
    ["ip-notices@localhost", "ip-notices", "IP notices <ip-notices@localhost>", "a@b.example\nBcc: x@y.example"],
)
def test_a_from_that_is_not_an_address_is_refused_naming_the_flag_before_anything_is_recorded(
    notify, tmp_path, capsys, value
):
    assert notify("--from", value, "--base-url", PUBLIC) == 2
    err = capsys.readouterr().err
    assert f"--from {value!r}" in err and "Traceback" not in err
    assert announcements(notify.db) == 0 and outbox(tmp_path) == []


def test_a_bad_from_in_the_environment_is_refused_naming_the_variable(notify, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("EGRESS_FROM", "notices at platform dot example")
    assert notify("--base-url", PUBLIC) == 2
    err = capsys.readouterr().err
    assert "EGRESS_FROM 'notices at platform dot example' is not an address like" in err
    assert announcements(notify.db) == 0


def test_a_valid_from_is_the_notices_from_and_a_public_base_url_gives_no_warning(notify, tmp_path, capsys):
    sender = "Example IP notices <ip-notices@platform.example>"
    assert notify("--from", sender, "--base-url", PUBLIC) == 0
    assert "warning" not in capsys.readouterr().err
    (message,) = outbox(tmp_path)
    assert message["From"] == sender and PUBLIC in message.as_string()


@pytest.mark.parametrize(
    "extra, env, shown",
    [
        ((), {}, "'http://127.0.0.1:8080' (the default)"),
        (("--base-url", "http://localhost:8080"), {}, "'http://localhost:8080' (--base-url)"),
        ((), {"EGRESS_BASE_URL": "http://[::1]:8080/"}, "'http://[::1]:8080/' (EGRESS_BASE_URL)"),
    ],
)
def test_a_loopback_base_url_is_a_warning_on_every_run(notify, capsys, monkeypatch, extra, env, shown):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for _ in range(2):  # the run that announces, then one with nothing to do
        assert notify("--from", "ip-notices@platform.example", *extra) == 0
        err = capsys.readouterr().err
        assert f"warning: notices link to {shown}, a loopback address customers cannot open" in err


def test_the_default_sender_over_smtp_is_a_warning(notify, capsys, smtp_server):
    server = smtp_server("plain")
    assert notify("--base-url", PUBLIC, "--smtp-url", server.url("smtp")) == 0
    err = capsys.readouterr().err
    assert "warning: notices are sent From 'smtp-egress IP notices <ip-notices@localhost>'" in err
    assert [m.mail_from for m in server.handler.messages] == ["ip-notices@localhost"]
