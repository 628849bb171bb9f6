"""The ledger on SQLite and on a real PostgreSQL: announcements, deliveries, workspaces, the run lock."""

import datetime as dt

import pytest

from smtp_egress.dates import UTC
from smtp_egress.errors import ConfigError, DuplicateAnnouncement, EgressError
from smtp_egress.ledger import Ledger, Workspace, message_id
from smtp_egress.plan import parse_plan

PLAN = parse_plan(
    b"regions:\n  us:\n    - ip: 198.51.100.10\n    - ip: 198.51.100.11\n      active_from: 2026-12-10\n", "p.yaml"
)
NOW = dt.datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
WS = [
    Workspace("ws-1", "us", {"email": "a@one.example"}),
    Workspace("ws-2", "us", {"email": "b@two.example", "webhook": "https://hooks.two.example/ip"}),
    Workspace("ws-3", "eu", {"email": "c@three.example"}),
]


@pytest.fixture
def ledger(db_url):
    led = Ledger(db_url, create=True)
    yield led
    led.close()


def test_workspaces_upsert_and_region_filter(ledger):
    assert ledger.upsert_workspaces(WS, NOW) == (3, 0)
    assert ledger.upsert_workspaces([Workspace("ws-1", "us", {"email": "new@one.example"})], NOW) == (0, 1)
    assert ledger.workspaces("us") == [
        Workspace("ws-1", "us", {"email": "new@one.example"}),
        Workspace("ws-2", "us", {"email": "b@two.example", "webhook": "https://hooks.two.example/ip"}),
    ]


def test_announce_records_change_and_one_delivery_per_channel(ledger):
    ledger.upsert_workspaces(WS, NOW)
    (change,) = PLAN.changes("us")
    a = ledger.announce(change, NOW, 7, PLAN.sha256, ledger.workspaces("us"))
    assert a.announced_at == NOW and a.effective == change.effective
    stored = ledger.announcements("us")[change.change_id]
    assert stored.announced_at == NOW and stored.planned == dt.date(2026, 12, 10) and stored.exception_reason is None
    pending = ledger.unsent("us")
    assert [(d.workspace_id, d.channel, d.target) for d in pending] == [
        ("ws-1", "email", "a@one.example"),
        ("ws-2", "email", "b@two.example"),
        ("ws-2", "webhook", "https://hooks.two.example/ip"),
    ]
    assert pending[0].message_id == message_id(change.change_id, "ws-1")
    assert ledger.announcements("eu") == {}


def test_announcing_twice_is_a_duplicate_announcement_and_the_first_record_stands(ledger):
    ledger.upsert_workspaces(WS, NOW)
    (change,) = PLAN.changes("us")
    ledger.announce(change, NOW, 7, PLAN.sha256, ledger.workspaces("us")[:1])
    with pytest.raises(DuplicateAnnouncement) as caught:
        ledger.announce(
            change, NOW + dt.timedelta(days=1), 3, "f" * 64, ledger.workspaces("us"), exception_reason="again"
        )
    assert isinstance(caught.value, EgressError) and caught.value.exit_code == 2
    assert caught.value.change_id == change.change_id
    assert str(caught.value) == (
        f"change {change.change_id!r} was already announced at 2026-11-26T09:00:00+00:00; an "
        "announcement is recorded once and never replaced (the ledger is unchanged)"
    )
    (stored,) = ledger.announcements().values()
    assert (stored.announced_at, stored.notice_days, stored.exception_reason) == (NOW, 7, None)
    assert [d.workspace_id for d in ledger.unsent()] == ["ws-1"]  # no deliveries from the refused one


def test_mark_sent_failed_and_late_workspaces(ledger):
    ledger.upsert_workspaces(WS[:1], NOW)
    (change,) = PLAN.changes("us")
    ledger.announce(change, NOW, 7, PLAN.sha256, ledger.workspaces("us"), exception_reason=None)
    (d,) = ledger.unsent()
    ledger.mark_failed(d, "451 try later")
    (again,) = ledger.unsent()
    assert again.status == "failed" and again.attempts == 1 and again.last_error == "451 try later"
    ledger.mark_sent(again, NOW)
    assert ledger.unsent() == [] and ledger.delivery_counts(change.change_id) == {"sent": 1}
    ledger.upsert_workspaces(WS, NOW)
    assert ledger.enqueue_missing(change.change_id, ledger.workspaces("us")) == 2
    assert ledger.enqueue_missing(change.change_id, ledger.workspaces("us")) == 0
    assert {d.workspace_id for d in ledger.unsent()} == {"ws-2"}


def test_exception_reason_is_kept(ledger):
    (change,) = PLAN.changes("us")
    ledger.announce(change, NOW, 7, PLAN.sha256, [], exception_reason="upstream range withdrawn")
    assert ledger.announcements()[change.change_id].exception_reason == "upstream range withdrawn"


def test_lock_is_exclusive_and_released(db_url):
    first, second = Ledger(db_url, create=True), Ledger(db_url)
    try:
        with first.lock("notify-us"):
            with pytest.raises(ConfigError, match="holds the lock"), second.lock("notify-us"):
                pass
            with second.lock("notify-eu"):
                pass
        with second.lock("notify-us"):
            pass
    finally:
        first.close()
        second.close()


def test_unusable_url_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="nosuchdriver"):
        Ledger("nosuchdriver://x/y")


def test_unsent_deliveries_follow_a_corrected_address_sent_ones_keep_theirs(ledger):
    ledger.upsert_workspaces(WS, NOW)
    (change,) = PLAN.changes("us")
    ledger.announce(change, NOW, 7, PLAN.sha256, ledger.workspaces("us"))
    first = next(d for d in ledger.unsent() if d.workspace_id == "ws-1")
    ledger.mark_sent(first, NOW)
    ledger.upsert_workspaces(
        [
            Workspace("ws-1", "us", {"email": "moved@one.example"}),
            Workspace("ws-2", "us", {"email": "fixed@two.example", "webhook": "https://hooks.two.example/v2"}),
        ],
        NOW,
    )
    assert ledger.retarget_unsent() == 2
    assert ledger.retarget_unsent() == 0
    targets = {(d.workspace_id, d.channel): d.target for d in ledger.unsent()}
    assert targets == {("ws-2", "email"): "fixed@two.example", ("ws-2", "webhook"): "https://hooks.two.example/v2"}
