"""The tracking-domain transition notice as each channel renders it: a valid email, the webhook payload, a Slack
message with mrkdwn escaped; a header value with a line break is refused."""

from __future__ import annotations

import datetime as dt
import email
import email.policy

import pytest

from smtp_egress.domains.expected import BrandedDomains, expected_records
from smtp_egress.domains.notice import TransitionNotice
from smtp_egress.domains.records import RecordCheck
from smtp_egress.domains.state import Transition
from smtp_egress.ledger import Delivery
from smtp_egress.notices.channels import slack, webhook
from smtp_egress.notices.render import HeaderInjection

AT = dt.datetime(2026, 12, 5, tzinfo=dt.UTC)
DOMAINS = BrandedDomains("ws-1", "us", "xn--bcher-kva.example", "links.xn--bcher-kva.example", "bounce-abc")


def notice(simulated=False):
    cname, mx = expected_records(DOMAINS, "egress.example.com")
    records = [
        RecordCheck(cname, "failed", ("<evil>.example.",), "Your CNAME points to <evil>.example. & not to us."),
        RecordCheck(mx, "verified", (mx.value,), "In place."),
    ]
    return TransitionNotice(DOMAINS, Transition("verified", "failed", AT), records, simulated)


def test_the_email_is_one_valid_text_message_naming_the_domain_as_people_read_it():
    n = notice()
    data = n.message_bytes(to="ops@one.example", workspace_id="ws-1", message_id=n.message_id, from_addr="n@p.example",
                           date=AT)  # fmt: skip
    msg = email.message_from_bytes(data, policy=email.policy.default)
    assert msg["Subject"] == "Your tracking domain links.bücher.example failed verification"
    assert msg["Message-ID"] == n.message_id and msg["Auto-Submitted"] == "auto-generated"
    body = msg.get_content().replace("\r\n", "\n")
    assert "State: verified -> failed (2026-12-05T00:00:00Z)" in body
    assert (
        "CNAME links.xn--bcher-kva.example. -> track.us.egress.example.com.\n  failed; found: <evil>.example." in body
    )
    assert data.count(b"\r\n") > 10 and b"\n" not in data.replace(b"\r\n", b"")


def test_the_message_id_is_the_same_for_the_same_transition():
    assert notice().message_id == notice().message_id
    assert notice().message_id.startswith("<domainstate.") and notice().message_id.endswith("@smtp-egress.invalid>")


def test_a_line_break_in_a_header_value_is_refused():
    with pytest.raises(HeaderInjection):
        notice().message_parts(to="a@b.example\r\nBcc: x@y", workspace_id="ws-1", message_id="<m>", from_addr="n@p",
                               date=AT)  # fmt: skip


def test_webhook_and_slack_render_their_own_payloads():
    n = notice(simulated=True)
    d = Delivery("domain-state/ws-1", "ws-1", "webhook", "https://hooks.example/x", "pending", 0, n.message_id)
    payload = webhook.render(n, d)
    assert payload["type"] == "tracking_domain_state" and payload["simulated"] is True
    assert (payload["previous"], payload["state"], payload["workspace_id"]) == ("verified", "failed", "ws-1")
    assert [r["status"] for r in payload["records"]] == ["failed", "verified"]
    message = slack.render(n, d)
    assert message["text"].startswith("SIMULATION")
    assert "&lt;evil&gt;.example. &amp; not to us." in message["text"] and "<evil>" not in message["text"]
