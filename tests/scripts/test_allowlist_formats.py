"""``egress allowlist`` formats: golden files (reviewed once by hand), provenance in every format,
parsers and structure checks per format, determinism, the CLI's errors, and limit warnings.

Regenerate the golden files after an intended change with ``EGRESS_UPDATE_GOLDEN=1 pytest -k allowlist_formats``
and review the diff.
"""

from __future__ import annotations

import ast
import csv
import datetime as dt
import io
import ipaddress
import json
import os
import re
from pathlib import Path

import pytest
import yaml

from smtp_egress.allowlists import FORMATS, SMTP_PORTS
from smtp_egress.dates import UTC
from smtp_egress.ledger import Ledger
from smtp_egress.plan import load_plan
from smtp_egress.scripts.cli import main

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "allowlists"
PLAN = (Path(__file__).resolve().parents[1] / "data" / "allowlist-plan.yaml").read_text()
ANNOUNCED_AT = dt.datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
EPOCH = 1798804800  # 2027-01-01T12:00:00Z, the generation time of the golden files
STAMP = "2027-01-01T12:00:00Z"
AT = "2026-11-26"
EXPECTED = ["198.51.100.8/30", "198.51.100.20/32", "2001:db8::10/127", "2001:db8::20/128"]
EXPECTED_LIVE_ONLY = ["198.51.100.8/31", "198.51.100.10/32", "198.51.100.20/32", "2001:db8::10/127", "2001:db8::20/128"]


@pytest.fixture
def env(tmp_path, monkeypatch):
    """A plan and a ledger in tmp_path: the addition of .11 and the retirement of .10 are announced."""
    for name in ("EGRESS_DB", "EGRESS_SIGNING_KEY", "SOURCE_DATE_EPOCH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    plan_path = tmp_path / "plan.yaml"
    plan_path.write_text(PLAN)
    plan = load_plan(plan_path)
    db = f"sqlite:///{tmp_path}/l.db"
    ledger = Ledger(db, create=True)
    for change in plan.changes():
        if change.ip in ("198.51.100.10", "198.51.100.11"):
            ledger.announce(change, ANNOUNCED_AT, plan.notice_days, plan.sha256, [])
    ledger.close()
    return {"plan": plan, "args": ["--plan", str(plan_path), "--db", db], "tmp": tmp_path}


def egress(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def allowlist(capsys, env, fmt, *extra, region="us", epoch=EPOCH) -> tuple[str, str]:
    os.environ["SOURCE_DATE_EPOCH"] = str(epoch)
    try:
        code, out, err = egress(
            capsys, "allowlist", *env["args"], "--region", region, "--format", fmt, "--at", AT, *extra
        )
    finally:
        del os.environ["SOURCE_DATE_EPOCH"]
    assert code == 0, err
    return out, err


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_golden(env, capsys, fmt, golden):
    out, _ = allowlist(capsys, env, fmt)
    golden(GOLDEN / "us" / FORMATS[fmt].filename, out.encode(), f"the {fmt} allowlist")


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_same_inputs_same_bytes_but_the_generation_time(env, capsys, fmt):
    first, _ = allowlist(capsys, env, fmt, epoch=EPOCH)
    second, _ = allowlist(capsys, env, fmt, epoch=EPOCH + 86400 + 3661)
    assert first != second
    assert first.replace(STAMP, "<generated>") == second.replace("2027-01-02T13:01:01Z", "<generated>")
    changed = [a for a, b in zip(first.splitlines(), second.splitlines(), strict=True) if a != b]
    assert changed and all(STAMP in line for line in changed)
    assert len(changed) == (len(EXPECTED) if fmt == "csv" else 1)  # csv: the metadata column of every row


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_every_format_carries_its_provenance(env, capsys, fmt):
    out, _ = allowlist(capsys, env, fmt)
    plan = env["plan"]
    token = str(int(ANNOUNCED_AT.timestamp()))
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(out)))
        assert {
            (r["region"], r["generated_at"], r["plan_sha256"], r["published_sync_token"], r["as_of"]) for r in rows
        } == {("us", STAMP, plan.sha256, token, "2026-11-26")}
        assert rows[0]["status"] == "198.51.100.11 starts 2026-12-10"
        return
    if FORMATS[fmt].filename.endswith(".json"):
        p = json.loads(out)["_provenance"]
        assert next(iter(json.loads(out))) == "_provenance"
        assert (p["region"], p["format"], p["generated_at"], p["plan_sha256"], p["published_sync_token"]) == (
            "us",
            fmt,
            STAMP,
            plan.sha256,
            token,
        )
        assert (
            p["upcoming_additions"][0]["ip"] == "198.51.100.11"
            and p["upcoming_additions"][0]["effective"] == "2026-12-10"
        )
        return
    lines = out.splitlines()
    head = lines[1:] if lines[0].startswith("#!") else lines
    comments = [line for line in head[:12] if line.startswith("#")]
    text = "\n".join(comments)
    assert comments[0] == f"# smtp-egress allowlist: region us, format {fmt}"
    for needle in (
        f"# generated_at: {STAMP}",
        plan.sha256,
        f"sync_token {token}",
        "198.51.100.11 starts sending 2026-12-10",
        "198.51.100.10 stays live until 2026-12-20",
    ):
        assert needle in text, needle


