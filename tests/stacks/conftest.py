"""Run the real stack program through ``egress synth`` (in-process) on crafted plans and published documents."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parent / "data"
GOLDEN = ROOT / "tests" / "golden"
EIP = "aws:ec2/eip:Eip"
NAT = "aws:ec2/natGateway:NatGateway"


@dataclasses.dataclass
class SynthRun:
    code: int
    out: str
    err: str
    plan: dict | None
    path: Path

    def eips(self) -> dict[str, dict]:
        """Planned address -> its EIP resource."""
        return {
            r["inputs"]["tags"]["smtp-egress:address"]: r
            for r in self.plan["resources"]
            if r["type"] == EIP and "smtp-egress:address" in r["inputs"].get("tags", {})
        }

    def on_gateways(self) -> set[str]:
        """The addresses some NAT gateway sends from (its allocation ids, mapped back to addresses)."""
        by_alloc = {r["id"]: ip for ip, r in self.eips().items()}
        used = set()
        for r in self.plan["resources"]:
            if r["type"] == NAT:
                used.add(r["inputs"]["allocationId"])
                used.update(r["inputs"].get("secondaryAllocationIds") or [])
        return {by_alloc[a] for a in used}


@pytest.fixture
def synth(capsys, tmp_path, monkeypatch):
    """synth("us", today=..., published=..., plan=..., config={...}) -> SynthRun (the CLI's main, in-process)."""
    from smtp_egress.scripts.cli import main

    monkeypatch.chdir(ROOT)
    for var in ("EGRESS_DB", "EGRESS_PUBLISHED", "EGRESS_TODAY", "EGRESS_PLAN"):
        monkeypatch.delenv(var, raising=False)
    counter = iter(range(10_000))

    def run(
        stack: str,
        *,
        today: str | None = None,
        published=None,
        plan=None,
        config=None,
        extra=(),
        out: Path | None = None,
    ) -> SynthRun:
        out_file = out or tmp_path / f"plan-{next(counter)}.json"
        argv = ["synth", "--stack", stack, "--out", str(out_file), *extra]
        if today:
            argv += ["--today", today]
        if published:
            argv += ["--published", str(published)]
        if plan:
            argv += ["--plan", str(plan)]
        for key, value in (config or {}).items():
            argv += ["--config", f"{key}={value}"]
        before = out_file.read_bytes() if out_file.exists() else None
        code = main(argv)
        captured = capsys.readouterr()
        written = out_file.exists() and out_file.read_bytes() != before
        plan_doc = json.loads(out_file.read_text()) if written else None
        return SynthRun(code, captured.out, captured.err, plan_doc, out_file)

    return run


@pytest.fixture
def plan_file(example_plan) -> Path:
    """The example plan (tests/data/example-plan.yaml) in the test's folder."""
    return example_plan


@pytest.fixture
def published(tmp_path, plan_file):
    """published(region, moment_day, announced=[(action, ip, announced_day), ...]) -> the document's path.

    The document is what ``egress publish`` renders at midnight UTC of ``moment_day`` from those
    announcements, so a test states what customers were told and when.
    """
    from smtp_egress.dates import start_of
    from smtp_egress.document import render
    from smtp_egress.plan import load_plan
    from smtp_egress.timeline import Announcement

    plan = load_plan(plan_file)

    def make(region: str, day: str, announced=()) -> Path:
        anns = {}
        for action, ip, when in announced:
            change = next(c for c in plan.changes(region) if c.ip == ip and c.action == action)
            at = start_of(dt.date.fromisoformat(when))
            anns[change.change_id] = Announcement(
                change.change_id, region, ip, action, change.effective, at, plan.notice_days
            )
        path = tmp_path / f"published-{region}-{day}-{len(list(tmp_path.iterdir()))}.json"
        path.write_bytes(render(plan, region, anns, start_of(dt.date.fromisoformat(day))).json_bytes)
        return path

    return make


@pytest.fixture
def stack_secrets(monkeypatch):
    """stack_secrets({"smtp-egress:signingKey": VALUE or None, ...}): the stack files' secrets as a real
    ``pulumi up`` would decrypt them (None: the key is absent), for the synths that follow. Every other secret
    stays the placeholder ``"[secret]"``, as ``egress synth`` gives it."""
    from smtp_egress.synth import engine

    real = engine.stack_config

    def install(values: dict) -> None:
        def with_values(stack, stacks=engine.STACKS):
            config = real(stack, stacks)
            merged = {k: v for k, v in {**config.values, **values}.items() if v is not None}
            return engine.StackConfig(merged, tuple(k for k in config.secret_keys if k in merged))

        monkeypatch.setattr(engine, "stack_config", with_values)

    return install


@pytest.fixture
def signing_key(tmp_path) -> tuple[str, Path]:
    """(private key PEM, path of the public key PEM): a fresh Ed25519 key pair, as egress allowlist makes it."""
    from smtp_egress.signing import generate_key

    public = generate_key(tmp_path / "signing.pem")
    return (tmp_path / "signing.pem").read_text(), public
