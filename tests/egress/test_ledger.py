"""The ledger on SQLite and on a real PostgreSQL: batches, deliveries, when a batch is told, decisions to
accept a workspace undelivered, workspaces, the run lock."""

import datetime as dt

import pytest

from smtp_egress.dates import UTC
from smtp_egress.errors import ConfigError, DuplicateAnnouncement, EgressError
from smtp_egress.ledger import (
    Imported,
    Ledger,
    NoticeTally,
    Removed,
    UnknownWorkspace,
    Unsettled,
    Workspace,
    message_id,
)
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
    assert ledger.upsert_workspaces(WS, NOW) == Imported(3, 0, 0)
    assert ledger.upsert_workspaces([Workspace("ws-1", "us", {"email": "new@one.example"})], NOW) == Imported(0, 1, 0)
    assert ledger.upsert_workspaces(WS[1:], NOW) == Imported(0, 0, 2)  # exactly as stored: unchanged, not updated
    assert ledger.workspaces("us") == [
        Workspace("ws-1", "us", {"email": "new@one.example"}),
        Workspace("ws-2", "us", {"email": "b@two.example", "webhook": "https://hooks.two.example/ip"}),
    ]


def test_a_batch_is_recorded_held_with_one_delivery_per_channel(ledger):
    ledger.upsert_workspaces(WS, NOW)
    (change,) = PLAN.changes("us")
    batch = ledger.announce(change, NOW, 7, PLAN.sha256, ledger.workspaces("us"))
    assert (batch.recorded_at, batch.told_at, batch.workspaces) == (NOW, None, 2)
    assert batch.batch_id.startswith("us/2026-11-26T09:00:00Z/")
    (stored,) = ledger.recorded("us").values()
    assert (stored.change_id, stored.batch_id, stored.recorded_at, stored.told_at) == (
        change.change_id,
        batch.batch_id,
        NOW,
        None,
    )
    assert stored.planned == dt.date(2026, 12, 10) and stored.exception_reason is None
    assert ledger.announcements("us") == {}  # recorded is not told: nobody heard of it yet
    pending = ledger.unsent("us")
    assert [(d.workspace_id, d.channel, d.target) for d in pending] == [
        ("ws-1", "email", "a@one.example"),
        ("ws-2", "email", "b@two.example"),
        ("ws-2", "webhook", "https://hooks.two.example/ip"),
    ]
    assert pending[0].message_id == message_id(batch.batch_id, "ws-1")
    assert {d.message_id for d in pending[1:]} == {message_id(batch.batch_id, "ws-2")}  # one per workspace
    assert ledger.recorded("eu") == {} and ledger.unsent("eu") == []


def test_a_batch_is_told_when_every_workspace_heard_through_one_channel(ledger):
    ledger.upsert_workspaces(WS, NOW)
    (change,) = PLAN.changes("us")
    batch = ledger.announce(change, NOW, 7, PLAN.sha256, ledger.workspaces("us"))
    one_email, two_email, two_webhook = ledger.unsent()
    ledger.mark_sent(one_email, NOW + dt.timedelta(seconds=5))
    ledger.mark_failed(two_email, "550 no such mailbox")
    assert ledger.settle() == {} and ledger.announcements() == {}
    assert ledger.tallies() == {batch.batch_id: NoticeTally(delivered=1, failed=1)}
    assert ledger.unsettled("us") == [Unsettled(batch.batch_id, "ws-2", "failed")]
    ledger.mark_sent(two_webhook, NOW + dt.timedelta(seconds=7, microseconds=1))  # ws-2 heard through its webhook
    told = NOW + dt.timedelta(seconds=8)  # the last workspace's moment, rounded up to the whole second
    assert ledger.settle("us") == {batch.batch_id: told}
    assert ledger.settle("us") == {}  # settled once
    a = ledger.announcements("us")[change.change_id]
    assert (a.announced_at, a.recorded_at, a.batch_id, a.effective) == (told, NOW, batch.batch_id, change.effective)
    assert ledger.tallies("us") == {batch.batch_id: NoticeTally(delivered=2)} and ledger.unsettled() == []
    assert [(d.workspace_id, d.channel) for d in ledger.unsent()] == [("ws-2", "email")]  # still tried


def test_a_batch_recorded_for_no_workspace_is_told_when_recorded(ledger):
    (change,) = PLAN.changes("us")
    batch = ledger.announce(change, NOW, 7, PLAN.sha256, [])
    assert batch.told_at == NOW and ledger.announcements()[change.change_id].announced_at == NOW