def test_no_format_mentions_an_unannounced_address(env, capsys):
    for fmt in FORMATS:
        out, _ = allowlist(capsys, env, fmt)
        assert "198.51.100.13" not in out, fmt


def _networks(values) -> list[str]:
    return [str(ipaddress.ip_network(v)) for v in values]


def test_txt_json_yaml_csv_parse_back(env, capsys):
    txt, _ = allowlist(capsys, env, "txt")
    assert _networks(line for line in txt.splitlines() if not line.startswith("#")) == EXPECTED
    doc = json.loads(allowlist(capsys, env, "json")[0])
    assert doc["networks"] == EXPECTED and doc["region"] == "us"
    assert [b["addresses"] for b in doc["blocks"]] == [4, 1, 2, 1]
    y = yaml.safe_load(allowlist(capsys, env, "yaml")[0])
    assert y["networks"] == EXPECTED and y["blocks"] == doc["blocks"]
    rows = list(csv.DictReader(io.StringIO(allowlist(capsys, env, "csv")[0])))
    assert [r["network"] for r in rows] == EXPECTED
    assert (rows[0]["first"], rows[0]["last"], rows[0]["ip_version"]) == ("198.51.100.8", "198.51.100.11", "4")


def test_live_only_and_no_aggregate(env, capsys):
    out, _ = allowlist(capsys, env, "txt", "--live-only")
    assert _networks(line for line in out.splitlines() if not line.startswith("#")) == EXPECTED_LIVE_ONLY
    assert "upcoming additions NOT included (--live-only): 198.51.100.11" in out
    out, _ = allowlist(capsys, env, "txt", "--no-aggregate")
    body = [line for line in out.splitlines() if not line.startswith("#")]
    assert body == [
        "198.51.100.8",
        "198.51.100.9",
        "198.51.100.10",
        "198.51.100.11",
        "198.51.100.20",
        "2001:db8::10",
        "2001:db8::11",
        "2001:db8::20",
    ]
    doc = json.loads(allowlist(capsys, env, "aws-sg", "--no-aggregate")[0])
    assert [r["CidrIp"] for r in doc["IpPermissions"][0]["IpRanges"]][:2] == ["198.51.100.8/32", "198.51.100.9/32"]
    assert doc["IpPermissions"][0]["Ipv6Ranges"][-1]["CidrIpv6"] == "2001:db8::20/128"


def test_spf_mechanisms_parse_back(env, capsys):
    out, _ = allowlist(capsys, env, "spf")
    line = out.splitlines()[-1]
    mechs = line.split()
    assert all(re.fullmatch(r"ip[46]:[0-9a-f.:/]+", m) for m in mechs)
    for m in mechs:
        kind, value = m.split(":", 1)
        assert ipaddress.ip_network(value).version == int(kind[2])
    assert _networks(m.split(":", 1)[1] for m in mechs) == EXPECTED


