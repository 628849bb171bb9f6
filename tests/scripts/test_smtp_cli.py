"""``egress smtp``: add, list, remove, import and test through the command line, against real aiosmtpd servers with
TLS, a real ledger and a real key file; the password planted in every input never shows in any output."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
import sqlalchemy as sa

from smtp_egress.scripts.cli import main

EXAMPLE_PLAN = Path(__file__).resolve().parents[1] / "data" / "example-plan.yaml"
PLANTED = "Zq8Q-smtp-cli/pw"  # a password of ours: must never be printed
NEEDLES = ["Zq8Q", "smtp-cli/pw"]


class Project:
    def __init__(self, path: Path, capsys):
        self.path, self.capsys, self.seen = path, capsys, {}
        self.db = f"sqlite:///{path}/ledger.db"

    def run(self, *argv: str) -> tuple[int, str, str]:
        code = main([str(a) for a in argv])
        out, err = self.capsys.readouterr()
        self.seen[" ".join(map(str, argv))] = out + err
        assert "Traceback" not in err, err
        return code, out, err

    def smtp(self, *argv: str) -> tuple[int, str, str]:
        verb, *rest = argv
        db = ["--db", self.db] if (verb not in ("keygen",) and "--host" not in rest) or verb == "add" else []
        return self.run("smtp", verb, *rest, *db)

    def leaks(self) -> list[str]:
        return [f"{cmd}: {text!r}" for cmd, text in self.seen.items() for n in NEEDLES if n in text]


@pytest.fixture
def project(tmp_path, capsys, monkeypatch, cafile):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("EGRESS_SMTP_ALLOW_PRIVATE", "1")
    monkeypatch.setenv("SSL_CERT_FILE", cafile)  # the test CA is the system's trust store for this run
    monkeypatch.delenv("EGRESS_SMTP_KMS_KEY", raising=False)
    p = Project(tmp_path, capsys)
    (tmp_path / "ws.csv").write_text("workspace_id,region,email\nws-1,us,a@one.example\nws-2,eu,b@two.example\n")
    assert p.run("workspaces", "import", "ws.csv", "--plan", EXAMPLE_PLAN, "--db", p.db)[0] == 0
    assert p.smtp("keygen", "--out", "smtp.key")[0] == 0
    monkeypatch.setenv("EGRESS_SMTP_KEY_FILE", str(tmp_path / "smtp.key"))
    return p


def test_add_list_test_remove_a_stored_server(project, smtp_server):
    server = smtp_server("starttls")
    Path("pw").write_text(server.password + "\n")
    code, out, err = project.smtp(
        "add", "--workspace", "ws-1", "--host", "127.0.0.1", "--port", str(server.port), "--security", "starttls",
        "--username", server.user, "--password-file", "pw", "--campaign-types", "news,promo",
    )  # fmt: skip
    assert code == 0, err
    assert out == f"added ws-1/127.0.0.1:{server.port} (starttls), the default\n"
    code, out, _ = project.smtp("list", "--json")
    (listed,) = json.loads(out)
    assert listed["has_password"] and listed["password_key"].startswith("local:") and "password" not in listed
    code, out, err = project.smtp("test", "--workspace", "ws-1", "--server", f"127.0.0.1:{server.port}")
    assert code == 0, out + err
    assert [line.split()[0] for line in out.splitlines()[1:]] == [
        "DNS",
        "TCP",
        "banner",
        "EHLO",
        "TLS",
        "certificate",
        "AUTH",
        "MAIL",
    ]
    code, out, _ = project.smtp("test", "--workspace", "ws-1", "--server", f"127.0.0.1:{server.port}", "--json")
    assert json.loads(out)["ok"] is True
    assert server.password not in json.dumps(project.seen) and server.handler.messages == []
    assert project.smtp("remove", "--workspace", "ws-1", "--server", f"127.0.0.1:{server.port}")[0] == 0
    assert json.loads(project.smtp("list", "--json")[1]) == []


def test_a_failed_step_exits_6_and_says_what_to_change(project, smtp_server):
    server = smtp_server("plain")
    code, out, _ = project.run(
        "smtp", "test", "--host", "127.0.0.1", "--port", str(server.port), "--security", "starttls"
    )
    assert code == 6
    assert "TLS          FAILED   the server does not offer STARTTLS" in out and "what to change:" in out


def test_a_self_signed_server_gets_the_fingerprint_to_pin(project, smtp_server, monkeypatch, tmp_path):
    import trustme

    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "other-ca.pem"))
    trustme.CA().cert_pem.write_to_path(str(tmp_path / "other-ca.pem"))  # the server's CA is not trusted now
    server = smtp_server("starttls")
    code, out, _ = project.run(
        "smtp", "test", "--host", "127.0.0.1", "--port", str(server.port), "--security", "starttls", "--json"
    )
    report = json.loads(out)
    assert code == 6 and report["steps"][-1]["name"] == "certificate" and len(report["fingerprint"]) == 64
    pin = f"fingerprint:{report['fingerprint']}"
    code, out, _ = project.run(
        "smtp",
        "test",
        "--host",
        "127.0.0.1",
        "--port",
        str(server.port),
        "--security",
        "starttls",
        "--certificate",
        pin,
        "--json",
    )
    assert json.loads(out)["steps"][5]["passed"] is True  # then AUTH is next (no user given: skipped)
    assert "skip" not in json.dumps(report).replace('"skipped"', "")


def test_a_refused_destination_reads_the_same_whether_a_port_is_open_or_closed(project, monkeypatch):
    monkeypatch.delenv("EGRESS_SMTP_ALLOW_PRIVATE")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)
    port = str(listener.getsockname()[1])
    try:
        opened = project.run("smtp", "test", "--host", "127.0.0.1", "--port", port, "--security", "starttls")
    finally:
        listener.close()
    closed = project.run("smtp", "test", "--host", "127.0.0.1", "--port", port, "--security", "starttls")
    assert opened == closed and opened[0] == 6 and "refused before any connection" in opened[1]
    code, _, err = project.smtp("add", "--workspace", "ws-1", "--host", "169.254.169.254", "--port", "587")
    assert code == 2 and "is refused: the workers reach only public" in err


def test_a_password_is_never_taken_on_the_command_line(project):
    with pytest.raises(SystemExit) as caught:
        main(["smtp", "add", "--workspace", "ws-1", "--host", "127.0.0.1", "--port", "587", "--password", PLANTED])
    assert caught.value.code == 2
    err = project.capsys.readouterr().err
    assert "never given on the command line" in err and "Zq8Q" not in err


def test_import_and_planted_secrets_in_every_output(project, smtp_server, tmp_path):
    server = smtp_server("starttls")
    Path("pw").write_text(PLANTED)
    Path("good-pw").write_text(server.password)
    Path("servers.csv").write_text(
        "workspace_id,host,port,security,username,password_file,default\n"
        f"ws-1,127.0.0.1,{server.port},starttls,{server.user},pw,true\n"
        "ws-2,127.0.0.1,2525,,u2,good-pw,\n"
    )
    code, out, err = project.smtp("import", "servers.csv", "--json")
    assert code == 0, err
    assert json.loads(out) == {"file": "servers.csv", "added": 2, "updated": 0, "total": 2}
    assert project.smtp("import", "servers.csv")[1] == "servers.csv: 2 servers (0 added, 2 updated)\n"
    project.smtp("list")
    project.smtp("list", "--json")
    code, out, _ = project.smtp(
        "test", "--workspace", "ws-1", "--server", f"127.0.0.1:{server.port}"
    )  # the planted one is wrong
    assert code == 6 and "AUTH         FAILED   535" in out
    adhoc = ["smtp", "test", "--host", "127.0.0.1", "--port", str(server.port), "--security", "starttls"]
    for more in ([], ["--json"], ["--certificate", "fingerprint:" + "0" * 64]):
        code, out, _ = project.run(*adhoc, "--username", "x", "--password-file", "pw", *more)
        assert code == 6 and ("535" in out or "pinned" in out)
    Path("bad.csv").write_text(f"workspace_id,host,port,password\nws-1,a.example,587,{PLANTED}\n")
    assert project.smtp("import", "bad.csv")[0] == 2
    Path("bad2.csv").write_text("workspace_id,host,port,username,password_file\nws-1,a.example,25,u,pw\n")
    assert project.smtp("import", "bad2.csv")[0] == 2
    Path("pw-nl").write_text(f"{PLANTED}\x07\n")
    project.smtp(
        "add",
        "--workspace",
        "ws-1",
        "--host",
        "a.example",
        "--port",
        "587",
        "--username",
        "u",
        "--password-file",
        "pw-nl",
    )
    engine = sa.create_engine(project.db)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT * FROM smtp_servers")).mappings().all()
    engine.dispose()
    project.seen["ledger rows"] = repr([dict(r) for r in rows])
    assert len(project.seen) >= 10 and not project.leaks(), project.leaks()


def test_kms_envelope_encryption_end_to_end(project, smtp_server, moto_server, aws_env, monkeypatch):
    key = moto_server.client("kms").create_key()["KeyMetadata"]["Arn"]
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server.url)
    monkeypatch.setenv("EGRESS_REGION", "us-east-1")
    monkeypatch.setenv("EGRESS_SMTP_KMS_KEY", key)
    server = smtp_server("starttls")
    Path("pw").write_text(server.password)
    where = ["--workspace", "ws-1", "--host", "127.0.0.1", "--port", str(server.port), "--security", "starttls"]
    assert project.smtp("add", *where, "--username", server.user, "--password-file", "pw")[0] == 0
    (listed,) = json.loads(project.smtp("list", "--json")[1])
    assert listed["password_key"] == f"kms:{key}"
    code, out, _ = project.smtp("test", "--workspace", "ws-1", "--server", f"127.0.0.1:{server.port}")
    assert code == 0 and "AUTH         passed" in out  # the password came back through KMS Decrypt
    monkeypatch.setenv("EGRESS_SMTP_KMS_KEY", "alias/no-such-key")
    monkeypatch.setenv("EGRESS_SMTP_KEY_FILE", "smtp.key")
    code, _, err = project.smtp("add", *where[:4], "--port", "587", "--username", "u", "--password-file", "pw")
    assert code == 2 and "KMS GenerateDataKey with EGRESS_SMTP_KMS_KEY='alias/no-such-key' failed" in err
    assert server.password not in json.dumps(project.seen)
