"""Branded domains in the workspaces import (IDNA 2008 A-labels, errors naming file:line and the value), the
bounce label (assigned once, unique, stable, lazily for older rows) and ``egress domains expected``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from smtp_egress.scripts.cli import main

PLAN = str(Path(__file__).parents[2] / "stacks" / "egress-ips.yaml")
CSV = (
    "workspace_id,region,email,sending_domain,tracking_domain\n"
    "ws-1,us,ops@one.example,One.Example.,links.one.example\n"
    "ws-2,eu,ops@two.example,bücher.example,Links.Bücher.example\n"
    "ws-3,us,ops@three.example,,\n"
)


@pytest.fixture
def ledger(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("EGRESS_TRACKING_DOMAIN", raising=False)
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path}/l.db"
    (tmp_path / "ws.csv").write_text(CSV)
    assert main(["workspaces", "import", "ws.csv", "--db", url, "--plan", PLAN]) == 0
    capsys.readouterr()
    return url


def egress(capsys, url, *argv):
    code = main([*argv, "--db", url, "--plan", PLAN])
    out, err = capsys.readouterr()
    return code, out, err


def labels(url) -> dict[str, str | None]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = dict(conn.execute(sa.text("SELECT workspace_id, bounce_label FROM workspaces")).all())
    engine.dispose()
    return rows


def test_expected_json_is_the_two_records_with_absolute_a_label_names(ledger, capsys):
    code, out, _ = egress(capsys, ledger, "domains", "expected", "--workspace", "ws-2", "--format", "json")
    label = labels(ledger)["ws-2"]
    assert code == 0
    assert json.loads(out) == [
        {"name": "links.xn--bcher-kva.example.", "type": "CNAME", "value": "track.eu.egress.example.com."},
        {"name": f"{label}.xn--bcher-kva.example.", "type": "MX", "value": "10 mx.eu.egress.example.com."},
    ]


def test_expected_zone_and_table(ledger, capsys):
    label = labels(ledger)["ws-1"]
    code, out, _ = egress(capsys, ledger, "domains", "expected", "--workspace", "ws-1", "--format", "zone")
    assert code == 0
    assert out == (
        "links.one.example.\t3600\tIN\tCNAME\ttrack.us.egress.example.com.\n"
        f"{label}.one.example.\t3600\tIN\tMX\t10 mx.us.egress.example.com.\n"
    )
    code, out, _ = egress(capsys, ledger, "domains", "expected", "--workspace", "ws-2")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "workspace ws-2 (region eu, tracking domain links.bücher.example): add these two records"
    assert lines[1].split() == ["NAME", "TYPE", "VALUE"]
    assert lines[2].split() == ["links.xn--bcher-kva.example.", "CNAME", "track.eu.egress.example.com."]


def test_the_platform_domain_can_be_overridden(ledger, capsys, monkeypatch):
    monkeypatch.setenv("EGRESS_TRACKING_DOMAIN", "Track.Platform.Example")
    code, out, _ = egress(capsys, ledger, "domains", "expected", "--workspace", "ws-1", "--format", "json")
    assert [r["value"] for r in json.loads(out)] == [
        "track.us.track.platform.example.",
        "10 mx.us.track.platform.example.",
    ]
    monkeypatch.setenv("EGRESS_TRACKING_DOMAIN", "not a domain")
    code, _, err = egress(capsys, ledger, "domains", "expected", "--workspace", "ws-1")
    assert code == 2 and "EGRESS_TRACKING_DOMAIN 'not a domain'" in err and "Traceback" not in err


def test_a_workspace_without_domains_or_unknown_is_a_clear_error(ledger, capsys):
    for ws in ("ws-3", "ws-9"):
        code, _, err = egress(capsys, ledger, "domains", "expected", "--workspace", ws)
        assert code == 2 and f"workspace {ws!r} is not in the ledger or has no branded domains" in err


def test_bounce_labels_are_assigned_once_unique_and_stable(ledger, capsys, tmp_path):
    first = labels(ledger)
    assert len(set(first.values())) == 3 and all(v.startswith("bounce-") and len(v) == 19 for v in first.values())
    (tmp_path / "ws.csv").write_text(CSV.replace("links.one.example", "go.one.example"))
    assert egress(capsys, ledger, "workspaces", "import", "ws.csv")[0] == 0
    assert labels(ledger) == first


def test_a_ledger_row_without_a_label_gets_one_when_its_records_are_needed(ledger, capsys):
    engine = sa.create_engine(ledger)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE workspaces SET bounce_label = NULL WHERE workspace_id = 'ws-1'"))
    engine.dispose()
    code, out, _ = egress(capsys, ledger, "domains", "expected", "--workspace", "ws-1", "--format", "json")
    label = labels(ledger)["ws-1"]
    assert code == 0 and label is not None and json.loads(out)[1]["name"] == f"{label}.one.example."
    egress(capsys, ledger, "domains", "expected", "--workspace", "ws-1")
    assert labels(ledger)["ws-1"] == label


@pytest.mark.parametrize(
    ("row", "said"),
    [
        ("ws-1,us,o@x.example,x_y.com,links.x.example", "ws.csv:2: sending_domain 'x_y.com' holds an underscore"),
        ("ws-1,us,o@x.example,x.example,", "ws.csv:2: sending_domain 'x.example' is given without tracking_domain"),
        ("ws-1,us,o@x.example,,links.x.example", "tracking_domain 'links.x.example' is given without sending_domain"),
        ("ws-1,us,o@x.example,x.example,X.Example.", "ws.csv:2: tracking_domain 'X.Example.' is the sending domain"),
        ("ws-1,us,o@x.example,x.example,☃.x.example", "ws.csv:2: tracking_domain '☃.x.example' is not a valid domain"),
        ("ws-1,us,o@x.example,x.example,links", "ws.csv:2: tracking_domain 'links' is a single label"),
        ("ws-1,us,o@x.example,x.example,a..x.example", "tracking_domain 'a..x.example' is not a valid domain name"),
        ("ws-1,us,o@x.example,x.example,1.2.3.4", "tracking_domain '1.2.3.4' looks like an IP address"),
    ],
)
def test_bad_domains_are_refused_naming_file_line_and_value(tmp_path, capsys, row, said):
    (tmp_path / "ws.csv").write_text("workspace_id,region,email,sending_domain,tracking_domain\n" + row + "\n")
    code, _, err = egress(capsys, f"sqlite:///{tmp_path}/l.db", "workspaces", "import", str(tmp_path / "ws.csv"))
    assert code == 2 and said in err.replace(str(tmp_path) + "/", "") and "Traceback" not in err


def test_a_tracking_domain_belongs_to_one_workspace(ledger, capsys, tmp_path):
    (tmp_path / "dup.csv").write_text(
        "workspace_id,region,email,sending_domain,tracking_domain\n"
        "ws-7,us,o@x.example,x.example,links.x.example\nws-8,us,o@x.example,y.example,LINKS.x.example\n"
    )
    code, _, err = egress(capsys, ledger, "workspaces", "import", "dup.csv")
    assert code == 2 and "dup.csv:3: tracking_domain 'links.x.example' is already the tracking domain" in err
    (tmp_path / "dup.csv").write_text(
        "workspace_id,region,email,sending_domain,tracking_domain\nws-7,us,o@x.example,x.example,links.one.example\n"
    )
    code, _, err = egress(capsys, ledger, "workspaces", "import", "dup.csv")
    assert code == 2 and "is already the tracking domain of workspace 'ws-1' in the ledger" in err


def test_json_import_takes_the_domain_keys(tmp_path, capsys):
    rows = [
        {
            "workspace_id": "ws-1",
            "region": "us",
            "email": "o@x.example",
            "sending_domain": "x.example",
            "tracking_domain": "t.x.example",
        }
    ]
    (tmp_path / "ws.json").write_text(json.dumps(rows))
    url = f"sqlite:///{tmp_path}/l.db"
    assert egress(capsys, url, "workspaces", "import", str(tmp_path / "ws.json"))[0] == 0
    code, out, _ = egress(capsys, url, "domains", "expected", "--workspace", "ws-1", "--format", "json")
    assert json.loads(out)[0]["name"] == "t.x.example."
    rows[0]["tracking_domain"] = 5
    (tmp_path / "ws.json").write_text(json.dumps(rows))
    code, _, err = egress(capsys, url, "workspaces", "import", str(tmp_path / "ws.json"))
    assert code == 2 and "ws.json[0]: tracking_domain 5 must be a string" in err


def test_a_region_without_a_stack_needs_the_variable(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("EGRESS_TRACKING_DOMAIN", raising=False)
    plan = tmp_path / "plan.yaml"
    plan.write_text("notice_days: 7\nregions:\n  ap:\n    - ip: 198.51.100.10\n")
    (tmp_path / "ws.csv").write_text(
        "workspace_id,region,email,sending_domain,tracking_domain\nws-1,ap,o@x.example,x.example,t.x.example\n"
    )
    url = f"sqlite:///{tmp_path}/l.db"
    argv = ["--db", url, "--plan", str(plan)]
    assert main(["workspaces", "import", str(tmp_path / "ws.csv"), *argv]) == 0
    capsys.readouterr()
    assert main(["domains", "expected", "--workspace", "ws-1", *argv]) == 2
    assert "no platform tracking domain for region 'ap'" in capsys.readouterr().err
    monkeypatch.setenv("EGRESS_TRACKING_DOMAIN", "egress.platform.example")
    assert main(["domains", "expected", "--workspace", "ws-1", "--format", "zone", *argv]) == 0
    assert "track.ap.egress.platform.example." in capsys.readouterr().out
