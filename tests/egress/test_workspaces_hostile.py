"""Hostile and malformed workspaces files: junk in every column is refused at import, the file is read within
bounds, and messages quote bounded excerpts (never a structure's repr, never a credential)."""

from __future__ import annotations

import json

import pytest

from smtp_egress.errors import InputError
from smtp_egress.limits import MAX_WORKSPACES_BYTES
from smtp_egress.scripts.cli import main
from smtp_egress.workspaces import read_workspaces

JUNK = {
    "CR LF": "\r\nBcc: everyone@example.com",
    "LF": "\n",
    "NUL": "\x00",
    "tab": "\t",
    "escape": "\x1b[31m",
    "DEL": "\x7f",
    "NEL": "\x85",
    "line separator": "\u2028",
    "bidi override": "\u202e",
    "zero-width space": "\u200b",
    "byte order mark": "\ufeff",
}


def refused(path, regions=frozenset({"us"})) -> str:
    with pytest.raises(InputError) as caught:
        read_workspaces(path, set(regions))
    return str(caught.value)


@pytest.mark.parametrize("junk", JUNK.values(), ids=JUNK.keys())
@pytest.mark.parametrize("column", ["workspace_id", "region", "email", "webhook_url"])
def test_control_characters_in_any_column_are_refused(tmp_path, column, junk):
    row = {
        "workspace_id": "ws-1",
        "region": "us",
        "email": "ops@one.example",
        "webhook_url": "https://h.example/s3cr3t",
    }
    row[column] = row[column][:4] + junk + row[column][4:]
    path = tmp_path / "ws.json"
    path.write_text(json.dumps([row]))
    said = refused(path)
    assert f"{path}[0]: {column} " in said and "s3cr3t" not in said, said
    assert "nothing was imported" in said and all(line.isprintable() for line in said.split("\n")), said


@pytest.mark.parametrize("junk", ["\x00", "\x1b[2J", "\u202e", "\u200b"], ids=["NUL", "escape", "bidi", "zero-width"])
def test_control_characters_in_a_csv_email_are_refused(tmp_path, junk):
    path = tmp_path / "ws.csv"
    path.write_text(f'workspace_id,region,email\nws-1,us,"ops{junk}@one.example"\n', encoding="utf-8")
    said = refused(path)
    assert f"{path}:2: email " in said and "control character" in said


def test_a_quoted_line_break_in_a_csv_email_is_refused(tmp_path):
    path = tmp_path / "ws.csv"
    path.write_text('workspace_id,region,email\nws-1,us,"ops@one.example\r\nBcc: all@example.com"\n')
    assert "control character '\\r'" in refused(path)


@pytest.mark.parametrize("bad", ["ws-1\n", "-ws", "ws 1", "ws/1", "w" * 201, ""])
def test_workspace_ids_are_checked_whole(tmp_path, bad):
    path = tmp_path / "ws.json"
    path.write_text(json.dumps([{"workspace_id": bad, "region": "us", "email": "ops@one.example"}]))
    said = refused(path)
    assert "workspace_id" in said and len(said) < 500


@pytest.mark.parametrize("depth", [20, 5000, 100_000])
def test_deep_json_is_refused_without_a_recursion_error(tmp_path, depth):
    path = tmp_path / "ws.json"
    path.write_text("[" + "[" * depth + "]" * depth + "]")
    assert "nests deeper than 16 levels" in refused(path)


def test_a_nested_item_is_described_not_printed(tmp_path):
    path = tmp_path / "ws.json"
    path.write_text(json.dumps([[["x" * 10_000]] * 100, "y" * 10_000, {"z" * 10_000: 1}]))
    said = refused(path)
    assert f"{path}[0]: the row is a list, not an object" in said
    assert f"{path}[1]: the row is 'yyy" in said and "(10000 characters), not an object" in said
    assert len(said) < 1000


def test_a_huge_file_is_refused_before_it_is_parsed(tmp_path):
    path = tmp_path / "ws.csv"
    with path.open("w") as f:
        f.write("workspace_id,region,email\n")
        f.truncate(MAX_WORKSPACES_BYTES + 10)
    assert "larger than" in refused(path)


def test_a_huge_csv_field_is_malformed_csv(tmp_path):
    path = tmp_path / "ws.csv"
    path.write_text('workspace_id,region,email\nws-1,us,"' + "a" * 200_000 + '"\n')
    said = refused(path)
    assert "malformed CSV" in said and len(said) < 400


def test_the_import_command_exits_2_with_a_short_message(tmp_path, capsys):
    plan = tmp_path / "plan.yaml"
    plan.write_text("regions:\n  us:\n    - ip: 198.51.100.10\n")
    path = tmp_path / "ws.csv"
    path.write_text(
        'workspace_id,region,email\nws-1,us,"ops@one.example\r\nBcc: all@example.com"\nws-\x1b[2J,us,a@b.example\n'
    )
    code = main(["workspaces", "import", str(path), "--plan", str(plan), "--db", f"sqlite:///{tmp_path}/l.db"])
    err = capsys.readouterr().err
    assert code == 2 and "control character" in err and "\x1b" not in err and "\r" not in err
