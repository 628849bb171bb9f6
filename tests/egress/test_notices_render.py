"""render_notice: content of the text, HTML and calendar parts; the per-recipient message bytes; one notice
for every change of a batch, in words right for the mix."""

from __future__ import annotations

import dataclasses
import datetime as dt
import email
import email.policy
import re
import timeit

import pytest

from smtp_egress.errors import DeliveryError
from smtp_egress.ledger import message_id
from smtp_egress.notices.render import NoticeChange, NoticeContext, ics_escape, ics_fold, render_notice

ANNOUNCED = dt.datetime(2026, 11, 26, 9, 30, tzinfo=dt.UTC)
NOW = dt.datetime(2026, 11, 26, 9, 31, tzinfo=dt.UTC)
ENDPOINT = "https://ips.example.com/v1/info/ip_addresses?region=eu"
CHANGES = "https://ips.example.com/v1/info/ip_addresses/changes.json"
BATCH = "eu/2026-11-26T09:30:00Z/0123456789ab"
CHANGE_FIELDS = {f.name for f in dataclasses.fields(NoticeChange)}


def change(action="add", ip="198.51.100.20", day="2026-12-10", reason=None) -> NoticeChange:
    return NoticeChange(f"eu/{action}/{ip}/{day}", ip, action, dt.date.fromisoformat(day), reason)


def batch(*changes: NoticeChange, **fields) -> NoticeContext:
    ctx = NoticeContext(
        batch_id=BATCH,
        region="eu",
        changes=changes,
        sent_at=ANNOUNCED,
        notice_days=7,
        endpoint_url=ENDPOINT,
        changes_url=CHANGES,
    )
    return dataclasses.replace(ctx, **fields)


def context(action="add", **fields) -> NoticeContext:
    """A notice of one change; ``fields`` of the change (change_id, ip, exception_reason...) or of the notice."""
    one = dataclasses.replace(change(action), **{k: v for k, v in fields.items() if k in CHANGE_FIELDS})
    return batch(one, **{k: v for k, v in fields.items() if k not in CHANGE_FIELDS})


def message(notice, to="ops@customer.example", workspace="ws-1", **kw) -> bytes:
    args = dict(
        to=to,
        workspace_id=workspace,
        message_id=message_id(notice.context.batch_id, workspace),
        from_addr="IP notices <notices@egress.example>",
        date=NOW,
    )
    return notice.message_bytes(**{**args, **kw})


def unfold(ics: str) -> list[str]:
    return ics.replace("\r\n ", "").split("\r\n")


def test_add_notice_says_what_to_do_and_by_when():
    n = render_notice(context("add"))
    for part in (n.text, n.html):
        assert "eu" in part and "198.51.100.20" in part and "2026-12-10" in part and "UTC" in part
        assert "allowlist" in part and "firewall" in part
        assert "7 days" in part and "13 days" in part  # the promise, and this notice's real lead
        assert "short notice" not in part.lower() and "stop sending" not in part
    assert "will start sending mail from 198.51.100.20" in n.text
    assert "What you must do, before 2026-12-10" in n.text
    assert ENDPOINT in n.text and CHANGES in n.text
    assert ENDPOINT.replace("&", "&amp;") in n.html and CHANGES in n.html
    assert "Action needed before 2026-12-10" in n.html
    assert n.subject == "Action needed by 2026-12-10: allow 198.51.100.20 (custom SMTP, region eu)"


def test_remove_notice_says_it_may_be_removed_and_to_keep_the_others():
    n = render_notice(context("remove"))
    assert "will stop sending mail from 198.51.100.20" in n.text
    assert "You may remove 198.51.100.20" in n.text and "from 2026-12-10 (UTC) on" in n.text
    assert "Keep all other addresses" in n.text and "Keep all other addresses" in n.html
    assert "start sending" not in n.text and "Action needed" not in n.subject
    assert "2026-12-10" in n.subject and "198.51.100.20" in n.subject