def _v4_v6(nets):
    return [n for n in nets if ":" not in n], [n for n in nets if ":" in n]


def test_aws_security_group_permissions(env, capsys):
    doc = json.loads(allowlist(capsys, env, "aws-sg")[0])
    assert set(doc) == {"_provenance", "IpPermissions"}
    perms = doc["IpPermissions"]
    assert [(p["IpProtocol"], p["FromPort"], p["ToPort"]) for p in perms] == [
        ("tcp", port, port) for port in SMTP_PORTS
    ]
    v4, v6 = _v4_v6(EXPECTED)
    for p in perms:
        assert set(p) == {"IpProtocol", "FromPort", "ToPort", "IpRanges", "Ipv6Ranges"}
        assert [r["CidrIp"] for r in p["IpRanges"]] == v4 and [r["CidrIpv6"] for r in p["Ipv6Ranges"]] == v6
        assert all(set(r) == {"CidrIp", "Description"} for r in p["IpRanges"])
        assert all(
            re.fullmatch(r"[a-zA-Z0-9. _\-:/()#,@\[\]+=&;{}!$*]{0,255}", r["Description"])
            for r in p["IpRanges"] + p["Ipv6Ranges"]
        )


def test_aws_prefix_list_entries(env, capsys):
    doc = json.loads(allowlist(capsys, env, "aws-prefix-list")[0])
    v4, v6 = _v4_v6(EXPECTED)
    assert doc["ipv4"]["AddressFamily"] == "IPv4" and doc["ipv6"]["AddressFamily"] == "IPv6"
    assert [e["Cidr"] for e in doc["ipv4"]["Entries"]] == v4 and doc["ipv4"]["MaxEntries"] == 2 * len(v4)
    assert [e["Cidr"] for e in doc["ipv6"]["Entries"]] == v6 and doc["ipv6"]["MaxEntries"] == 2 * len(v6)
    assert (
        doc["ipv4"]["PrefixListName"] == "smtp-egress-us-ipv4"
        and "aws-prefix-list-sync.sh" in doc["_provenance"]["usage"]
    )
    assert all(set(e) == {"Cidr", "Description"} for e in doc["ipv4"]["Entries"] + doc["ipv6"]["Entries"])
    eu = json.loads(allowlist(capsys, env, "aws-prefix-list", region="eu")[0])
    assert "ipv6" not in eu and [e["Cidr"] for e in eu["ipv4"]["Entries"]] == ["203.0.113.20/31"]
    assert eu["ipv4"]["MaxEntries"] == 3  # room for the block and its replacement, at least two more


def test_aws_prefix_list_headroom():
    from smtp_egress.allowlists.aws import headroom

    assert [headroom(n) for n in (1, 2, 3, 10, 499, 500, 900)] == [3, 4, 6, 20, 998, 1000, 1000]


