"""The notice-channel registry: every channel declares what the rest of the code reads from it (a new channel
is one module), and the fan-out, the workspaces file and the stack secrets follow the registry."""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from smtp_egress.dates import UTC
from smtp_egress.errors import ConfigError, DeliveryError, InputError
from smtp_egress.ledger import Delivery, Ledger, Workspace
from smtp_egress.notices import channels as registry
from smtp_egress.notices.channels import CHANNELS, Channel, Sender, stack_secrets
from smtp_egress.notices.channels.base import Streak, mask_secret_url, url_problem
from smtp_egress.notices.fanout import Channels, deliver
from smtp_egress.plan import parse_plan
from smtp_egress.workspaces import BASE, HEADER, read_workspaces

README = (Path(__file__).parents[2] / "README.md").read_text()
EVERY = pytest.mark.parametrize("channel", list(CHANNELS.values()), ids=list(CHANNELS))
NOW = dt.datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
PLAN = parse_plan(
    b"regions:\n  us:\n    - ip: 198.51.100.10\n    - ip: 198.51.100.11\n      active_from: 2026-12-10\n", "p.yaml"
)


# Every registered channel declares everything the rest of the code reads ------------------------------


@EVERY
def test_a_channel_declares_its_name_column_targets_and_documentation(channel):
    assert isinstance(channel, Channel)
    assert re.fullmatch(r"[a-z][a-z0-9_-]{0,15}", channel.name)  # deliveries.channel is 16 characters
    assert re.fullmatch(r"[a-z][a-z0-9_]*", channel.column) and channel.column not in BASE
    assert channel.summary and channel.idempotency
    assert channel.problem(channel.example) is None
    assert channel.problem("") is not None and channel.problem("no such target \r\n") is not None
    masked = channel.mask(channel.example)
    assert masked == channel.mask(channel.example) and 0 < len(masked) <= 200
    if masked != channel.example:  # a credential: none of its path, query or user part may show
        secret = re.split(r"://[^/]+", channel.example, maxsplit=1)[-1]
        assert secret.strip("/") not in masked
    assert f"`{channel.name}`" in README and f"`{channel.column}`" in README


def test_names_columns_environment_variables_flags_and_secrets_are_unique():
    every = list(CHANNELS.values())
    for values in (
        [c.name for c in every],
        [c.column for c in every],
        [o.env for c in every for o in c.options],
        [o.flag for c in every for o in c.options if o.flag],
        [s.env for s in stack_secrets()],
        [s.config_key for s in stack_secrets()],
    ):
        assert len(values) == len(set(values)), values


@EVERY
def test_a_channel_declares_its_settings_and_stack_secrets(channel):
    for option in channel.options:
        assert re.fullmatch(r"EGRESS_[A-Z0-9_]+", option.env) and option.help
        assert option.flag is None or (re.fullmatch(r"--[a-z][a-z0-9-]+", option.flag) and option.metavar)
        assert f"`{option.env}`" in README, f"README's configuration table lacks {option.env}"
    assert channel.settings({}) == channel.settings({o.key: o.default for o in channel.options})
    for secret in channel.secrets:
        assert secret.env in {o.env for o in channel.options}, "a stack secret reaches the task as a setting"
        assert re.fullmatch(r"[a-z][A-Za-z0-9]+", secret.config_key) and secret.reason
        assert f"smtp-egress:{secret.config_key}" in README


