"""The ledger's SMTP servers on SQLite and a real PostgreSQL: save, list, remove, load (passwords opened), one
default per workspace, TLS pinning, and the import file (all or nothing, file:line errors, no plaintext password)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import sqlalchemy as sa

from smtp_egress.dates import UTC
from smtp_egress.errors import InputError
from smtp_egress.ledger import Ledger, Workspace
from smtp_egress.smtp.importing import read_servers
from smtp_egress.smtp.keyring import LocalKeyring, keygen
from smtp_egress.smtp.model import choose
from smtp_egress.smtp.settings import validate
from smtp_egress.smtp.store import (
    DuplicateServer,
    UnknownServer,
    list_servers,
    load_servers,
    mark_tls_seen,
    remove_server,
    save_servers,
)

NOW = dt.datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
PASSWORD = "Zq8T-store/pw"


@pytest.fixture
def ledger(db_url):
    ledger = Ledger(db_url, create=True)
    ledger.upsert_workspaces(
        [Workspace("ws-1", "us", {"email": "a@one.example"}), Workspace("ws-2", "eu", {"email": "b@two.example"})], NOW
    )
    yield ledger
    ledger.close()


@pytest.fixture
def ring(tmp_path):
    keygen(tmp_path / "k")
    return LocalKeyring.from_file(tmp_path / "k")


def server(host="smtp.example.com", port="587", ws="ws-1", **more):
    return validate({"workspace_id": ws, "host": host, "port": port, **more}, has_password="username" in more)


def test_save_list_load_and_remove(ledger, ring):
    saved = save_servers(
        ledger,
        [(server(username="u"), PASSWORD), (server("b.example", "465", campaign_types="news"), None)],
        ring,
        replace=False,
    )
    assert [(s.server_id, s.added, s.default) for s in saved] == [
        ("smtp.example.com:587", True, True),
        ("b.example:465", True, False),
    ]
    listed = list_servers(ledger, "ws-1")
    assert [(s.settings.server_id, s.has_password, s.key_ref) for s in listed] == [
        ("b.example:465", False, None),
        ("smtp.example.com:587", True, ring.ref),
    ]
    loaded = load_servers(ledger, "ws-1", ring)
    first = next(s for s in loaded if s.port == 587)
    assert first.password is not None and first.password.value == PASSWORD and PASSWORD not in repr(first)
    assert choose(loaded, "news").port == 465 and choose(loaded, "other").port == 587
    assert load_servers(ledger, "ws-2", ring) == []
    assert remove_server(ledger, "ws-1", "smtp.example.com:587") is True
    with pytest.raises(UnknownServer, match=r"has no server 'smtp.example.com:587'"):
        remove_server(ledger, "ws-1", "smtp.example.com:587")


def test_the_password_is_stored_sealed_only(ledger, ring, db_url):
    save_servers(ledger, [(server(username="u"), PASSWORD)], ring, replace=False)
    with ledger.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT * FROM smtp_servers")).mappings().all()
    assert PASSWORD.encode() not in repr(rows).encode() and b"Zq8T" not in bytes(rows[0]["password_sealed"])


def test_one_default_per_workspace(ledger, ring):
    save_servers(ledger, [(server("a.example"), None)], None, replace=False)
    (saved,) = save_servers(ledger, [(server("b.example", default=True), None)], None, replace=False)
    assert saved.default and saved.default_taken_from == "a.example:587"
    assert [s.settings.server_id for s in list_servers(ledger) if s.settings.default] == ["b.example:587"]
    with pytest.raises(sa.exc.IntegrityError), ledger.conn.begin():  # the database refuses a second one itself
        ledger.conn.execute(sa.text("UPDATE smtp_servers SET is_default = true"))


def test_a_duplicate_or_unknown_workspace_saves_nothing(ledger):
    save_servers(ledger, [(server(), None)], None, replace=False)
    with pytest.raises(DuplicateServer, match=r"has server 'smtp.example.com:587' already"):
        save_servers(ledger, [(server("new.example"), None), (server(), None)], None, replace=False)
    with pytest.raises(UnknownServer, match=r"no workspace 'ws-9' in the ledger: import it first"):
        save_servers(ledger, [(server("x.example"), None), (server(ws="ws-9"), None)], None, replace=False)
    assert [s.settings.server_id for s in list_servers(ledger)] == ["smtp.example.com:587"]


def test_tls_seen_is_recorded_once(ledger):
    save_servers(ledger, [(server(), None)], None, replace=False)
    (loaded,) = load_servers(ledger, "ws-1", None)
    assert not loaded.tls_pinned
    mark_tls_seen(ledger, loaded, NOW)
    mark_tls_seen(ledger, loaded, NOW + dt.timedelta(days=1))
    assert load_servers(ledger, "ws-1", None)[0].tls_pinned
    assert list_servers(ledger)[0].tls_pinned_at == NOW


def test_import_reads_password_files_and_refuses_plaintext(tmp_path, ledger, ring):
    (tmp_path / "pw").write_text(PASSWORD + "\n")
    (tmp_path / "s.csv").write_text(
        "workspace_id,host,port,username,password_file,campaign_types,default\n"
        "ws-1,a.example,465,u,pw,,true\nws-2,b.example,2525,,,news,\n"
    )
    servers = read_servers(tmp_path / "s.csv")
    assert [(s.server_id, p) for s, p in servers] == [("a.example:465", PASSWORD), ("b.example:2525", None)]
    save_servers(ledger, servers, ring, replace=True)
    save_servers(ledger, servers, ring, replace=True)  # again: updated
    assert len(list_servers(ledger)) == 2
    (tmp_path / "p.csv").write_text(f"workspace_id,host,port,username,password\nws-1,a.example,465,u,{PASSWORD}\n")
    with pytest.raises(
        InputError, match=r"has a password column: a password is never read from the import file"
    ) as caught:
        read_servers(tmp_path / "p.csv")
    assert PASSWORD not in str(caught.value)


def test_import_is_all_or_nothing_naming_file_and_line(tmp_path):
    (tmp_path / "s.csv").write_text(
        "workspace_id,host,port,security,certificate\nws-1,a.example,465,,\nws-1,b.example,25,,\nws-1,c.example,587,,skip\n"
        "ws-1,a.example,465,,\n"
    )
    with pytest.raises(InputError) as caught:
        read_servers(tmp_path / "s.csv")
    text = str(caught.value)
    assert "nothing was imported (3 problems)" in text
    assert "s.csv:3: port '25' is refused" in text and "s.csv:4: certificate 'skip'" in text
    assert "s.csv:5: server 'a.example:465' of 'ws-1' already appears at" in text


def test_import_json(tmp_path):
    (tmp_path / "pw").write_text(PASSWORD)
    data = [
        {
            "workspace_id": "ws-1",
            "host": "a.example",
            "port": 587,
            "campaign_types": ["a", "b"],
            "default": True,
            "username": "u",
            "password_file": "pw",
        }
    ]
    (tmp_path / "s.json").write_text(json.dumps(data))
    ((settings, password),) = read_servers(tmp_path / "s.json")
    assert settings.campaign_types == ("a", "b") and settings.default and password == PASSWORD
    (tmp_path / "bad.json").write_text(
        json.dumps([{"workspace_id": "ws-1", "host": "a.example", "port": 587, "password": "x"}, 3])
    )
    with pytest.raises(InputError, match=r"bad.json\[0\]: the row has a password column") as caught:
        read_servers(tmp_path / "bad.json")
    assert "bad.json[1]: the row is not an object" in str(caught.value)
