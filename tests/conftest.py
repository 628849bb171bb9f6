"""Fixtures shared by the whole suite: ledger databases (SQLite and a real PostgreSQL), a trustme CA
and real aiosmtpd servers on 127.0.0.1 (STARTTLS+AUTH, implicit TLS, plain)."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import socket
import ssl
import stat
import subprocess
import sys
import time
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


# --- AWS APIs over HTTP on loopback: moto's standalone server, and a proxy in front of it that can fail ---


@dataclasses.dataclass
class MotoServer:
    """moto's standalone server on 127.0.0.1: real AWS APIs (S3, CloudFront, CloudWatch, SQS...) over HTTP."""

    url: str  # http://127.0.0.1:PORT, the endpoint for boto3
    process: subprocess.Popen

    def client(self, service: str):
        import boto3

        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def account(self) -> dict[str, str]:
        """The credentials (environment variables) of a new, empty AWS account on this server: moto keeps each
        account's resources apart, so a test that lists what exists (security groups, prefix lists) sees only its
        own, and nobody resets the server the whole session shares."""
        account_id = f"{uuid.uuid4().int % 10**12:012d}"
        role = f"arn:aws:iam::{account_id}:role/smtp-egress-test"
        got = self.client("sts").assume_role(RoleArn=role, RoleSessionName="smtp-egress-test")["Credentials"]
        return {
            "AWS_ACCESS_KEY_ID": got["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": got["SecretAccessKey"],
            "AWS_SESSION_TOKEN": got["SessionToken"],
        }

    def readable_bucket(self) -> str:
        """A new bucket whose objects anyone may GET over HTTP (path-style: URL/BUCKET/KEY), as a CDN would."""
        import json

        bucket = f"published-{uuid.uuid4().hex[:12]}"
        s3 = self.client("s3")
        s3.create_bucket(Bucket=bucket)
        read = {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*"}
        s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [read]}))
        return bucket

    def distribution(self, bucket: str, origin_path: str = "") -> str:
        """A new CloudFront distribution in front of ``bucket`` (its ID), for invalidations."""
        origin = {"Id": "documents", "DomainName": f"{bucket}.s3.amazonaws.com", "OriginPath": origin_path}
        origin["S3OriginConfig"] = {"OriginAccessIdentity": ""}
        return self.client("cloudfront").create_distribution(
            DistributionConfig={
                "CallerReference": bucket,
                "Comment": "smtp-egress test",
                "Enabled": True,
                "Origins": {"Quantity": 1, "Items": [origin]},
                "DefaultCacheBehavior": {
                    "TargetOriginId": "documents",
                    "ViewerProtocolPolicy": "redirect-to-https",
                    "MinTTL": 0,
                    "ForwardedValues": {"QueryString": False, "Cookies": {"Forward": "none"}},
                },
            }
        )["Distribution"]["Id"]

    def stop(self) -> None:
        self.process.kill()
        self.process.wait(10)


def start_moto() -> MotoServer:
    """A new ``moto_server`` process on a free loopback port, answering once it accepts connections."""
    port = free_port()
    log = open(os.path.join(os.environ.get("TMPDIR", "/tmp"), f"moto-{port}.log"), "wb")  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=log
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return MotoServer(f"http://127.0.0.1:{port}", process)
        except OSError:
            assert process.poll() is None, f"moto_server exited with {process.returncode}: see {log.name}"
            time.sleep(0.1)
    process.kill()
    raise AssertionError(f"moto_server did not listen on 127.0.0.1:{port} within 30 s")


@pytest.fixture(scope="session")
def moto_server():
    """One moto server for the session; tests keep apart by their own bucket names."""
    server = start_moto()
    yield server
    server.stop()


@pytest.fixture
def aws_env(monkeypatch):
    """Dummy credentials for moto, and no AWS setting of the machine leaking in."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE", "AWS_ROLE_ARN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIATESTINGONLY00000")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test-secret-Zq8vN3pLkW")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


class FaultyProxy:
    """An HTTP proxy in front of ``upstream`` that logs each request (method, path) and asks ``fault(method,
    path, puts_so_far)`` what to do: None (forward), an int status (answer it with an S3 error body, forward
    nothing), "drop" (close the connection without an answer) or "stall" (hold the request until released)."""

    def __init__(self, upstream: str):
        import http.client
        import http.server
        import threading
        import urllib.parse

        self.log: list[tuple[str, str]] = []
        self.fault = lambda method, path, puts: None
        self.stalled = threading.Event()
        self.release = threading.Event()
        target = urllib.parse.urlsplit(upstream)
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # answers "Expect: 100-continue" (boto3's PUTs wait 1 s for it otherwise)

            def log_message(self, *args):
                pass

            def _any(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                puts = sum(1 for m, _ in proxy.log if m == "PUT")
                proxy.log.append((self.command, self.path))
                action = proxy.fault(self.command, self.path, puts)
                if action == "stall":
                    proxy.stalled.set()
                    proxy.release.wait(60)
                    action = "drop"
                if action == "drop":
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if isinstance(action, int):
                    code = "AccessDenied" if action == 403 else "ServiceUnavailable"
                    data = f"<Error><Code>{code}</Code><Message>injected by the test</Message></Error>".encode()
                    self.send_response(action)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data if self.command != "HEAD" else b"")
                    return
                conn = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
                conn.request(self.command, self.path, body=body, headers=headers)
                answer = conn.getresponse()
                data = answer.read()
                self.send_response(answer.status)
                for k, v in answer.getheaders():
                    if k.lower() not in ("connection", "transfer-encoding", "content-length", "server", "date"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                conn.close()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _any

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def methods(self) -> list[str]:
        return [m for m, _ in self.log]

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def s3_proxy(moto_server):
    """``s3_proxy()``: a new :class:`FaultyProxy` in front of the session's moto server."""
    proxies = []

    def start() -> FaultyProxy:
        proxies.append(FaultyProxy(moto_server.url))
        return proxies[-1]

    yield start
    for p in proxies:
        p.close()


