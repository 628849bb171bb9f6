"""Fixtures shared by the whole suite: ledger databases (SQLite and a real PostgreSQL), a trustme CA
and real aiosmtpd servers on 127.0.0.1 (STARTTLS+AUTH, implicit TLS, plain)."""

from __future__ import annotations

import dataclasses
import os
import shutil
import socket
import ssl
import uuid
from pathlib import Path
from typing import ClassVar
from urllib.parse import quote

import pytest

USER = "notices@example.com"
PASSWORD = "p@ss:w/rd%+#?&"  # every character here needs percent-encoding in a URL
UTF8_PASSWORD = "pässwörd€"  # smtplib.login cannot send this (it encodes AUTH as ASCII)
EXAMPLE_PLAN = Path(__file__).resolve().parent / "data" / "example-plan.yaml"


UPDATE_GOLDEN = "EGRESS_UPDATE_GOLDEN"  # =1: golden checks rewrite the reviewed files instead of comparing


@pytest.fixture
def golden():
    """``golden(path, data)``: assert ``data`` (bytes) equals the reviewed file at ``path``. With
    EGRESS_UPDATE_GOLDEN=1 in the environment the file is rewritten instead: review its diff like code."""

    def check(path: Path, data: bytes, what: str = "") -> None:
        if os.environ.get(UPDATE_GOLDEN) == "1":
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        assert path.exists(), f"{path} is missing; create it with {UPDATE_GOLDEN}=1 and review it"
        assert data == path.read_bytes(), (
            f"{what or path.name} differs from {path}; if the change is intended, rerun with {UPDATE_GOLDEN}=1 "
            "and review the diff"
        )

    return check


@pytest.fixture
def example_plan(tmp_path) -> Path:
    """A copy of tests/data/example-plan.yaml in the test's folder (us: .10 live, .11 added 2026-12-10,
    .12 retired 2026-12-20; eu: 203.0.113.20)."""
    path = tmp_path / "plan.yaml"
    shutil.copy(EXAMPLE_PLAN, path)
    return path


@pytest.fixture(scope="session")
def ca():
    import trustme

    return trustme.CA()


@pytest.fixture(scope="session")
def cafile(ca, tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture(scope="session")
def server_tls(ca) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(ctx)
    return ctx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclasses.dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    peer: tuple
    tls: bool
    auth_login: bytes | None


class RecordingHandler:
    """Keeps every accepted message. RCPT to reject550@... gets 550, defer451@... gets 451."""

    def __init__(self, pipelining: bool = False):
        self.messages: list[Received] = []
        self.auth_attempts: list[bytes] = []
        self.pipelining = pipelining

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        """Advertise PIPELINING when asked (aiosmtpd reads commands in order, so it copes)."""
        session.host_name = hostname
        if self.pipelining:
            responses.insert(1, "250-PIPELINING")
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@", 1)[0]
        if local == "reject550":
            return "550 5.1.1 no such mailbox here"
        if local == "defer451":
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        login = getattr(session.auth_data, "login", None) if session.auth_data else None
        self.messages.append(
            Received(
                envelope.mail_from,
                list(envelope.rcpt_tos),
                envelope.original_content,
                session.peer,
                session.ssl is not None,
                login,
            )
        )
        return "250 2.0.0 queued"

    @property
    def connections(self) -> int:
        return len({m.peer for m in self.messages})

    def authenticator(self, server, session, envelope, mechanism, auth_data):
        from aiosmtpd.smtp import AuthResult

        self.auth_attempts.append(auth_data.login)
        ok = auth_data.login == USER.encode() and auth_data.password in (PASSWORD.encode(), UTF8_PASSWORD.encode())
        return AuthResult(success=ok, auth_data=auth_data if ok else None, handled=False)


@dataclasses.dataclass
class Server:
    handler: RecordingHandler
    port: int
    user: ClassVar[str] = USER
    password: ClassVar[str] = PASSWORD
    utf8_password: ClassVar[str] = UTF8_PASSWORD

    @property
    def where(self) -> str:
        return f"127.0.0.1:{self.port}"

    def url(
        self, scheme: str = "smtp", *, user: str | None = None, password: str | None = None, query: str = ""
    ) -> str:
        """``scheme://user:password@127.0.0.1:port?query``, user and password percent-encoded."""
        auth = ""
        if user is not None:
            auth = quote(user, safe="") + (f":{quote(password, safe='')}" if password is not None else "") + "@"
        return f"{scheme}://{auth}127.0.0.1:{self.port}" + (f"?{query}" if query else "")


@pytest.fixture
def smtp_server(server_tls):
    """Start aiosmtpd servers by kind: "starttls" (STARTTLS + AUTH required), "implicit", "plain"."""
    from aiosmtpd.controller import Controller

    controllers = []

    def start(kind: str, pipelining: bool = False, **server_kwargs) -> Server:
        handler = RecordingHandler(pipelining)
        port = free_port()
        kwargs = dict(hostname="127.0.0.1", port=port, authenticator=handler.authenticator, **server_kwargs)
        if kind == "starttls":
            kwargs.update(tls_context=server_tls, require_starttls=True, auth_required=True)
        elif kind == "implicit":  # aiosmtpd does not mark implicit TLS sessions as TLS: allow AUTH anyway
            kwargs.update(ssl_context=server_tls, auth_required=True, auth_require_tls=False)
        elif kind == "plain":
            kwargs.update(auth_require_tls=False)
        else:
            raise ValueError(kind)
        controller = Controller(handler, **kwargs)
        controller.start()
        controllers.append(controller)
        return Server(handler, port)

    yield start
    for controller in controllers:
        controller.stop()


@pytest.fixture
def pg_url():
    """A fresh, empty database on the real PostgreSQL that scripts/dev/test starts (CI fails without it)."""
    base = os.environ.get("EGRESS_TEST_PG_URL")
    if not base:
        if os.environ.get("CI"):
            pytest.fail("EGRESS_TEST_PG_URL is not set: CI must run PostgreSQL (scripts/dev/test starts it)")
        pytest.skip("no PostgreSQL (set EGRESS_TEST_PG_URL, or run scripts/dev/test)")
    import sqlalchemy as sa

    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield base.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """A fresh, empty ledger database URL: an SQLite file, and a real PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/ledger.db"
    return request.getfixturevalue("pg_url")


@dataclasses.dataclass(frozen=True)
class MotoServer:
    """moto's standalone server on 127.0.0.1: real AWS APIs (CloudWatch, SQS, S3...) over HTTP."""

    url: str

    def client(self, service: str):
        import boto3

        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory):
    """A ``moto_server`` process for the whole session (one server; each test uses its own names)."""
    import subprocess
    import sys
    import time

    port = free_port()
    exe = Path(sys.executable).with_name("moto_server")
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(exe), "-H", "127.0.0.1", "-p", str(port)], stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto_server did not start: {log.read_text()[-2000:]}") from None
                time.sleep(0.05)
        yield MotoServer(f"http://127.0.0.1:{port}")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def aws_env(monkeypatch):
    """Dummy AWS credentials and region, and no profile or metadata lookup: nothing reaches AWS."""
    for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