def test_a_decision_counts_a_batch_told_without_a_workspace_and_stops_its_retries(ledger):
    ledger.upsert_workspaces(WS, NOW)
    (change,) = PLAN.changes("us")
    batch = ledger.announce(change, NOW, 7, PLAN.sha256, ledger.workspaces("us"))
    for d in ledger.unsent():
        if d.workspace_id == "ws-1":
            ledger.mark_sent(d, NOW)
        else:
            ledger.mark_failed(d, "550 no such mailbox")
    decided = NOW + dt.timedelta(days=1)
    assert ledger.accept_undelivered("eu", "ws-2", "ops", "gone", decided) == []  # not that region's batch
    assert ledger.accept_undelivered("us", "ws-1", "ops", "told", decided) == []  # ws-1 heard of it
    assert ledger.accept_undelivered("us", "ws-2", "alice", "customer left; INC-7", decided) == [batch.batch_id]
    assert ledger.accept_undelivered("us", "ws-2", "alice", "again", decided) == []  # decided once
    assert ledger.settle() == {batch.batch_id: decided}
    assert ledger.announcements()[change.change_id].announced_at == decided
    assert ledger.unsent() == []  # not tried again
    assert ledger.tallies() == {batch.batch_id: NoticeTally(delivered=1, waived=1)}
    (w,) = ledger.waivers("us")
    assert (w.batch_id, w.workspace_id, w.waived_at, w.waived_by, w.reason) == (
        batch.batch_id,
        "ws-2",
        decided,
        "alice",
        "customer left; INC-7",
    )


def test_removing_a_workspace_stops_its_notices_and_it_no_longer_holds_a_batch_back(ledger):
    ledger.upsert_workspaces(WS, NOW)
    assert [w.workspace_id for w in ledger.workspaces()] == ["ws-3", "ws-1", "ws-2"]  # every region, by region
    (change,) = PLAN.changes("us")
    batch = ledger.announce(change, NOW, 7, PLAN.sha256, ledger.workspaces("us"))
    for d in ledger.unsent():
        if d.workspace_id == "ws-1":
            ledger.mark_sent(d, NOW)
    assert ledger.settle() == {}  # ws-2 holds it back
    with pytest.raises(UnknownWorkspace):
        ledger.remove_workspace("ws-2", "eu", "ops", "gone", NOW)  # not of that region: nothing removed
    removed_at = NOW + dt.timedelta(hours=2)
    assert ledger.remove_workspace("ws-2", "us", "ops", "customer left", removed_at) == Removed(
        "ws-2", "us", (batch.batch_id,)
    )
    assert ledger.remove_workspace("ws-1", None, "ops", "gone too", removed_at) == Removed("ws-1", "us", ())  # told
    assert ledger.settle("us") == {batch.batch_id: removed_at}  # told without it, from its removal
    assert ledger.unsent() == [] and ledger.workspaces("us") == [] and ledger.region_of("ws-2") is None
    assert [(w.workspace_id, w.waived_by, w.reason) for w in ledger.waivers("us")] == [("ws-2", "ops", "customer left")]
    assert ledger.tallies("us") == {batch.batch_id: NoticeTally(delivered=1, waived=1)}  # the record stays
    with pytest.raises(UnknownWorkspace):
        ledger.remove_workspace("ws-2", None, "ops", "again", removed_at)
    assert ledger.upsert_workspaces([WS[1]], removed_at) == Imported(1, 0, 0)  # back: new batches reach it


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
    (stored,) = ledger.recorded().values()
    assert (stored.recorded_at, stored.notice_days, stored.exception_reason) == (NOW, 7, None)
    assert [d.workspace_id for d in ledger.unsent()] == ["ws-1"]  # no deliveries from the refused one


def test_mark_sent_failed_and_late_workspaces_who_hear_of_it_but_hold_nothing(ledger):
    ledger.upsert_workspaces(WS[:1], NOW)
    (change,) = PLAN.changes("us")
    batch = ledger.announce(change, NOW, 7, PLAN.sha256, ledger.workspaces("us"), exception_reason=None)
    (d,) = ledger.unsent()
    ledger.mark_failed(d, "451 try later")
    (again,) = ledger.unsent()
    assert again.status == "failed" and again.attempts == 1 and again.last_error == "451 try later"
    ledger.mark_sent(again, NOW)
    assert ledger.unsent() == [] and ledger.delivery_counts(batch.batch_id) == {"sent": 1}
    ledger.upsert_workspaces(WS, NOW)
    assert ledger.enqueue_missing(batch.batch_id, ledger.workspaces("us")) == 2
    assert ledger.enqueue_missing(batch.batch_id, ledger.workspaces("us")) == 0
    assert {d.workspace_id for d in ledger.unsent()} == {"ws-2"}
    assert ledger.settle() == {batch.batch_id: NOW}  # ws-2 joined later: it does not hold the batch back
    assert ledger.tallies() == {batch.batch_id: NoticeTally(delivered=1, pending=1)}


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
