"""The Slack channel against a real HTTPS receiver on 127.0.0.1 (trustme certificate) that records every
request and answers as Slack does; its message, its escaping, its failures and its SSRF guard."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json

import pytest

from smtp_egress.errors import DeliveryError
from smtp_egress.ledger import Delivery
from smtp_egress.notices import outbound
from smtp_egress.notices.channels import CHANNELS
from smtp_egress.notices.channels.base import mask_secret_url
from smtp_egress.notices.channels.slack import SlackSender, SlackSettings, escape, link, render
from smtp_egress.notices.render import render_notice

SLACK = CHANNELS["slack"]
TOKEN = "s3cr3tT0ken0123456789abc"
NOW = dt.datetime(2026, 11, 26, 9, 30, tzinfo=dt.UTC)


@pytest.fixture
def receiver(http_receiver, server_tls, cafile, monkeypatch):
    """receiver(*script): the recording receiver of tests/egress/conftest.py over TLS, at a Slack-like path;
    script items are (status, Slack's answer[, headers])."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", cafile)  # how requests trusts a private CA

    def start(*script):
        answers = [(status, headers[0] if headers else {}, text) for status, text, *headers in script]
        return http_receiver(*answers, tls=server_tls, path=f"/services/T0LOCAL/B0LOCAL/{TOKEN}")

    return start


def posted(request: dict) -> dict:
    return json.loads(request["body"])


def delivery(url: str, workspace: str = "ws-1") -> Delivery:
    digest = hashlib.sha256(workspace.encode()).hexdigest()[:32]
    return Delivery(
        "us/add/203.0.113.7/2026-12-10",
        workspace,
        "slack",
        url,
        "pending",
        0,
        f"<ipchange.{digest}@smtp-egress.invalid>",
    )


def sender(**kwargs) -> tuple[SlackSender, list[float]]:
    sleeps: list[float] = []
    kwargs.setdefault("allow_private", True)  # the receiver lives on 127.0.0.1
    return SlackSender(sleep=sleeps.append, **kwargs), sleeps


def texts(message: dict) -> list[str]:
    """Every text Slack reads as mrkdwn: the fallback, the sections, their fields, the context."""
    out = [message["text"]]
    for block in message["blocks"]:
        if block["type"] == "section":
            out += [block["text"]["text"], *(f["text"] for f in block["fields"])]
        elif block["type"] == "context":
            out += [e["text"] for e in block["elements"]]
    return out


def test_posts_a_block_kit_message_with_a_text_fallback(receiver, rendered_notice):
    rx = receiver()
    s, sleeps = sender()
    d = delivery(rx.url)
    s.send(d, rendered_notice, NOW)
    (req,) = rx.requests
    assert req["path"] == f"/services/T0LOCAL/B0LOCAL/{TOKEN}" and sleeps == []
    assert req["headers"]["Content-Type"] == "application/json; charset=utf-8"
    message = posted(req)
    assert [b["type"] for b in message["blocks"]] == ["header", "section", "context"]
    header, section, context = message["blocks"]
    assert header["text"] == {"type": "plain_text", "text": rendered_notice.subject}
    assert section["text"]["text"] == (
        "Allow 203.0.113.7 on your SMTP server's allowlist and firewall before 2026-12-10 (UTC)."
    )
    assert [f["text"] for f in section["fields"]] == [
        "*Address*\n203.0.113.7",
        "*Action*\nadd: a new sending address",
        "*Effective*\n2026-12-10 (UTC)",
        "*Region*\nus",
    ]
    delivery_id = d.message_id.strip("<>")
    assert context["elements"] == [
        {
            "type": "mrkdwn",
            "text": (
                "<https://ips.example.com/v1/info/ip_addresses?region=us|Published list> · "
                "<https://ips.example.com/v1/info/ip_addresses/changes.json|Changes feed> · "
                f"Change us/add/203.0.113.7/2026-12-10 · Delivery {delivery_id}"
            ),
        }
    ]
    assert message["text"].startswith(rendered_notice.subject) and delivery_id in message["text"]
    assert render(rendered_notice, d) == message  # what was posted is the channel's rendering
    s.close()


def test_a_batch_is_one_message_listing_every_change_with_its_action_and_day(rendered_notice):
    from smtp_egress.notices.render import NoticeChange

    (added,) = rendered_notice.context.changes
    retired = NoticeChange("us/remove/203.0.113.5/2026-12-20", "203.0.113.5", "remove", dt.date(2026, 12, 20))
    ctx = dataclasses.replace(rendered_notice.context, changes=(added, retired))
    message = render(render_notice(ctx), delivery("https://hooks.slack.com/services/T/B/x"))
    assert [b["type"] for b in message["blocks"]] == ["header", "section", "section", "context"]
    todo, listed = message["blocks"][1]["text"]["text"], message["blocks"][2]["text"]["text"]
    assert "fields" not in message["blocks"][1]
    assert todo.splitlines() == [
        "Allow 203.0.113.7 on your SMTP server's allowlist and firewall before 2026-12-10 (UTC).",
        "From 2026-12-20 (UTC) on you may remove 203.0.113.5 from your allowlist.",
        "Keep all other addresses of the list.",
    ]
    assert listed == (
        "*Region us*\n• `203.0.113.7` add: starts sending 2026-12-10 (UTC)\n"
        "• `203.0.113.5` remove: stops sending 2026-12-20 (UTC)"
    )
    context = message["blocks"][3]["elements"][0]["text"]
    assert "Changes us/add/203.0.113.7/2026-12-10, us/remove/203.0.113.5/2026-12-20 · Delivery" in context


def test_every_mrkdwn_text_is_escaped(rendered_notice):
    (change,) = rendered_notice.context.changes
    ctx = dataclasses.replace(
        rendered_notice.context,
        changes=(dataclasses.replace(change, exception_reason="INC-42 <!channel> & <https://x.example|y>"),),
        endpoint_url="https://ips.example.com/list?a=1&b=<2>|3",
    )
    message = render(render_notice(ctx), delivery("https://hooks.slack.com/services/T/B/x"))
    said = "\n".join(texts(message))
    assert "*Short notice:* INC-42 &lt;!channel&gt; &amp; &lt;https://x.example|y&gt;" in said
    assert "<!channel>" not in said and "<https://x.example" not in said
    assert "<https://ips.example.com/list?a=1&amp;b=%3C2%3E%7C3|Published list>" in said
    assert escape("a & <b> > c") == "a &amp; &lt;b&gt; &gt; c"
    assert link("https://h.example/?q=<x>", "A & B") == "<https://h.example/?q=%3Cx%3E|A &amp; B>"


@pytest.mark.parametrize(
    "status, answer, words",
    [
        (400, "invalid_payload", "report this as a bug"),
        (403, "invalid_token", "the URL is no longer valid; ask the workspace for a new Slack webhook URL"),
        (404, "no_service", "the webhook was removed or its Slack app uninstalled"),
        (410, "channel_is_archived", "the Slack channel is archived"),
    ],
)
def test_slack_s_refusals_are_permanent_and_say_what_to_do(receiver, rendered_notice, status, answer, words):
    rx = receiver((status, answer, {}))
    s, sleeps = sender()
    with pytest.raises(DeliveryError) as caught:
        s.send(delivery(rx.url), rendered_notice, NOW)
    message = str(caught.value)
    assert caught.value.permanent and f"answered {status}" in message and answer in message and words in message
    assert message.startswith(f"Slack webhook {mask_secret_url(rx.url)} ") and TOKEN not in message
    assert len(rx.requests) == 1 and sleeps == []


def test_429_waits_as_slack_asks_and_5xx_is_retried_then_transient(receiver, rendered_notice):
    rx = receiver((429, "rate_limited", {"Retry-After": "7"}))
    s, sleeps = sender()
    s.send(delivery(rx.url), rendered_notice, NOW)
    assert sleeps == [7.0] and len(rx.requests) == 2
    rx = receiver((503, "", {}), (502, "", {}), (500, "", {}))
    s, sleeps = sender()
    with pytest.raises(DeliveryError) as caught:
        s.send(delivery(rx.url), rendered_notice, NOW)
    assert not caught.value.permanent and "failed after 3 attempts" in str(caught.value) and sleeps == [1.0, 2.0]
    assert len({r["body"] for r in rx.requests}) == 1  # every attempt the same message


def test_after_5_transient_failures_at_one_host_its_rest_is_held_other_hosts_still_go(receiver, rendered_notice):
    down = receiver(*[(503, "", {})] * 5)
    up = receiver()
    s, _ = sender(attempts=1)
    for i in range(5):
        assert s.held(delivery(down.url, f"ws-{i}")) is None
        with pytest.raises(DeliveryError):
            s.send(delivery(down.url, f"ws-{i}"), rendered_notice, NOW)
    where = f"127.0.0.1:{down.server_address[1]}"
    assert s.held(delivery(down.url, "ws-9")) == f"the Slack webhook host {where} failed 5 times in a row"
    assert s.held(delivery(up.url, "ws-9")) is None
    s.send(delivery(up.url, "ws-9"), rendered_notice, NOW)
    assert len(up.requests) == 1 and len(down.requests) == 5


def test_by_default_a_loopback_url_is_refused_before_connecting(receiver, rendered_notice):
    rx = receiver()
    s = SLACK.open(SlackSettings(allow_private=False))
    with pytest.raises(DeliveryError) as caught:
        s.send(delivery(rx.url), rendered_notice, NOW)
    assert caught.value.permanent and "non-public address 127.0.0.1" in str(caught.value)
    assert rx.connections == 0 and TOKEN not in str(caught.value)


def test_a_name_rebound_to_loopback_after_the_check_is_refused_at_connect(receiver, rendered_notice, monkeypatch):
    rx = receiver()
    monkeypatch.setattr(outbound, "resolve", lambda host, port: {"93.184.215.14"})  # the check sees a public address
    s, sleeps = sender(allow_private=False)
    with pytest.raises(DeliveryError) as caught:
        s.send(delivery(rx.url), rendered_notice, NOW)
    assert caught.value.permanent and "connected to non-public address 127.0.0.1" in str(caught.value)
    assert rx.requests == [] and sleeps == []  # connected, but not a byte of the request was sent


def test_only_https_urls(rendered_notice):
    url = "http://hooks.slack.com/services/T/B/x"
    assert SLACK.problem(url) == "must be an https URL" and SLACK.problem(SLACK.example) is None
    with pytest.raises(DeliveryError) as caught:
        sender()[0].send(delivery(url), rendered_notice, NOW)
    assert caught.value.permanent and "is not an https URL" in str(caught.value)


def test_its_own_switch_for_private_addresses():
    assert SLACK.settings({}) == SlackSettings(allow_private=False)
    assert SLACK.settings({"allow_private": "1"}) == SlackSettings(allow_private=True)
    assert [o.env for o in SLACK.options] == ["EGRESS_SLACK_ALLOW_PRIVATE"] and SLACK.secrets == ()


# egress notify end to end: a workspace with a Slack URL ----------------------------------------------------

PLAN = "regions:\n  us:\n    - ip: 198.51.100.10\n    - ip: 198.51.100.11\n      active_from: 2026-12-10\n"
CHANGE = "us/add/198.51.100.11/2026-12-10"


@pytest.fixture
def notify(tmp_path, monkeypatch):
    """notify(rows) imports rows (workspace_id,region,email,slack_webhook_url) and returns the notify argv."""
    from smtp_egress.scripts.cli import main

    monkeypatch.chdir(tmp_path)
    for var in ["EGRESS_DB", "EGRESS_BASE_URL", *(o.env for c in CHANNELS.values() for o in c.options)]:
        monkeypatch.delenv(var, raising=False)
    (tmp_path / "plan.yaml").write_text(PLAN)
    common = ["--plan", "plan.yaml", "--db", f"sqlite:///{tmp_path}/ledger.db"]

    def setup(rows: str) -> list[str]:
        (tmp_path / "ws.csv").write_text("workspace_id,region,email,slack_webhook_url\n" + rows)
        assert main(["ledger", "init", "--simulation", *common]) == 0  # the runs below are dated
        assert main(["workspaces", "import", "ws.csv", *common]) == 0
        assert main(["publish", "--region", "us", "--at", "2026-11-26", "--out", "published.json", *common]) == 0
        return [
            "notify",
            "--region",
            "us",
            "--published",
            "published.json",
            "--at",
            "2026-11-26",
            "--outbox",
            "outbox",
            *common,
        ]

    return setup


def run(capsys, argv: list[str]) -> tuple[int, str, str]:
    from smtp_egress.scripts.cli import main

    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def unsent(argv: list[str]) -> list[Delivery]:
    from smtp_egress.ledger import Ledger

    ledger = Ledger(argv[argv.index("--db") + 1])
    try:
        return ledger.unsent()
    finally:
        ledger.close()


def test_egress_notify_posts_each_slack_notice_exactly_once(notify, receiver, monkeypatch, capsys, tmp_path):
    import mailbox

    rx = receiver()
    monkeypatch.setenv("EGRESS_SLACK_ALLOW_PRIVATE", "1")
    argv = notify(f"ws-1,us,a@one.example,{rx.url}\nws-2,us,b@two.example,\n")
    assert run(capsys, argv)[0] == 0
    assert run(capsys, argv)[0] == 0  # the rerun sends nothing twice
    (req,) = rx.requests
    emails = {m["To"]: m["Message-ID"] for m in mailbox.Maildir(str(tmp_path / "outbox"), create=False)}
    assert sorted(emails) == ["a@one.example", "b@two.example"]
    context = posted(req)["blocks"][2]["elements"][0]["text"]
    assert f"Change {CHANGE} · Delivery {emails['a@one.example'].strip('<>')}" in context
    assert unsent(argv) == []
    code, out, _ = run(capsys, ["workspaces", "list", "--region", "us", *argv[argv.index("--plan") :]])
    assert code == 0 and out.splitlines()[0].split("\t")[-1] == mask_secret_url(rx.url) and TOKEN not in out


def test_a_slack_failure_stays_pending_exit_6_and_the_next_run_delivers_it(notify, receiver, monkeypatch, capsys):
    rx = receiver(*[(503, "", {"Retry-After": "0"})] * 3)
    monkeypatch.setenv("EGRESS_SLACK_ALLOW_PRIVATE", "1")
    argv = notify(f"ws-1,us,a@one.example,{rx.url}\n")
    code, _, err = run(capsys, argv)
    assert code == 6 and len(rx.requests) == 3
    (pending,) = unsent(argv)
    assert f"slack to ws-1 ({mask_secret_url(rx.url)}) for {pending.batch_id}: Slack webhook" in err
    assert "failed after 3 attempts; last: answered 503" in err and TOKEN not in err
    assert (pending.channel, pending.status, pending.attempts) == ("slack", "failed", 1)
    assert TOKEN not in pending.last_error
    assert run(capsys, argv)[0] == 0 and len(rx.requests) == 4  # Slack is back: delivered
    assert run(capsys, argv)[0] == 0 and len(rx.requests) == 4 and unsent(argv) == []


def test_the_webhooks_switch_does_not_open_private_addresses_to_slack(notify, receiver, monkeypatch, capsys):
    rx = receiver()
    monkeypatch.setenv("EGRESS_WEBHOOK_ALLOW_PRIVATE", "1")
    code, _, err = run(capsys, notify(f"ws-1,us,a@one.example,{rx.url}\n"))
    assert code == 6 and "resolves to non-public address 127.0.0.1" in err and rx.connections == 0