def test_short_notice_is_stated_with_its_reason_everywhere():
    n = render_notice(context(exception_reason="the upstream provider withdrew 198.51.100.0/24"))
    assert n.subject.startswith("Short notice: ")
    assert re.search(
        r"SHORT NOTICE: this change is announced at short notice, 13 days before\s+it takes effect", n.text
    )
    assert "Why: the upstream provider withdrew 198.51.100.0/24" in n.text
    assert "Short notice:" in n.html and "the upstream provider withdrew" in n.html
    assert "Short notice: the upstream provider withdrew 198.51.100.0/24" in "".join(unfold(n.ics))


def test_html_is_autoescaped_but_text_is_not():
    n = render_notice(context(exception_reason='<script>alert("x")</script> & "quotes"'))
    assert "<script>" not in n.html and "&lt;script&gt;" in n.html and "&amp; &#34;quotes&#34;" in n.html
    assert '<script>alert("x")</script>' in n.text
    assert n.html.lstrip().startswith("<!DOCTYPE html>") and "<table" in n.html and 'style="' in n.html


def test_calendar_event_is_well_formed():
    n = render_notice(context(exception_reason="provider outage; moved, fast \\ now"))
    lines = n.ics.split("\r\n")
    assert lines[-1] == "" and all(len(line.encode()) <= 75 for line in lines)
    assert "\n" not in n.ics.replace("\r\n", "")
    props = unfold(n.ics)
    for expected in (
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "METHOD:PUBLISH",
        "BEGIN:VEVENT",
        "DTSTAMP:20261126T093000Z",
        "DTSTART;VALUE=DATE:20261210",
        "DTEND;VALUE=DATE:20261211",
        "END:VEVENT",
        "END:VCALENDAR",
    ):
        assert expected in props
    assert sum(p == "BEGIN:VEVENT" for p in props) == 1
    (desc,) = [p for p in props if p.startswith("DESCRIPTION:")]
    assert "provider outage\\; moved\\, fast \\\\ now\\n" in desc
    (summary,) = [p for p in props if p.startswith("SUMMARY:")]
    assert "198.51.100.20" in summary and "\\;" in summary


def test_calendar_uid_is_stable_per_change():
    def uid(ctx):
        return next(p for p in unfold(render_notice(ctx).ics) if p.startswith("UID:"))

    assert uid(context()) == uid(context(sent_at=ANNOUNCED + dt.timedelta(days=1)))
    assert uid(context()) != uid(context(batch_id="eu/2026-11-27T09:30:00Z/ba9876543210"))


def test_fold_never_splits_a_utf8_character_and_unfolds_back():
    line = "DESCRIPTION:" + ics_escape("Überweisung, 日本語; " * 12)
    folded = ics_fold(line)
    parts = folded.split("\r\n")
    assert len(parts) > 3 and all(len(p.encode("utf-8")) <= 75 for p in parts)
    assert all(p.startswith(" ") for p in parts[1:])
    assert folded.replace("\r\n ", "") == line
    assert ics_fold("SHORT:line") == "SHORT:line"


def test_message_structure_and_headers():
    n = render_notice(context())
    data = message(n)
    assert b"\n" not in data.replace(b"\r\n", b"") and b"\r" not in data.replace(b"\r\n", b"")
    assert max(len(line) for line in data.split(b"\r\n")) <= 78
    msg = email.message_from_bytes(data, policy=email.policy.default)
    assert msg["From"] == "IP notices <notices@egress.example>" and msg["To"] == "ops@customer.example"
    assert msg["Subject"] == n.subject and msg["Message-ID"] == message_id(BATCH, "ws-1")
    assert msg["Date"].datetime == NOW and msg["MIME-Version"] == "1.0"
    assert msg["Auto-Submitted"] == "auto-generated" and msg["X-Egress-Workspace"] == "ws-1"
    assert msg["X-Egress-Change"] == "eu/add/198.51.100.20/2026-12-10" and msg["X-Egress-Batch"] == BATCH
    assert [p.get_content_type() for p in msg.walk()] == [
        "multipart/mixed",
        "multipart/alternative",
        "text/plain",
        "text/html",
        "text/calendar",
    ]
    text, html, cal = [p for p in msg.walk() if not p.is_multipart()]
    assert text["Content-Transfer-Encoding"] == "quoted-printable" and text.get_content_charset() == "utf-8"
    assert text.get_content().replace("\r\n", "\n") == n.text
    assert html.get_content().replace("\r\n", "\n") == n.html
    assert cal.get_content() == n.ics and cal.get_param("method") == "PUBLISH"
    assert cal.get_filename() == "ip-change.ics"
    assert sum(1 for p in msg.walk() if p["MIME-Version"]) == 1