def test_gcp_firewall_rules(env, capsys):
    doc = json.loads(allowlist(capsys, env, "gcp-firewall")[0])
    v4, v6 = _v4_v6(EXPECTED)
    rules = doc["firewallRules"]
    assert [r["sourceRanges"] for r in rules] == [v4, v6]  # a rule holds one address family
    for r in rules:
        assert re.fullmatch(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?", r["name"])
        assert (r["direction"], r["allowed"]) == (
            "INGRESS",
            [{"IPProtocol": "tcp", "ports": [str(p) for p in SMTP_PORTS]}],
        )
    assert doc["gcloud"][0].endswith("--source-ranges=" + ",".join(v4))
    assert "--rules=tcp:465,tcp:587,tcp:2525" in doc["gcloud"][1]
    assert doc["gcloudUpdate"] == [  # the next list replaces each rule's sourceRanges whole
        f"gcloud compute firewall-rules update smtp-egress-us-ipv{v} --source-ranges={','.join(nets)}"
        for v, nets in ((4, v4), (6, v6))
    ]


def test_azure_nsg_rules(env, capsys):
    doc = json.loads(allowlist(capsys, env, "azure-nsg")[0])
    v4, v6 = _v4_v6(EXPECTED)
    rules = doc["securityRules"]
    assert [r["properties"]["sourceAddressPrefixes"] for r in rules] == [v4, v6]
    assert len({r["properties"]["priority"] for r in rules}) == len(rules)
    for r in rules:
        props = r["properties"]
        assert re.fullmatch(r"\w[\w.\-]{0,78}\w", r["name"])
        assert (props["access"], props["direction"], props["protocol"]) == ("Allow", "Inbound", "Tcp")
        assert props["destinationPortRanges"] == [str(p) for p in SMTP_PORTS]
        assert 100 <= props["priority"] <= 4096
    assert "--source-address-prefixes " + " ".join(v4) in doc["az"][0]
    assert [c.split("--name ")[1] for c in doc["azUpdate"]] == [
        f"smtp-egress-us-ipv{v} --source-address-prefixes {' '.join(nets)}" for v, nets in ((4, v4), (6, v6))
    ]


def test_terraform_parses_as_hcl(env, capsys):
    import hcl2

    out, _ = allowlist(capsys, env, "terraform")
    tf = hcl2.loads(out)
    v4, v6 = _v4_v6(EXPECTED)
    locals_ = {k: v for block in tf["locals"] for k, v in block.items()}
    strip = lambda items: [i.strip('"') for i in items]  # noqa: E731 (python-hcl2 keeps the quotes of strings)
    assert strip(locals_["smtp_egress_us_ipv4"]) == v4 and strip(locals_["smtp_egress_us_ipv6"]) == v6
    assert locals_["smtp_egress_us_ports"] == list(SMTP_PORTS)
    rules = {
        name: body
        for block in tf["resource"]
        for kind, named in block.items()
        if kind.strip('"') == "aws_vpc_security_group_ingress_rule"
        for name, body in named.items()
    }
    assert sorted(n.strip('"') for n in rules) == ["smtp_egress_us_ipv4", "smtp_egress_us_ipv6"]
    for name, body in rules.items():
        version = name.strip('"')[-1]
        assert f"cidr_ipv{version}" in body and body["ip_protocol"].strip('"') == "tcp"
        assert "setproduct" in str(body["for_each"]) and f"local.smtp_egress_us_ipv{version}" in str(body["for_each"])
        assert "var.smtp_egress_us_security_group_id" in str(body["security_group_id"])
    assert any("smtp_egress_us_security_group_id" in str(v) for v in tf["variable"])


def test_pulumi_snippet_compiles_and_creates_one_rule_per_block_and_port(env, capsys):
    import pulumi

    from smtp_egress.synth import engine

    out, _ = allowlist(capsys, env, "pulumi")
    code = compile(out, "pulumi_snippet.py", "exec")
    tree = ast.parse(out)
    assert [n.name for n in tree.body if isinstance(n, ast.FunctionDef)] == ["allow_smtp_egress_us"]

    rec = engine.start()
    try:
        namespace: dict = {}
        exec(code, namespace)

        @pulumi.runtime.test
        def program():
            rules = namespace["allow_smtp_egress_us"]("sg-0123456789abcdef0")
            return pulumi.Output.all(*[r.id for r in rules])

        program()
    finally:
        engine.reset()
    created = rec.resources
    assert {r.type for r in created} == {"aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"}
    got = sorted((r.inputs.get("cidrIpv4") or r.inputs["cidrIpv6"], int(r.inputs["fromPort"])) for r in created)
    assert got == sorted((net, port) for net in EXPECTED for port in SMTP_PORTS)
    assert all(
        r.inputs["securityGroupId"] == "sg-0123456789abcdef0" and r.inputs["ipProtocol"] == "tcp" for r in created
    )
    assert len({r.name for r in created}) == len(created)


def test_exchange_scripts(env, capsys):
    onprem, err = allowlist(capsys, env, "exchange")
    assert err == ""
    assert (
        'Set-ReceiveConnector -Identity $Identity -RemoteIPRanges @{Add="198.51.100.8/30","198.51.100.20",'
        '"2001:db8::10/127","2001:db8::20"}'
    ) in onprem
    online, err = allowlist(capsys, env, "exchange-online")
    assert (
        'Set-InboundConnector -Identity $Identity -SenderIPAddresses @{Add="198.51.100.8/30","198.51.100.20"}' in online
    )
    assert "IPv4 only" in err and "2001:db8::10/127" in err  # warned on stderr, and in the file
    assert "# warning: Exchange Online inbound connectors accept IPv4 only" in online


def test_iptables_formats_split_the_families_and_warn(env, capsys):
    v4, err = allowlist(capsys, env, "iptables")
    assert "load --format ip6tables too" in err
    assert "-A SMTP-EGRESS-US -s 198.51.100.8/30 -p tcp -m multiport --dports 465,587,2525 -j ACCEPT" in v4
    assert "2001:db8" not in v4.split("*filter")[1]
    v6, err = allowlist(capsys, env, "ip6tables")
    assert "198.51.100" not in v6.split("*filter")[1] and "-s 2001:db8::20/128" in v6


def test_out_writes_the_same_bytes_atomically(env, capsys):
    stdout, _ = allowlist(capsys, env, "nftables")
    target = env["tmp"] / "out"
    target.mkdir()
    out, _ = allowlist(capsys, env, "nftables", "--out", str(target / "us.nft"))
    assert "wrote" in out and (target / "us.nft").read_text() == stdout
    assert [p.name for p in target.iterdir()] == ["us.nft"]


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--region", "us", "--format", "pdf"], "unknown format 'pdf'; choose one of: txt, csv, json"),
        (["--region", "mars", "--format", "txt"], "region 'mars' is not in the plan"),
        (["--region", "us"], "--region needs --format; choose one of: txt"),
        (["--region", "us", "--format", "txt", "--public-key", "k.pub"], "--public-key does not apply to --region"),
        (["--region", "us", "--format", "txt", "--at", "26/11/2026"], "'26/11/2026' is not a date"),
        (["--all", "d", "--out", "x"], "--out does not apply to --all"),
    ],
)
def test_bad_input_exits_2_with_a_message(env, capsys, argv, needle):
    code, out, err = egress(capsys, "allowlist", *env["args"], *argv)
    assert code == 2 and needle in err and "Traceback" not in err and out == ""
    if "pdf" in argv:
        assert all(name in err for name in FORMATS)


