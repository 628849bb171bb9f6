"""The pulumi_aws resource classes that the components and the stack program use, one module each.

Use it as ``from smtp_egress.components import aws``, then ``aws.ec2.Eip``, ``aws.s3.Bucket``... as with
``import pulumi_aws as aws``: same classes, same arguments, so the engine receives exactly the same
registrations (the golden ``egress synth`` plans are byte-identical either way).

Why: ``import pulumi_aws`` is cheap (about 0.05 s) and leaves each service package (``pulumi_aws.ec2``,
``pulumi_aws.s3``...) to load on first use; but that first use runs the package's ``__init__``, which imports
every resource module of the service (ec2 alone has 183). Loading the 13 services whole was 0.65 s of a 2.1 s
``egress synth`` (more with the garbage collection it set off); the 40 modules used take 0.3 s (BENCHMARKS.md).

How: for each service in :data:`SERVICES`, the module object of ``pulumi_aws.<service>`` (pulumi_aws's
lazy module, made an ordinary one) stands in for the package without running its ``__init__``. The listed
resource modules are imported into it as usual (``pulumi_aws.ec2.eip``...) and their public names copied
onto it, which is what the ``__init__``'s ``from .eip import *`` lines do. A name the stand-in lacks
(a class not listed here, ``__all__``...) makes it run the real ``__init__`` in place, once: from then on it
IS the whole package (the same module object, the same class objects). So a missing entry here makes a
run slower, never different. A package that was already loaded whole is used as it is.

Why a real ``pulumi up`` still registers what it needs: the resource modules that let the engine rebuild a
resource from its URN are registered by ``pulumi_aws/__init__.py``, which is imported as usual; each
registration looks its class up as ``getattr(sys.modules["pulumi_aws.<service>"], "<Class>")``, which on
the stand-in finds a copied class or triggers the full load above. The provider (``pulumi_aws.Provider``)
and the invokes (``get_caller_identity_output``...) are top-level and load with ``pulumi_aws`` itself.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import sys
import threading
import types
from typing import TYPE_CHECKING

import pulumi_aws
from pulumi_aws import get_caller_identity_output, get_region_output

# service package -> the resource modules used (``_inputs`` where an ``...Args`` input class is used by name)
SERVICES: dict[str, tuple[str, ...]] = {
    "autoscaling": ("group", "policy", "_enums"),
    "cloudfront": ("distribution", "origin_access_control"),
    "cloudwatch": ("event_rule", "event_target", "log_group", "metric_alarm"),
    "ec2": (
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
    ),
    "ecs": ("cluster", "task_definition"),
    "iam": ("instance_profile", "role", "role_policy"),
    "kms": ("key",),
    "route53": ("record",),
    "s3": (
        "bucket",
        "bucket_lifecycle_configuration",
        "bucket_objectv2",
        "bucket_ownership_controls",
        "bucket_policy",
        "bucket_public_access_block",
        "bucket_server_side_encryption_configuration",
        "bucket_versioning",
    ),
    "scheduler": ("schedule",),
    "secretsmanager": ("secret", "secret_version"),
    "sns": ("topic", "topic_policy", "topic_subscription"),
    "sqs": ("queue", "queue_policy"),
}

_FULL_LOAD = threading.RLock()


def _is_lazy(module: types.ModuleType) -> bool:
    """pulumi_aws's lazy module for a service package, whose ``__init__`` has not run yet."""
    return type(module).__name__ == "_LazyModule"


def _stand_in(fullname: str) -> types.ModuleType:
    """The package ``fullname`` without its ``__init__`` run: a name it lacks runs it (see the module docstring).

    pulumi_aws's own lazy module for it, when there is one, becomes the stand-in (the same object, so whoever
    already holds ``pulumi_aws.<service>`` gets the same behaviour); otherwise one is made from the spec.
    """
    package = sys.modules.get(fullname)
    if package is not None:
        object.__setattr__(package, "__class__", types.ModuleType)  # no longer lazy: it loads as described here
    else:
        found = importlib.machinery.PathFinder.find_spec(fullname, pulumi_aws.__path__)
        if found is None:
            raise ModuleNotFoundError(f"no package {fullname!r} in pulumi_aws {pulumi_aws.__path__}", name=fullname)
        package = importlib.util.module_from_spec(found)
    spec = package.__spec__
    loader = spec.loader if spec else None
    if loader is None:
        raise ModuleNotFoundError(f"cannot load {fullname!r}: its module has no loader", name=fullname)

    def load_whole_package(name: str) -> object:
        with _FULL_LOAD:
            if package.__dict__.get("__getattr__") is load_whole_package:
                if importlib.util.find_spec(f"{fullname}.{name}") is not None:  # a submodule: import just it
                    return importlib.import_module(f"{fullname}.{name}")
                del package.__dict__["__getattr__"]
                loader.exec_module(package)  # the real __init__, in place: its star imports reuse what is loaded
        try:
            return package.__dict__[name]
        except KeyError:
            raise AttributeError(f"module {fullname!r} has no attribute {name!r}") from None

    package.__getattr__ = load_whole_package  # type: ignore[method-assign]  # PEP 562: only for missing names
    return package


def service(name: str, modules: tuple[str, ...]) -> types.ModuleType:
    """``pulumi_aws.<name>`` with (at least) ``modules`` loaded and their public names on it."""
    fullname = f"pulumi_aws.{name}"
    package = sys.modules.get(fullname)
    if package is None or _is_lazy(package):
        package = _stand_in(fullname)
        sys.modules[fullname] = package
        setattr(pulumi_aws, name, package)
    for module_name in modules:
        module = importlib.import_module(f"{fullname}.{module_name}")
        for public in getattr(module, "__all__", ()):
            setattr(package, public, getattr(module, public))
    return package


if TYPE_CHECKING:  # type checkers see the real packages
    from pulumi_aws import (
        autoscaling,
        cloudfront,
        cloudwatch,
        ec2,
        ecs,
        iam,
        kms,
        route53,
        s3,
        scheduler,
        secretsmanager,
        sns,
        sqs,
    )
else:
    globals().update({name: service(name, modules) for name, modules in SERVICES.items()})

__all__ = [
    "autoscaling",
    "cloudfront",
    "cloudwatch",
    "ec2",
    "ecs",
    "get_caller_identity_output",
    "get_region_output",
    "iam",
    "kms",
    "route53",
    "s3",
    "scheduler",
    "secretsmanager",
    "sns",
    "sqs",
]