def test_non_ascii_subject_is_encoded():
    n = render_notice(context(region="région-1"))
    data = message(n)
    head = data.split(b"\r\n\r\n", 1)[0]
    assert head.isascii() and b"=?utf-8?" in head
    assert email.message_from_bytes(data, policy=email.policy.default)["Subject"] == n.subject


def test_bytes_are_deterministic_and_boundaries_follow_the_change():
    a1, a2 = render_notice(context()), render_notice(context())
    assert message(a1) == message(a2) and a1.ics == a2.ics
    b = render_notice(context(batch_id="eu/2026-11-27T09:30:00Z/ba9876543210"))
    boundary = re.compile(rb'boundary="([^"]+)"')
    assert boundary.findall(message(a1)) != boundary.findall(message(b))
    assert message(a1, workspace="ws-2") != message(a1)


@pytest.mark.parametrize(
    "field,value",
    [
        ("to", "ops@customer.example\r\nBcc: everyone@example.com"),
        ("to", "ops@customer.example\nBcc: x@y"),
        ("workspace_id", "ws-1\rX-Evil: 1"),
        ("message_id", "<a@b>\r\nX-Evil: 1"),
        ("from_addr", "a@b\nX-Evil: 1"),
    ],
)
def test_header_injection_is_refused(field, value):
    n = render_notice(context())
    with pytest.raises(ValueError) as err:
        message(n, **{field: value})
    assert field in str(err.value)
    assert isinstance(err.value, DeliveryError) and err.value.permanent  # the fan-out can record it


@pytest.mark.parametrize(
    "changes",
    [
        dict(action="move"),
        dict(change_id="eu/add/x\r\nX: y"),
        dict(batch_id="eu/é"),
        dict(sent_at=dt.datetime(2026, 11, 26, 9, 30)),
    ],
)
def test_invalid_context_is_refused(changes):
    with pytest.raises(ValueError):
        render_notice(context(**changes))


def test_naive_date_is_refused():
    with pytest.raises(ValueError, match="time zone"):
        message(render_notice(context()), date=dt.datetime(2026, 11, 26, 9, 31))


def test_webhook_payload_is_one_event_listing_every_change_of_the_batch():
    n = render_notice(batch(change("add", "198.51.100.21"), change("remove", day="2026-12-20", reason="outage")))
    assert n.webhook_payload(workspace_id="ws-1", delivery_id="d-1") == {
        "type": "ip_change_batch",
        "batch_id": BATCH,
        "delivery_id": "d-1",
        "workspace_id": "ws-1",
        "region": "eu",
        "notice_days": 7,
        "sent_at": "2026-11-26T09:30:00Z",
        "changes": [
            {
                "change_id": "eu/add/198.51.100.21/2026-12-10",
                "ip": "198.51.100.21",
                "action": "add",
                "effective": "2026-12-10",
                "short_notice_reason": None,
            },
            {
                "change_id": "eu/remove/198.51.100.20/2026-12-20",
                "ip": "198.51.100.20",
                "action": "remove",
                "effective": "2026-12-20",
                "short_notice_reason": "outage",
            },
        ],
        "endpoint_url": ENDPOINT,
        "changes_url": CHANGES,
    }