def test_bad_source_date_epoch_and_signing_key_exit_2(env, capsys, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "yesterday")
    code, _, err = egress(capsys, "allowlist", *env["args"], "--region", "us", "--format", "txt")
    assert code == 2 and "SOURCE_DATE_EPOCH 'yesterday'" in err
    monkeypatch.delenv("SOURCE_DATE_EPOCH")
    (env["tmp"] / "not-a-key.pem").write_text("hello\n")
    code, _, err = egress(capsys, "allowlist", *env["args"], "--all", "d", "--signing-key", "not-a-key.pem")
    assert code == 2 and "not an unencrypted PEM private key" in err and "Traceback" not in err


def test_empty_allowlist_is_refused_exit_3(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "p.yaml").write_text("regions:\n  ap:\n    - ip: 192.0.2.1\n      active_from: 2026-12-10\n")
    Ledger(f"sqlite:///{tmp_path}/l.db", create=True).close()
    code, out, err = egress(
        capsys,
        "allowlist",
        "--plan",
        "p.yaml",
        "--db",
        f"sqlite:///{tmp_path}/l.db",
        "--region",
        "ap",
        "--format",
        "txt",
        "--at",
        AT,
    )
    assert code == 3 and out == "" and "empty allowlist" in err


def test_list_formats(capsys):
    code, out, _ = egress(capsys, "allowlist", "--list-formats", "--json")
    assert code == 0 and [r["format"] for r in json.loads(out)] == list(FORMATS)
    assert len({r["file"] for r in json.loads(out)}) == len(FORMATS)  # one file per format in --all