@EVERY
def test_a_channel_opens_a_sender_with_its_defaults(channel, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the email channel's default Maildir is relative
    sender = channel.open(channel.settings({}))
    try:
        assert isinstance(sender, Sender)
        d = Delivery("us/add/198.51.100.11/2026-12-10", "ws-1", channel.name, channel.example, "pending", 0, "<m@x>")
        assert sender.held(d) is None
    finally:
        sender.close()


@EVERY
def test_a_secret_setting_never_shows_in_a_repr(channel):
    secret = {s.env for s in channel.secrets}
    settings = channel.settings({o.key: "s3cr3t-value" if o.env in secret else "1" for o in channel.options})
    assert "s3cr3t-value" not in repr(settings)


def test_the_registry_is_light_to_import():
    """egress --help, the workspaces import and the stack program read it: no HTTP, SMTP or database modules."""
    code = (
        "import sys\nimport smtp_egress.notices.channels, smtp_egress.workspaces\n"
        "from smtp_egress.scripts.cli import build_parser\nbuild_parser()\n"
        "heavy = ('requests', 'urllib3', 'sqlalchemy', 'jinja2', 'smtplib', 'alembic', 'pulumi')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_an_unknown_channel_is_a_config_error_naming_the_channels():
    with pytest.raises(ConfigError) as caught:
        registry.get("pager")
    assert str(caught.value) == f"unknown notice channel 'pager'; the channels are: {', '.join(CHANNELS)}"
    assert list(CHANNELS)[:2] == ["email", "webhook"]


# Shared parts ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url, shown",
    [
        ("https://hooks.example.com/T0/B0/s3cr3t", "https://hooks.example.com/***"),
        ("http://user:hunter2@127.0.0.1:8080/x?token=s3cr3t", "http://127.0.0.1:8080/***"),
        ("https://[::1]:8443/s3cr3t", "https://[::1]:8443/***"),
        ("hooks.example.com/s3cr3t", "***"),
        ("https://h:99999999/s3cr3t", "***"),
    ],
)
def test_a_secret_url_shows_scheme_host_and_a_fingerprint_only(url, shown):
    import hashlib

    masked = mask_secret_url(url)
    assert masked == f"{shown}[sha256:{hashlib.sha256(url.encode()).hexdigest()[:8]}]"
    assert "s3cr3t" not in masked and "hunter2" not in masked


@pytest.mark.parametrize(
    "url, problem",
    [
        ("https://hooks.example.com/x", None),
        ("http://hooks.example.com/x", "must be an https URL"),
        ("https://", "must be an https URL"),
        ("https://h.example/a b", "must be an https URL"),
        ("https://h.example:x/", "must be an https URL (it does not parse)"),
    ],
)
def test_url_problem(url, problem):
    assert url_problem(url, ("https",)) == problem


def test_a_streak_counts_transient_failures_in_a_row_per_server():
    streak = Streak(2)
    for _ in range(2):
        streak.failed("a", DeliveryError("451"))
    assert streak.down("a") and not streak.down("b")
    streak.succeeded("a")
    streak.failed("a", DeliveryError("451"))
    streak.failed("a", DeliveryError("550", permanent=True))  # a permanent failure says the server is up
    streak.failed("a", DeliveryError("451"))
    assert not streak.down("a")


# The fan-out knows no channel by name --------------------------------------------------------------------


class FakeSender:
    """Delivers every notice but the first ``fail`` ones (transient); holds the rest after ``hold_after`` sends."""

    def __init__(self, fail: int = 0, hold_after: int | None = None, already: frozenset = frozenset()):
        self.fail, self.hold_after, self.already = fail, hold_after, already
        self.sent: list[tuple[str, str, str]] = []
        self.closed = False

    def held(self, d):
        down = self.hold_after is not None and len(self.sent) >= self.hold_after
        return "the pager gateway is down" if down else None

    def delivered(self, d):
        return d.workspace_id in self.already

    def send(self, d, notice, now):
        if self.fail:
            self.fail -= 1
            raise DeliveryError("try later")
        self.sent.append((d.workspace_id, d.target, notice.context.batch_id))

    def close(self):
        self.closed = True


@pytest.fixture
def ledger(tmp_path):
    led = Ledger(f"sqlite:///{tmp_path}/ledger.db", create=True)
    yield led
    led.close()


def test_the_fan_out_follows_each_sender_and_masks_targets_it_does_not_know(ledger):
    workspaces = [Workspace(f"ws-{i}", "us", {"email": f"o{i}@c.example", "pager": f"pager-{i}"}) for i in range(4)]
    workspaces.append(Workspace("ws-9", "us", {"email": "o9@c.example", "gone": "https://old.example/s3cr3t"}))
    ledger.upsert_workspaces(workspaces, NOW)
    (change,) = PLAN.changes("us")
    batch = ledger.announce(change, NOW, 7, PLAN.sha256, ledger.workspaces("us"))
    email, pager = FakeSender(fail=1, already=frozenset({"ws-2"})), FakeSender(hold_after=2)
    channels = Channels({"email": email, "pager": pager}, "https://ips.example.com")
    notices = {batch.batch_id: channels.context(batch.changes, NOW)}
    summary = deliver(ledger, ledger.unsent(), notices, channels, progress=False)
    assert (summary.sent, summary.reconciled, summary.failed, summary.left_pending) == (3 + 2, 1, 1 + 1, 2)
    assert [w for w, _, _ in email.sent] == ["ws-1", "ws-3", "ws-9"] and len(pager.sent) == 2
    assert summary.errors == [
        f"email to ws-0 (o0@c.example) for {batch.batch_id}: try later",
        (
            f"gone to ws-9 ({mask_secret_url('https://old.example/s3cr3t')}) for {batch.batch_id}: "
            "unknown channel 'gone'"
        ),
        "the pager gateway is down; 2 pager notices left pending for the next run",
    ]
    assert {(d.workspace_id, d.channel, d.status) for d in ledger.unsent()} == {
        ("ws-0", "email", "failed"),
        ("ws-9", "gone", "failed"),
        ("ws-2", "pager", "pending"),
        ("ws-3", "pager", "pending"),
    }
    channels.close()
    assert email.closed and pager.closed


# The workspaces file has a column per channel ------------------------------------------------------------


def test_the_header_is_the_registry_s_columns(tmp_path):
    assert (
        "workspace_id,region,"
        + ",".join(c.column if c.required else f"[,{c.column}]" for c in CHANNELS.values()).replace(",[", "[")
        + "[,sending_domain,tracking_domain]"
        == HEADER
    )
    path = tmp_path / "ws.csv"
    path.write_text("workspace_id,region,email,pager\nws-1,us,a@one.example,x\n")
    with pytest.raises(
        InputError, match=re.escape(f"header 'workspace_id,region,email,pager' must be {HEADER!r}; unknown ['pager']")
    ):
        read_workspaces(path, {"us"})


def test_each_channel_checks_its_column_and_a_credential_is_never_shown(tmp_path):
    path = tmp_path / "ws.json"
    path.write_text(
        json.dumps(
            [
                {
                    "workspace_id": "ws-1",
                    "region": "us",
                    "email": "not-an-address",
                    "webhook_url": "ftp://h.example/s3cr3t",
                },
                {"workspace_id": "ws-2", "region": "us", "email": "b@two.example", "webhook_url": ["s3cr3t"]},
                {"workspace_id": "ws-3", "region": "us", "email": "c@three.example", "webhook_url": None},
            ]
        )
    )
    with pytest.raises(InputError) as caught:
        read_workspaces(path, {"us"})
    message = str(caught.value)
    assert f"{path}[0]: email 'not-an-address' is not an address like ops@customer.example" in message
    assert f"{path}[0]: webhook_url {mask_secret_url('ftp://h.example/s3cr3t')!r} must be an http(s) URL" in message
    assert f"{path}[1]: webhook_url must be a string, not list" in message
    assert "s3cr3t" not in message and "[2]" not in message


def test_a_workspace_has_a_target_for_each_filled_column(tmp_path):
    path = tmp_path / "ws.csv"
    path.write_text(
        "workspace_id,region,email,webhook_url\nws-1,us, a@one.example ,\n"
        "ws-2,us,b@two.example,https://hooks.two.example/x\n"
    )
    assert read_workspaces(path, {"us"}) == [
        Workspace("ws-1", "us", {"email": "a@one.example"}),
        Workspace("ws-2", "us", {"email": "b@two.example", "webhook": "https://hooks.two.example/x"}),
    ]


# The email channel's own business: the SMTP server's streak -------------------------------------------------


class FlakyTransport:
    """A Transport that refuses (451) the recipients named in ``refuse``."""

    def __init__(self, refuse: set[str]):
        self.refuse, self.accepted = refuse, []

    def delivered(self, message_id):
        return False

    def send(self, *, sender, recipient, message_id, data):
        if recipient in self.refuse:
            raise DeliveryError(f"451 try later: {recipient}")
        self.accepted.append(recipient)

    def close(self):
        pass


def test_the_email_sender_holds_the_rest_after_5_transient_failures_in_a_row(rendered_notice):
    from smtp_egress.notices.channels.email import EmailSender

    def delivery(i: int) -> Delivery:
        return Delivery("c", f"ws-{i}", "email", f"o{i}@c.example", "pending", 0, f"<m{i}@x>")

    refuse = {f"o{i}@c.example" for i in (0, 1, 2, 3, 5, 6, 7, 8, 9)}  # o4 succeeds between two runs of failures
    sender = EmailSender(FlakyTransport(refuse), "Notices <n@x.example>")
    outcomes = []
    for i in range(11):
        d = delivery(i)
        if sender.held(d):
            outcomes.append("held")
            continue
        try:
            sender.send(d, rendered_notice, NOW)
            outcomes.append("sent")
        except DeliveryError:
            outcomes.append("failed")
    assert outcomes == ["failed"] * 4 + ["sent"] + ["failed"] * 5 + ["held"]
    assert sender.held(delivery(11)) == "the SMTP server failed 5 times in a row"
    assert sender.transport.accepted == ["o4@c.example"]