def test_message_bytes_is_cheap():
    """20,000 notices of one change: personalising must stay far below 50 microseconds per message."""
    n = render_notice(context())
    calls = 20_000
    seconds = min(
        timeit.repeat(
            lambda: n.message_bytes(
                to="ops@customer.example",
                workspace_id="ws-123456",
                message_id="<m@x>",
                from_addr="notices@egress.example",
                date=dt.datetime.now(dt.UTC),
            ),
            number=calls,
            repeat=3,
        )
    )
    assert seconds / calls < 50e-6, f"{seconds / calls * 1e6:.1f} us per message"


# Batches ----------------------------------------------------------------------------------------------


def test_a_mixed_batch_lists_every_change_and_never_says_every_address_stays():
    """An addition announced with a removal: one notice; its words must not promise every address stays."""
    n = render_notice(batch(change("add", "198.51.100.21"), change("remove", "198.51.100.20", "2026-12-20")))
    assert n.subject == (
        "Action needed by 2026-12-10: allow 1 new address; 1 address retires from 2026-12-20 (custom SMTP, region eu)"
    )
    for part in (n.text, n.html):
        assert "all of them stay in use" not in part
        assert "198.51.100.21" in part and "198.51.100.20" in part and "2026-12-10" in part and "2026-12-20" in part
        assert "Keep all other addresses of the region's list allowed" in part
    assert re.search(r"2026-12-10\s+198\.51\.100\.21\s+starts sending \(add\)", n.text)
    assert re.search(r"2026-12-20\s+198\.51\.100\.20\s+stops sending \(remove\)", n.text)
    assert "Allow 198.51.100.21 on your SMTP server's allowlist" in n.text
    assert "You may remove 198.51.100.20" in n.text
    msg = email.message_from_bytes(message(n), policy=email.policy.default)
    assert msg.get_all("X-Egress-Change") == ["eu/add/198.51.100.21/2026-12-10", "eu/remove/198.51.100.20/2026-12-20"]


def test_a_batch_of_additions_only_still_says_every_listed_address_stays():
    n = render_notice(batch(change("add", "198.51.100.21"), change("add", "198.51.100.22")))
    assert n.subject == "Action needed by 2026-12-10: allow 2 new addresses (custom SMTP, region eu)"
    assert "all of them stay in use" in n.text and "all of them stay in use" in n.html
    assert "Keep all other addresses" not in n.text


def test_a_rotation_of_10_addresses_is_one_notice_with_an_event_per_effective_day():
    adds = [change("add", f"198.51.100.{30 + i}", "2026-12-10") for i in range(10)]
    removes = [change("remove", f"198.51.100.{10 + i}", "2026-12-20") for i in range(10)]
    n = render_notice(batch(*adds, *removes))
    assert n.subject.startswith("Action needed by 2026-12-10: allow 10 new addresses; 10 addresses retire from")
    for c in adds + removes:
        assert c.ip in n.text and c.ip in n.html and c.change_id in n.text
    props = unfold(n.ics)
    assert [p for p in props if p.startswith("DTSTART")] == [
        "DTSTART;VALUE=DATE:20261210",
        "DTSTART;VALUE=DATE:20261220",
    ]
    assert len({p for p in props if p.startswith("UID:")}) == 2
    summaries = [p for p in props if p.startswith("SUMMARY:")]
    assert "198.51.100.39" in summaries[0] and "allow" in summaries[0]
    assert "198.51.100.19" in summaries[1] and "remove" in summaries[1]
    assert len(n.webhook_payload(workspace_id="w", delivery_id="d")["changes"]) == 20


def test_two_additions_on_the_same_day_are_one_event():
    n = render_notice(batch(change("add", "198.51.100.21"), change("add", "198.51.100.22")))
    props = unfold(n.ics)
    assert sum(p == "BEGIN:VEVENT" for p in props) == 1
    (summary,) = [p for p in props if p.startswith("SUMMARY:")]
    assert "198.51.100.21\\, 198.51.100.22" in summary