# Repository folders shipped in the wheel (scripts/dev and scripts/bench are tooling, left out by pyproject.toml).
WHEEL_FOLDERS = ("egress", "checks", "components", "jobs", "scripts", "stacks", "synth")


@pytest.fixture(scope="session")
def wheel(tmp_path_factory) -> Path:
    """The smtp-egress wheel, built once per run as a release builds it: from a copy of pyproject.toml,
    README.md and the shipped folders only (nothing else can leak in), without build isolation (offline)."""
    root = Path(__file__).resolve().parents[1]
    src = tmp_path_factory.mktemp("wheel-src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(root / name, src / name)
    for folder in WHEEL_FOLDERS:
        shutil.copytree(root / folder, src / folder, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    out = tmp_path_factory.mktemp("dist")
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
    proc = subprocess.run(
        [*pip_wheel, "--disable-pip-version-check", "-w", str(out), str(src)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (built,) = out.glob("smtp_egress-*.whl")
    return built


# --- The Automation API against a stand-in CLI ----------------------------------------------------------------
# The Pulumi CLI cannot be installed on these machines (no download outside the package registries), so this
# stand-in answers for it: a small executable named `pulumi`, first on PATH, that records every call (arguments,
# EGRESS_DB) and prints what the real CLI prints for the commands pulumi.automation runs: `pulumi version`,
# `stack select`, `stack output --json` (masked and --show-secrets), `up --yes --skip-preview ...` and
# `stack history --json`. `up` makes the stack's outputs the ones the test gave as the program's.
STANDIN = r"""#!{python}
import json, os, sys
state = os.environ["STANDIN_STATE"]
args = sys.argv[1:]
with open(os.path.join(state, "calls.jsonl"), "a") as f:
    f.write(json.dumps({{"args": args, "EGRESS_DB": os.environ.get("EGRESS_DB"), "cwd": os.getcwd()}}) + "\n")
words = [a for a in args if a != "--non-interactive"]
def read(name):
    with open(os.path.join(state, name)) as f:
        return f.read()
if words == ["version"]:
    print("v{version}")
elif words[:2] == ["stack", "select"]:
    if words[words.index("--stack") + 1] != "us":
        sys.stderr.write("error: no stack named 'eu' found\n"); sys.exit(255)
elif words[:2] == ["stack", "output"]:
    print(read("outputs.json"))
elif words[:2] == ["stack", "history"]:
    print(json.dumps([{{"kind": "update", "startTime": "2026-12-10T06:00:01.000000Z", "message": "", "environment":
        {{}}, "config": {{}}, "result": "succeeded", "endTime": "2026-12-10T06:02:13.000000Z", "version": 42,
        "resourceChanges": {{"same": 88, "update": 1}}}}]))
elif words[0] == "up":
    pack = words[words.index("--policy-pack") + 1]  # kept: the pack is a temporary copy, gone after the run
    with open(os.path.join(pack, "PulumiPolicy.yaml")) as src, open(os.path.join(state, "policy-pack.yaml"), "w") as f:
        f.write(src.read())
    if os.path.exists(os.path.join(state, "fail-up")):
        sys.stderr.write("error: update failed: AccessDenied: ec2:AssociateNatGatewayAddress\n"); sys.exit(255)
    print("Updating (us)\n    ~  aws:ec2/natGateway:NatGateway us-nat-us-east-1a updated\nResources:\n    ~ 1 updated")
    with open(os.path.join(state, "outputs.json"), "w") as f:
        f.write(read("after-up.json"))
else:
    sys.stderr.write("stand-in: unexpected command %r\n" % args); sys.exit(2)
"""


@pytest.fixture
def standin(tmp_path, monkeypatch):
    from importlib.metadata import version

    bin_dir, state = tmp_path / "bin", tmp_path / "standin"
    bin_dir.mkdir()
    state.mkdir()
    exe = bin_dir / "pulumi"
    exe.write_text(STANDIN.format(python=sys.executable, version=version("pulumi")))
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("STANDIN_STATE", str(state))
    monkeypatch.delenv("EGRESS_DB", raising=False)
    project = tmp_path / "project"
    project.mkdir()
    (project / "Pulumi.yaml").write_text("name: smtp-egress\nruntime: python\nmain: stacks/\n")

    def calls() -> list[dict]:
        log = state / "calls.jsonl"
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    return state, project, calls
