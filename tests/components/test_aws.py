"""smtp_egress.components.aws: only the listed resource modules load, the classes are pulumi_aws's own, and any
other name turns the stand-in into the whole package. Each check runs in a fresh interpreter (other tests
load whole service packages in this one)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def fresh(code: str) -> dict:
    """Run ``code`` in a new interpreter; it prints one JSON document, returned here."""
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_only_the_listed_modules_load_and_the_classes_are_pulumi_aws_own():
    got = fresh("""
        import importlib, json, sys
        from smtp_egress.components import aws
        import pulumi_aws
        loaded = sorted(m for m in sys.modules if m.startswith("pulumi_aws.ec2."))
        print(json.dumps({
            "loaded": loaded,
            "whole": [s for s in aws.SERVICES if "__getattr__" not in vars(sys.modules["pulumi_aws." + s])],
            "same": aws.ec2 is pulumi_aws.ec2 is sys.modules["pulumi_aws.ec2"],
            "classes": [aws.ec2.Eip is importlib.import_module("pulumi_aws.ec2.eip").Eip,
                        aws.s3.Bucket is importlib.import_module("pulumi_aws.s3.bucket").Bucket],
            "args": aws.ec2.SecurityGroupIngressArgs.__module__,
        }))
    """)
    assert got["whole"] == [], "no service package ran its __init__"
    assert got["loaded"] == sorted(
        f"pulumi_aws.ec2.{m}"
        for m in (
            "eip",
            "internet_gateway",
            "launch_template",
            "nat_gateway",
            "network_acl",
            "route",
            "route_table",
            "route_table_association",
            "security_group",
            "subnet",
            "vpc",
            "vpc_endpoint",
            "vpc_endpoint_policy",
            "_inputs",
            "_enums",
            "outputs",
        )
    )
    assert got["same"] and got["classes"] == [True, True] and got["args"] == "pulumi_aws.ec2._inputs"


def test_any_other_name_loads_the_whole_package_in_place_as_pulumi_rebuilds_resources():
    got = fresh("""
        import json, sys
        from smtp_egress.components import aws
        import pulumi_aws
        stand_in = sys.modules["pulumi_aws.ec2"]
        eip = aws.ec2.Eip
        # what pulumi_aws's registered resource module does to rebuild an aws:ec2/vpnGateway:VpnGateway from its URN
        gateway = getattr(pulumi_aws._utilities.lazy_import("pulumi_aws.ec2"), "VpnGateway")
        names = sorted(n for n in vars(stand_in) if not n.startswith("__"))
        print(json.dumps({"gateway": gateway.__module__, "same": sys.modules["pulumi_aws.ec2"] is stand_in,
                          "eip": stand_in.Eip is eip, "hook": "__getattr__" in vars(stand_in), "names": names}))
    """)
    whole = fresh("""
        import json, pulumi_aws.ec2 as ec2
        ec2.Vpc  # pulumi_aws made it a lazy module: the first attribute runs its __init__
        print(json.dumps({"names": sorted(n for n in vars(ec2) if not n.startswith("__"))}))
    """)
    assert got["gateway"] == "pulumi_aws.ec2.vpn_gateway"
    assert got["same"] and got["eip"] and not got["hook"]
    assert got["names"] == whole["names"], "after the full load the stand-in is the package, name for name"


def test_whoever_held_pulumi_aws_ec2_before_keeps_a_working_module():
    got = fresh("""
        import json
        from pulumi_aws import ec2 as early  # pulumi_aws's lazy module, not loaded yet
        from smtp_egress.components import aws
        print(json.dumps({"same": early is aws.ec2, "eip": early.Eip is aws.ec2.Eip,
                          "gateway": early.VpnGateway.__module__}))
    """)
    assert got == {"same": True, "eip": True, "gateway": "pulumi_aws.ec2.vpn_gateway"}


def test_a_synth_loads_no_whole_service_package():
    got = fresh("""
        import contextlib, io, json, sys, tempfile
        from smtp_egress.scripts.cli import main
        from smtp_egress.components.aws import SERVICES
        data = "tests/stacks/data/"
        with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(io.StringIO()):
            code = main(["synth", "--stack", "us", "--today", "2026-11-26", "--plan", data + "egress-ips.yaml",
                         "--published", data + "published-us-announced.json", "--out", tmp + "/plan.json"])
        print(json.dumps({"code": code, "whole": [
            s for s in SERVICES if "__getattr__" not in vars(sys.modules["pulumi_aws." + s])]}))
    """)
    assert got == {"code": 0, "whole": []}, "a class used by the stack is missing from SERVICES (slower synth)"


def test_it_exports_every_listed_service_and_the_invokes():
    from smtp_egress.components import aws

    assert sorted(aws.__all__) == sorted([*aws.SERVICES, "get_caller_identity_output", "get_region_output"])
