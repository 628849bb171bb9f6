"""Secrets planted everywhere a command reads one never reach anything it writes: stdout, stderr, ``--json``,
the reports, the ledger's stored rows (``last_error``, an adopted list's source), the notices sent, the
server's log. Real PostgreSQL (the ledger URL's password), a real SMTP server with TLS and AUTH, real webhook
endpoints, the real published-list server."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path
from urllib.parse import quote

import pytest
import sqlalchemy as sa

from smtp_egress.plan import load_plan
from smtp_egress.scripts.cli import main
from smtp_egress.server import make_server

EXAMPLE_PLAN = Path(__file__).resolve().parents[1] / "data" / "example-plan.yaml"
LEDGER_PW = "Zq8L-ledger/pw#x?y@z%"  # every character a URL parser cuts at, in the ledger URL's password
HOOK_TOKEN, HOOK_QUERY, HOOK_USER = "Zq8H-path-token", "Zq8H-query-token", "Zq8H-userinfo"
PUB_PW, PUB_TOKEN = "Zq8P-pub/pw#x", "Zq8P-query-token"
WEBHOOK_SECRET = "Zq8S-hmac-key"
BROKEN_SMTP_PW = "Zq8M-smtp/pw"
# What must never be seen, and the pieces a parser would cut them into.
PLANTED = [LEDGER_PW, HOOK_TOKEN, HOOK_QUERY, HOOK_USER, PUB_PW, PUB_TOKEN, WEBHOOK_SECRET, BROKEN_SMTP_PW]
NEEDLES = ["Zq8", "ledger/pw", "pub/pw", "smtp/pw", "path-token", "query-token", "userinfo", "hmac-key", "z%@"]


class Seen:
    """Everything the commands wrote, to grep at the end."""

    def __init__(self, capsys):
        self.capsys, self.texts = capsys, {}

    def run(self, name: str, *argv: str) -> int:
        code = main([str(a) for a in argv])
        out, err = self.capsys.readouterr()
        self.texts[f"{name} (stdout)"], self.texts[f"{name} (stderr)"] = out, err
        assert "Traceback" not in err, err
        return code

    def add(self, name: str, text: str | bytes) -> None:
        self.texts[name] = text.decode("utf-8", "replace") if isinstance(text, bytes) else text

    def leaks(self) -> list[str]:
        """Each needle found, with what surrounds it."""
        return [
            f"{name}: ...{text[max(0, i - 80) : i + 40]!r}..."
            for name, text in self.texts.items()
            for needle in NEEDLES
            if (i := text.find(needle)) >= 0
        ]


# Where the ledger keeps a workspace's webhook URL on purpose: it is the credential the notice is sent with.
TARGETS = {("workspace_targets", "target"), ("deliveries", "target")}


def ledger_rows(url: str) -> str:
    """Every value of every row of every table of the ledger, as text, but the targets (see TARGETS)."""
    engine = sa.create_engine(url)
    out = []
    try:
        with engine.connect() as conn:
            for table in sa.inspect(conn).get_table_names():
                for row in conn.execute(sa.text(f'SELECT * FROM "{table}"')).mappings():
                    out.append(repr({k: v for k, v in row.items() if (table, k) not in TARGETS}))
    finally:
        engine.dispose()
    return "\n".join(out)


@pytest.fixture
def serving():
    servers = []

    def start(plan_path: Path, db: str):
        server = make_server(load_plan(plan_path), db, "127.0.0.1", 0, rate=1000, log=True)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_planted_secrets_never_reach_an_output(
    tmp_path, monkeypatch, capsys, pg_url, smtp_server, cafile, endpoint, serving
):
    monkeypatch.chdir(tmp_path)
    for var in ("EGRESS_SMTP_URL", "EGRESS_DB", "EGRESS_OUTBOX", "EGRESS_FROM", "EGRESS_SMTP_CAFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("EGRESS_WEBHOOK_SECRET", WEBHOOK_SECRET)
    monkeypatch.setenv("EGRESS_WEBHOOK_ALLOW_PRIVATE", "1")
    seen = Seen(capsys)
    shutil.copy(EXAMPLE_PLAN, tmp_path / "plan.yaml")
    # The ledger: PostgreSQL here trusts local connections, so the password is carried along and never checked.
    db = pg_url.replace("postgres@", f"postgres:{quote(LEDGER_PW, safe='')}@", 1)
    common = ["--plan", "plan.yaml", "--db", db]
    # Customers' webhooks: one echoes the URL it was called at in its error answer, one accepts.
    echo = endpoint(400, f"no such hook /{HOOK_TOKEN}?token={HOOK_QUERY} (auth {HOOK_USER})")
    fine = endpoint(200, "ok")
    (tmp_path / "ws.csv").write_text(
        "workspace_id,region,email,webhook_url\n"
        f"ws-1,us,ops@one.example,http://{HOOK_USER}:x@127.0.0.1:{echo.server_address[1]}/{HOOK_TOKEN}?token={HOOK_QUERY}\n"
        f"ws-2,us,ops@two.example,{fine.base}/{HOOK_TOKEN}2?token={HOOK_QUERY}2\n"
    )  # fmt: skip
    smtp = smtp_server("starttls")
    smtp_args = ["--smtp-url", smtp.url("smtp", user=smtp.user, password=smtp.password), "--smtp-cafile", cafile]

    assert seen.run("ledger init", "ledger", "init", "--simulation", *common) == 0
    assert seen.run("ledger status", "ledger", "status", "--json", *common) == 0
    assert seen.run("workspaces import", "workspaces", "import", "ws.csv", "--json", *common) == 0
    assert seen.run("workspaces list", "workspaces", "list", "--region", "us", *common) == 0
    assert seen.run("workspaces list --json", "workspaces", "list", "--region", "us", "--json", *common) == 0

    server = serving(tmp_path / "plan.yaml", db)
    published = server.url.replace("http://", f"http://pub:{quote(PUB_PW, safe='')}@")
    published += f"/v1/info/ip_addresses?region=us&token={PUB_TOKEN}"

    def notify(source: str = published, smtp_setting: list[str] = smtp_args) -> list[str]:
        return ["notify", "--region", "us", "--published", source, "--at", "2026-11-26", *smtp_setting, *common]

    assert seen.run("notify --json", *notify(), "--json") == 6  # ws-1's webhook failed
    assert seen.run("notify", *notify()) == 6
    assert len(smtp.handler.messages) == 2 and len(fine.requests) == 1 and len(echo.requests) >= 1

    # What cannot work: unusable URLs, each holding a password.
    broken = endpoint(500, f"DATABASE_URL=postgresql://app:{LEDGER_PW}@db/app token={PUB_TOKEN}")
    for i, url in enumerate([broken.base + f"/x?token={PUB_TOKEN}", published.replace("region=us", "region=[")]):
        assert seen.run(f"notify broken published {i}", *notify(url)) in (3, 6)
    for i, url in enumerate(
        [f"smtp://u:{BROKEN_SMTP_PW}@h:587", f"smtp://u:{BROKEN_SMTP_PW}@h:99999", f"smtp://u:{BROKEN_SMTP_PW}@[h"]
    ):
        assert seen.run(f"notify broken smtp {i}", *notify(smtp_setting=["--smtp-url", url])) == 2
    for i, url in enumerate(
        [
            f"postgres://u:{LEDGER_PW}@127.0.0.1/x",
            f"mysql://u:{LEDGER_PW}@127.0.0.1/x",
            f"postgresql+psycopg://u:{LEDGER_PW}@127.0.0.1:port/x",
            f"postgresql+psycopg://u:{LEDGER_PW}@127.0.0.1:1/x",
            f"sqlite:///{tmp_path}/none.db?password={LEDGER_PW}",
        ]
    ):
        assert seen.run(f"ledger status broken {i}", "ledger", "status", "--plan", "plan.yaml", "--db", url) == 2

    # Branded domains: nothing to check (no workspace has domains), a workspace without them; the ledger URL's
    # password stays out of both.
    assert seen.run("domains verify", "domains", "verify", "--all", "--json", *common) == 0
    assert seen.run("domains expected", "domains", "expected", "--workspace", "ws-1", *common) == 2

    # A second ledger adopts the list the server publishes, from the URL with credentials.
    adopted = f"sqlite:///{tmp_path}/adopted.db"
    assert seen.run("adopt init", "ledger", "init", "--plan", "plan.yaml", "--db", adopted) == 0
    args = ["ledger", "adopt", "--region", "eu", "--published", published.replace("region=us", "region=eu")]
    seen.run("adopt", *args, "--plan", "plan.yaml", "--db", adopted)
    seen.add("adopted ledger rows", ledger_rows(adopted))

    for fmt in ("md", "html", "json"):
        out = tmp_path / f"report.{fmt}"
        assert seen.run(f"report {fmt}", "report", "--format", fmt, "--at", "2026-11-27", "--out", out, *common) == 0
        seen.add(f"report.{fmt}", out.read_text())
    seen.add("ledger rows", ledger_rows(pg_url))
    for i, m in enumerate(smtp.handler.messages):
        seen.add(f"notice {i}", m.content)
    for i, (_, body) in enumerate(fine.requests + echo.requests):
        seen.add(f"webhook payload {i}", body)

    assert "answered 400" in seen.texts["ledger rows"] and "answered 400" in seen.texts["report.md"]
    assert seen.leaks() == []
