"""MaildirOutbox: a real Maildir on disk, read back with mailbox.Maildir; a real process killed mid-write."""

from __future__ import annotations

import datetime as dt
import mailbox
import os
import subprocess
import sys
import textwrap
import threading

import pytest

from smtp_egress.errors import ConfigError, DeliveryError
from smtp_egress.ledger import message_id
from smtp_egress.notices.maildir import MaildirOutbox

SENDER = "notices@egress.example"
NOW = dt.datetime(2026, 11, 26, 9, 31, tzinfo=dt.UTC)
MID = message_id("us/add/203.0.113.7/2026-12-10", "ws-1")


def data(notice, mid: str = MID) -> bytes:
    return notice.message_bytes(
        to="ops@customer.example", workspace_id="ws-1", message_id=mid, from_addr=SENDER, date=NOW
    )


def files(outbox: MaildirOutbox, sub: str) -> list[str]:
    return sorted(os.listdir(outbox.path / sub))


def test_creates_a_maildir_that_mailbox_reads(tmp_path, rendered_notice):
    outbox = MaildirOutbox(tmp_path / "outbox")
    assert [files(outbox, s) for s in ("tmp", "new", "cur")] == [[], [], []]
    assert not outbox.delivered(MID)
    outbox.send(sender=SENDER, recipient="ops@customer.example", message_id=MID, data=data(rendered_notice))
    assert outbox.delivered(MID)
    assert files(outbox, "new") == [outbox.name(MID)] and files(outbox, "tmp") == []
    (msg,) = mailbox.Maildir(tmp_path / "outbox", create=False)
    assert msg["Message-ID"] == MID and msg["Return-Path"] == f"<{SENDER}>"
    assert msg["Delivered-To"] == "ops@customer.example" and msg.get_subdir() == "new"
    assert msg.get_content_type() == "multipart/mixed"
    raw = (outbox.path / "new" / outbox.name(MID)).read_bytes()
    assert raw.endswith(data(rendered_notice))


def test_resending_is_idempotent(tmp_path, rendered_notice):
    outbox = MaildirOutbox(tmp_path)
    for _ in range(3):
        outbox.send(sender=SENDER, recipient="ops@customer.example", message_id=MID, data=data(rendered_notice))
    assert len(files(outbox, "new")) == 1 and files(outbox, "tmp") == []
    other = message_id("us/add/203.0.113.7/2026-12-10", "ws-2")
    outbox.send(sender=SENDER, recipient="ops@customer.example", message_id=other, data=data(rendered_notice, other))
    assert len(files(outbox, "new")) == 2


def test_a_message_moved_to_cur_by_a_reader_counts_as_delivered(tmp_path, rendered_notice):
    outbox = MaildirOutbox(tmp_path)
    outbox.send(sender=SENDER, recipient="ops@customer.example", message_id=MID, data=data(rendered_notice))
    box = mailbox.Maildir(tmp_path, create=False)
    (key,) = box.keys()
    msg = box[key]
    msg.set_subdir("cur")
    msg.add_flag("S")
    box[key] = msg  # mailbox moves it to cur/<name>:2,S
    assert files(outbox, "new") == [] and files(outbox, "cur")[0].endswith(":2,S")
    assert outbox.delivered(MID)
    outbox.send(sender=SENDER, recipient="ops@customer.example", message_id=MID, data=data(rendered_notice))
    assert files(outbox, "new") == [] and len(files(outbox, "cur")) == 1


def test_concurrent_senders_leave_exactly_one_file(tmp_path, rendered_notice):
    payload = data(rendered_notice)
    outboxes = [MaildirOutbox(tmp_path) for _ in range(8)]
    threads = [
        threading.Thread(
            target=o.send, kwargs=dict(sender=SENDER, recipient="ops@customer.example", message_id=MID, data=payload)
        )
        for o in outboxes
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(files(outboxes[0], "new")) == 1 and files(outboxes[0], "tmp") == []


def test_a_process_killed_between_tmp_and_new_delivers_nothing_and_a_resend_works(tmp_path, rendered_notice):
    payload = tmp_path / "payload.eml"
    payload.write_bytes(data(rendered_notice))
    script = textwrap.dedent(f"""
        import os, signal
        from smtp_egress.notices.maildir import MaildirOutbox
        os.link = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)  # die right before the atomic step
        outbox = MaildirOutbox({str(tmp_path / "box")!r})
        data = open({str(payload)!r}, "rb").read()
        outbox.send(sender={SENDER!r}, recipient="ops@customer.example", message_id={MID!r}, data=data)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)
    assert proc.returncode == -9, proc.stderr.decode()
    outbox = MaildirOutbox(tmp_path / "box")
    assert files(outbox, "new") == [] and len(files(outbox, "tmp")) == 1  # the orphan stays in tmp/
    assert not outbox.delivered(MID)
    outbox.send(sender=SENDER, recipient="ops@customer.example", message_id=MID, data=payload.read_bytes())
    assert outbox.delivered(MID) and files(outbox, "new") == [outbox.name(MID)]
    (msg,) = mailbox.Maildir(tmp_path / "box", create=False)
    assert msg["Message-ID"] == MID


def test_names_are_stable_and_distinct(tmp_path):
    a, b = MaildirOutbox(tmp_path / "a"), MaildirOutbox(tmp_path / "b")
    assert a.name(MID) == b.name(MID) and a.name(MID) != a.name(MID + "x")
    assert ":" not in a.name(MID) and "/" not in a.name(MID)


def test_unusable_path_is_a_config_error(tmp_path):
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(ConfigError, match="Maildir"):
        MaildirOutbox(tmp_path / "file")


def test_write_failure_is_a_transient_delivery_error(tmp_path, rendered_notice):
    outbox = MaildirOutbox(tmp_path)
    (tmp_path / "tmp").rmdir()
    (tmp_path / "tmp").write_text("tmp/ is not a directory any more")  # fails even for root
    with pytest.raises(DeliveryError) as err:
        outbox.send(sender=SENDER, recipient="ops@customer.example", message_id=MID, data=data(rendered_notice))
    assert not err.value.permanent and "outbox" in str(err.value)
    assert files(outbox, "new") == []


def test_envelope_with_line_breaks_is_refused(tmp_path):
    with pytest.raises(DeliveryError) as err:
        MaildirOutbox(tmp_path).send(sender=SENDER, recipient="a@b\r\nX: y", message_id=MID, data=b"x")
    assert err.value.permanent
