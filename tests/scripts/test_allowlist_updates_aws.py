"""The AWS allowlists through a sequence of list changes, applied with their documented commands by the real
AWS CLI (awscli, a pinned dev dependency) to moto's standalone server on 127.0.0.1: each new list is applied
twice, and after each apply the security group or prefix list holds exactly the published list.

moto hands out fake public addresses for some resources: the tests never connect to any of them, only to the
server's own endpoint on loopback.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from smtp_egress.allowlists import SMTP_PORTS
from smtp_egress.allowlists.aws import headroom

from .conftest import check_cut_short, make_version, run

BIN = Path(sys.executable).parent  # the venv's aws and moto_server (pinned in constraints.txt)
DESC = "smtp-egress us"


def _binary(name: str) -> str:
    path = BIN / name
    if path.exists():
        return str(path)
    if os.environ.get("CI"):
        pytest.fail(f"{name} is missing: install the dev extra (pip install -c constraints.txt -e '.[dev]')")
    pytest.skip(f"{name} is not installed (the dev extra has it)")


@pytest.fixture
def aws(moto_server, tmp_path, monkeypatch):
    """``aws(*argv)``: the real AWS CLI against the session's moto server (tests/conftest.py), in an AWS account of
    its own (empty: no other test's groups or prefix lists), with no user config; ``aws.env`` runs a customer's
    script the same way (``aws`` first on PATH)."""
    credentials = moto_server.account()
    env = {
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(tmp_path),
        "TMPDIR": str(tmp_path),
        **credentials,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    moto = moto_server.url
    cli = _binary("aws")

    def call(*argv: str, check: bool = True) -> subprocess.CompletedProcess:
        return run(cli, "--endpoint-url", moto, *argv, check=check, env=env)

    def script(path: Path, *argv: str) -> subprocess.CompletedProcess:
        return run("sh", str(path), *argv, "--endpoint-url", moto, env=env, cwd=tmp_path)

    import boto3  # the tests read AWS's state in-process (fast); customers' commands run through the CLI

    client = boto3.client(
        "ec2",
        endpoint_url=moto,
        region_name="us-east-1",
        aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=credentials["AWS_SESSION_TOKEN"],
    )
    call.env, call.script, call.ec2 = env, script, client  # type: ignore[attr-defined]
    return call


def _group(aws, name: str = "smtp") -> str:
    return aws.ec2.create_security_group(GroupName=name, Description="SMTP server")["GroupId"]


def _rules(aws, group: str) -> list[dict]:
    rules = aws.ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group]}])
    return [r for r in rules["SecurityGroupRules"] if not r["IsEgress"]]


def _ours(rules: list[dict]) -> set[tuple[str, int]]:
    return {
        (r.get("CidrIpv4") or r["CidrIpv6"], r["FromPort"])
        for r in rules
        if r.get("Description") == DESC and r["FromPort"] == r["ToPort"] and r["IpProtocol"] == "tcp"
    }


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_the_one_shot_authorize_of_aws_sg_json_cannot_apply_the_next_list(aws, tmp_path, changes):
    """What customers had: the same authorize command fails on the next list (InvalidPermission.Duplicate)
    and adds nothing; the sync script takes over the rules it made and applies the next list."""
    group = _group(aws)
    for version in changes[:2]:
        perms = json.loads(version.render("aws-sg"))["IpPermissions"]
        argv = ["ec2", "authorize-security-group-ingress", "--group-id", group, "--ip-permissions", json.dumps(perms)]
        proc = aws(*argv, check=False)
    assert proc.returncode != 0 and "InvalidPermission.Duplicate" in proc.stderr
    assert _ours(_rules(aws, group)) == {(b, p) for b in changes[0].blocks for p in SMTP_PORTS}
    script = _write(tmp_path, "aws-sg-sync.sh", changes[1].render("aws-sg-sync"))
    aws.script(script, group)
    assert _ours(_rules(aws, group)) == {(b, p) for b in changes[1].blocks for p in SMTP_PORTS}


def test_aws_sg_sync_follows_each_change_and_a_second_run_changes_nothing(aws, tmp_path, changes):
    group = _group(aws)
    office = {"IpProtocol": "tcp", "FromPort": 587, "ToPort": 587, "IpRanges": [{"CidrIp": "192.0.2.0/24"}]}
    aws.ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[office])
    for version in changes:
        script = _write(tmp_path, "aws-sg-sync.sh", version.render("aws-sg-sync"))
        first = aws.script(script, group)
        after_first = _rules(aws, group)
        second = aws.script(script, group)
        after_second = _rules(aws, group)
        want = {(b, p) for b in version.blocks for p in SMTP_PORTS}
        assert _ours(after_first) == want, (version.step, first.stdout)
        assert f"{len(want)} listed" in first.stdout
        assert "0 rules added, 0 removed" in second.stdout, (version.step, second.stdout)
        assert sorted(r["SecurityGroupRuleId"] for r in after_second) == sorted(
            r["SecurityGroupRuleId"] for r in after_first
        )
        assert any(r.get("CidrIpv4") == "192.0.2.0/24" for r in after_second), "the customer's own rule is kept"
    assert "removed 198.51.100.8/31 tcp/465" in first.stdout and "added 203.0.113.5/32 tcp/465" in first.stdout
    assert first.stdout.index("added 203.0.113.5/32") < first.stdout.index("removed 198.51.100.8/31")


def test_aws_sg_sync_skips_a_rule_the_customer_already_has_and_checks_its_argument(aws, tmp_path, changes):
    group = _group(aws)
    same = {"IpProtocol": "tcp", "FromPort": 465, "ToPort": 465, "IpRanges": [{"CidrIp": "198.51.100.20/32"}]}
    aws.ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[same])
    script = _write(tmp_path, "aws-sg-sync.sh", changes[0].render("aws-sg-sync"))
    out = aws.script(script, group).stdout
    assert "added 198.51.100.20/32 tcp/465" not in out and "added 198.51.100.20/32 tcp/587" in out
    proc = run("sh", str(script), env=aws.env, check=False)
    assert proc.returncode == 2 and "usage: sh aws-sg-sync.sh SECURITY_GROUP_ID" in proc.stderr


def _prefix_lists(aws) -> dict[str, dict]:
    lists = aws.ec2.describe_managed_prefix_lists()["PrefixLists"]
    return {pl["PrefixListName"]: pl for pl in lists if pl.get("PrefixListName", "").startswith("smtp-egress-")}


def _entries(aws, pl: dict) -> list[str]:
    found = aws.ec2.get_managed_prefix_list_entries(PrefixListId=pl["PrefixListId"])
    return sorted(e["Cidr"] for e in found["Entries"])


def test_aws_prefix_list_sync_follows_each_change_and_a_second_run_changes_nothing(aws, tmp_path, changes):
    group = _group(aws)
    ids: dict[str, str] = {}
    for version in changes:
        script = _write(tmp_path, "aws-prefix-list-sync.sh", version.render("aws-prefix-list-sync"))
        first = aws.script(script, group)
        lists = _prefix_lists(aws)
        second = aws.script(script, group)
        assert _prefix_lists(aws) == lists, (version.step, second.stdout)
        assert second.stdout.count("is up to date") == 2 and "security group" not in second.stdout
        for family in (4, 6):
            pl = lists[f"smtp-egress-us-ipv{family}"]
            assert ids.setdefault(f"ipv{family}", pl["PrefixListId"]) == pl["PrefixListId"], "updated in place"
            assert _entries(aws, pl) == sorted(version.family(family)), (version.step, first.stdout)
            assert pl["MaxEntries"] >= len(version.family(family))
        refs = [r for r in _rules(aws, group) if r.get("PrefixListId")]
        assert sorted((r["PrefixListId"], r["FromPort"]) for r in refs) == sorted(
            (pl_id, port) for pl_id in ids.values() for port in SMTP_PORTS
        )
    created = json.loads(changes[0].render("aws-prefix-list"))
    assert created["ipv4"]["MaxEntries"] == headroom(len(changes[0].family(4))) > len(changes[0].family(4))


def test_aws_prefix_list_sync_grows_max_entries_before_it_adds(aws, tmp_path):
    small = make_version("one address", ("198.51.100.8",))
    large = make_version("five", tuple(f"198.51.100.{i}" for i in (8, 20, 30, 40, 50)))
    for version in (small, large):
        script = _write(tmp_path, "aws-prefix-list-sync.sh", version.render("aws-prefix-list-sync"))
        out = aws.script(script).stdout
    assert f"MaxEntries {headroom(1)} -> {headroom(5)}" in out
    assert _entries(aws, _prefix_lists(aws)["smtp-egress-us-ipv4"]) == sorted(large.family(4))


@pytest.mark.parametrize("fmt", ["aws-sg-sync", "aws-prefix-list-sync"])
def test_a_sync_script_cut_short_changes_nothing_and_says_so(aws, moto_server, tmp_path, changes, fmt):
    """A failed download of the next list (the removal: its first half would revoke what the second half
    lists) is run, cut at every line and within the lines that apply the list, by dash and bash: each run
    fails with the incomplete-file message and the group and prefix lists stay as they were."""
    group = _group(aws)
    aws.script(_write(tmp_path, "applied.sh", changes[1].render(fmt)), group)

    def state() -> tuple:
        lists = {name: (pl, _entries(aws, pl)) for name, pl in _prefix_lists(aws).items()}
        return _rules(aws, group), lists

    def run_cut(shell: list[str], path: Path) -> subprocess.CompletedProcess:
        return run(*shell, str(path), group, "--endpoint-url", moto_server.url, env=aws.env, cwd=tmp_path, check=False)

    assert check_cut_short(changes[2].render(fmt), tmp_path / "cut.sh", run_cut, state) > 100
    aws.script(_write(tmp_path, "whole.sh", changes[2].render(fmt)), group)  # the whole file applies
    if fmt == "aws-sg-sync":
        assert _ours(_rules(aws, group)) == {(b, p) for b in changes[2].blocks for p in SMTP_PORTS}
    else:
        assert _entries(aws, _prefix_lists(aws)["smtp-egress-us-ipv4"]) == sorted(changes[2].family(4))


# --- Terraform: the real AWS provider against moto; each list's plan converges --------------------------------

MIRRORS = ("/opt/*", "/usr/local/share/terraform/plugins", "/usr/share/terraform/plugins", "~/.terraform.d/plugins")
PROVIDER = """\
terraform {
  required_providers {
    aws = { source = "hashicorp/aws" }
  }
}

variable "endpoint" { type = string }

provider "aws" {
  region                      = "us-east-1"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  endpoints {
    ec2 = var.endpoint
    sts = var.endpoint
  }
}
"""


def _provider_mirror() -> Path:
    """A local filesystem mirror holding hashicorp/aws (no registry is reachable from the tests)."""
    roots = [os.environ["TF_PLUGIN_MIRROR"]] if os.environ.get("TF_PLUGIN_MIRROR") else MIRRORS
    for root in roots:
        for found in sorted(Path(os.path.expanduser(root)).parent.glob(Path(root).name)):
            if (found / "registry.terraform.io" / "hashicorp" / "aws").is_dir():
                return found
    if os.environ.get("CI"):
        pytest.fail("no local mirror of the hashicorp/aws provider (set TF_PLUGIN_MIRROR)")
    pytest.skip("no local mirror of the hashicorp/aws provider (set TF_PLUGIN_MIRROR)")


def test_terraform_plan_converges_after_each_change(aws, moto_server, tmp_path, tool, changes):
    """terraform apply of each new file creates and destroys only the changed rules; a plan right after finds
    nothing to do (apply twice = apply once), and the group holds exactly the list."""
    terraform, mirror = tool("terraform"), _provider_mirror()
    work = tmp_path / "tf"
    work.mkdir()
    (work / "cli.tfrc").write_text(
        f'provider_installation {{\n  filesystem_mirror {{\n    path = "{mirror}"\n'
        '    include = ["registry.terraform.io/hashicorp/aws"]\n  }\n'
        '  direct {\n    exclude = ["registry.terraform.io/hashicorp/aws"]\n  }\n}\n'
    )
    (work / "provider.tf").write_text(PROVIDER)
    env = {**aws.env, "TF_CLI_CONFIG_FILE": str(work / "cli.tfrc"), "TF_IN_AUTOMATION": "1"}
    group = _group(aws)
    tf_vars = ["-var", f"endpoint={moto_server.url}", "-var", f"smtp_egress_us_security_group_id={group}"]
    run(terraform, "init", "-input=false", "-no-color", cwd=work, env=env)
    for version in changes:  # apply runs the provider's validation of every value first
        (work / "smtp_egress_us.tf").write_bytes(version.render("terraform"))
        applied = run(terraform, "apply", "-auto-approve", "-input=false", "-no-color", *tf_vars, cwd=work, env=env)
        plan = run(terraform, "plan", "-detailed-exitcode", "-input=false", "-no-color", *tf_vars, cwd=work, env=env,
                   check=False)  # fmt: skip
        assert plan.returncode == 0, (version.step, plan.stdout[-2000:], plan.stderr[-2000:])
        assert _ours(_rules(aws, group)) == {(b, p) for b in version.blocks for p in SMTP_PORTS}, version.step
    assert "Resources: 9 added, 0 changed, 9 destroyed" in applied.stdout  # the rotation: 3 blocks in, 3 out


# --- Pulumi: each list's resources keep their names, so `pulumi up` changes only what changed -----------------


def _pulumi_rules(version) -> dict[str, tuple[str, int]]:
    """The resources the snippet declares for ``version``, by logical name, under the offline engine."""
    import pulumi

    from smtp_egress.synth import engine

    rec = engine.start()
    try:
        namespace: dict = {}
        exec(compile(version.render("pulumi"), "pulumi_snippet.py", "exec"), namespace)

        @pulumi.runtime.test
        def program():
            return pulumi.Output.all(*[r.id for r in namespace["allow_smtp_egress_us"]("sg-0123456789abcdef0")])

        program()
    finally:
        engine.reset()
    return {
        r.name: (r.inputs.get("cidrIpv4") or r.inputs["cidrIpv6"], int(r.inputs["fromPort"])) for r in rec.resources
    }


def test_pulumi_snippet_names_are_stable_across_changes(changes):
    """Pulumi diffs by name (URN): a rule whose block and port stay keeps its name and inputs (no change),
    only added blocks create and only dropped blocks delete. The Pulumi CLI cannot run here (no CLI, no
    backend); this checks what its diff is computed from."""
    previous: dict[str, tuple[str, int]] = {}
    for version in changes:
        rules = _pulumi_rules(version)
        assert sorted(rules.values()) == sorted((b, p) for b in version.blocks for p in SMTP_PORTS), version.step
        assert len(rules) == len(set(rules.values()))
        kept = {name: rule for name, rule in previous.items() if rule in rules.values()}
        assert all(rules.get(name) == rule for name, rule in kept.items()), version.step
        assert _pulumi_rules(version) == rules  # the same file twice: the same resources
        previous = rules
