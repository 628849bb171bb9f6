"""The regional smtp-egress stack (``us``, ``eu``): one program, configured by ``stacks/Pulumi.<stack>.yaml``.

Order matters. The program reads its settings, the IP plan and what customers were told, and runs the
deploy guard BEFORE it declares any resource: a planned change whose notice was not given in time stops
the deployment with a message naming the address and the dates (nothing is created or changed), unless
``smtp-egress:emergencyOverride`` gives a reason, which is then exported in ``guard_overrides``.

Its inputs (:class:`smtp_egress.synth.inputs.ProgramInputs`: the plan, the moment, where to read what
customers were told) are given as arguments by ``egress synth``, which runs this file with
``runpy.run_path(init_globals=...)``. Under the Pulumi CLI (``pulumi up``) nobody gives any and the program
uses its defaults: the plan beside it (``stacks/egress-ips.yaml``), the real current time (a deploy always
acts as of now), and what customers were told from the ledger (env ``EGRESS_DB``, else config
``smtp-egress:ledgerUrl``), else from the region's published document at ``smtp-egress:publishedUrl``.
A deploy refuses a simulation ledger (or a simulated published document); under ``egress synth`` the plan
says it is simulated (output ``simulated``). The program reads no other environment variable. Nothing
imports this file.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pulumi

from smtp_egress.addresses import address_states, announcements_from_document, enforce_guard, should_attach
from smtp_egress.components import aws
from smtp_egress.components.daily_task import DailyTaskArgs, state_bucket
from smtp_egress.components.delivery_workers import DeliveryWorkers, DeliveryWorkersArgs
from smtp_egress.components.domains_recheck import DomainsRecheck, DomainsRecheckArgs
from smtp_egress.components.egress_rules import SmtpEgressRules, SmtpEgressRulesArgs, resolver_ip
from smtp_egress.components.notice_schedule import NoticeSchedule, NoticeScheduleArgs
from smtp_egress.components.publisher import IpListPublisher, IpListPublisherArgs, PublishedFile
from smtp_egress.components.regional_egress import EgressAddress, RegionalEgress, RegionalEgressArgs
from smtp_egress.components.tracking_dns import TrackingDns, TrackingDnsArgs
from smtp_egress.components.vpc_endpoints import VpcEndpoints, VpcEndpointsArgs
from smtp_egress.dates import utc_now
from smtp_egress.errors import ConfigError, EgressError, PublishedUnusable
from smtp_egress.plan import load_plan
from smtp_egress.signing import public_key_pem, sign
from smtp_egress.stacks.settings import StackSettings
from smtp_egress.synth.inputs import INPUTS_GLOBAL, ProgramInputs
from smtp_egress.synth.recording import SECRET
from smtp_egress.timeline import published_addresses

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

HERE = Path(__file__).resolve().parent


def clean(exc: EgressError) -> EgressError:
    """The same error, also a ``pulumi.RunError``: the Pulumi CLI prints its message without a traceback,
    and ``egress synth`` still sees the EgressError (message and exit code)."""
    if isinstance(exc, pulumi.RunError):
        return exc
    cls: type[EgressError] = type(
        type(exc).__name__, (type(exc), pulumi.RunError), {"__module__": type(exc).__module__}
    )
    new = BaseException.__new__(cls, *exc.args)
    new.__dict__.update(exc.__dict__)
    return new


def program_inputs() -> ProgramInputs:
    """The inputs ``egress synth`` gave (a global set by runpy), else a deploy's defaults (module docstring)."""
    given = globals().get(INPUTS_GLOBAL)
    if given is not None:
        return given
    return ProgramInputs(
        plan=load_plan(HERE / "egress-ips.yaml"), moment=utc_now(), ledger_url=os.environ.get("EGRESS_DB")
    )


def documents(plan, settings: StackSettings, all_anns: dict, moment, simulated: bool = False) -> dict:
    """This region's files of the static tree, as ``egress publish --static-dir`` writes them: with
    ``smtp-egress:signingKey``, the document's signature (``.sig``) beside it."""
    from smtp_egress.document import CACHE_CONTROL, SIGNATURE_TYPE, document_path, static_files
    from smtp_egress.signing import SIGNATURE_SUFFIX

    files = static_files(
        plan, all_anns, moment, settings.published_base_url, regions=[settings.region], simulated=simulated
    )
    docs = {path: PublishedFile(data.decode(), ctype, CACHE_CONTROL) for path, (data, ctype) in files.items()}
    path = document_path(settings.region)
    signature = with_key(settings, lambda key: base64.b64encode(sign(key, files[path][0])).decode())
    if signature is not None:
        docs[path + SIGNATURE_SUFFIX] = PublishedFile(signature, SIGNATURE_TYPE, CACHE_CONTROL, binary=True)
    return docs


def with_key(settings: StackSettings, use: Callable[[Ed25519PrivateKey], str]) -> str | None:
    """What ``use`` makes with the signing key (a signature, the public key: public by design), None without
    a key; under ``egress synth``, which holds no secret, the placeholder ``"[secret]"``."""
    if settings.signing_key is not None:
        return use(settings.signing_key)
    return SECRET if settings.signing_key_placeholder else None


def announcements(inputs: ProgramInputs, settings: StackSettings) -> tuple[dict, dict, bool]:
    """(this region's announcements for the guard, every region's known ones for the changes feed, whether they
    come from a simulation: a simulation ledger or a simulated published document)."""
    plan, published = inputs.plan, inputs.published
    ledger_url = inputs.ledger_url or settings.guard_ledger_url
    if ledger_url and not published:
        from smtp_egress.ledger import Ledger

        ledger = Ledger(ledger_url)
        try:
            every, simulated = ledger.announcements(), ledger.simulation
        finally:
            ledger.close()
        return {k: a for k, a in every.items() if a.region == settings.region}, every, simulated
    from smtp_egress.checks.published import fetch_published

    doc = fetch_published(published or settings.published_url, settings.region)
    anns = announcements_from_document(plan, settings.region, [str(ip) for ip in doc.addresses], list(doc.upcoming))
    return anns, anns, doc.raw.get("simulated") is True


def refuse_simulation_in_a_deploy() -> None:
    """A deploy (no inputs given: ``pulumi up``) acts on real customers: never from a simulation."""
    if globals().get(INPUTS_GLOBAL) is None:
        raise ConfigError(
            "what customers were told comes from a simulation (a simulation ledger, or a published document "
            "marked simulated): a deploy never acts on one. Point EGRESS_DB or smtp-egress:ledgerUrl at the real "
            "ledger (or smtp-egress:publishedUrl at the real published list); nothing was deployed"
        )


def notice_security_group(region: str, network, tags: dict) -> aws.ec2.SecurityGroup:
    """The daily notice job needs more than the workers may do (HTTPS to the published list and to webhooks,
    the ledger's PostgreSQL in the VPC), so it gets its own group: still no port 25, still nothing inbound."""
    resolver = [f"{resolver_ip(network.vpc_cidr)}/32"]
    egress: list[aws.ec2.SecurityGroupEgressArgsDict] = [
        {
            "protocol": "tcp",
            "from_port": port,
            "to_port": port,
            "description": what,
            "cidr_blocks": ["0.0.0.0/0"],
            "ipv6_cidr_blocks": ["::/0"],
        }
        for port, what in (
            (443, "HTTPS: published list, webhooks"),
            (465, "SMTP (implicit TLS)"),
            (587, "SMTP submission"),
        )
    ]
    egress.append(
        {
            "protocol": "tcp",
            "from_port": 5432,
            "to_port": 5432,
            "cidr_blocks": [network.vpc_cidr],
            "description": "the ledger (PostgreSQL) inside the VPC",
        }
    )
    egress += [
        {
            "protocol": proto,
            "from_port": 53,
            "to_port": 53,
            "cidr_blocks": resolver,
            "description": f"DNS ({proto}) to the VPC resolver",
        }
        for proto in ("udp", "tcp")
    ]
    return aws.ec2.SecurityGroup(
        f"{region}-notices",
        vpc_id=network.vpc_id,
        ingress=[],
        egress=egress,
        tags={**tags, "Name": f"{region}-notices"},
        description="Daily notice job: HTTPS (published list, webhooks), SMTP submission, the ledger; nothing in",
    )


def daily_task_args(settings: StackSettings, network, publisher) -> DailyTaskArgs | None:
    """With ``smtp-egress:stateBackend``, the task runs the whole day (egress daily: notify, publish, the gateways)
    and its role may do exactly that; without it, ``egress notify`` alone, as before."""
    if settings.state_backend is None:
        pulumi.log.warn(
            "smtp-egress:stateBackend is not set: the daily task runs `egress notify` only, so the gateways and the "
            "published list follow the timeline only when someone deploys; see README, 'Operations'"
        )
        return None
    return DailyTaskArgs(
        stack=settings.stack,
        state_backend=settings.state_backend,
        publish_bucket_name=publisher.bucket_name,
        distribution_id=publisher.distribution_id,
        nat_gateway_ids=list(network.nat_gateway_ids.values()),
        allocation_ids=list(network.eip_allocation_ids.values()),
    )


def domains_recheck(
    settings: StackSettings, notices: NoticeSchedule, subnet_ids, security_group_id, tags: dict
) -> DomainsRecheck | None:
    """With ``smtp-egress:domainsVerifySchedule``, the branded domains' re-check (``egress domains verify --all
    --notify``) on the notice job's cluster, secrets and logs. It checks every region's workspaces of the shared
    ledger, each against ``track.<region>.<trackingDomain>`` with this stack's trackingDomain
    (``EGRESS_TRACKING_DOMAIN``): declare it in one stack only."""
    if settings.domains_verify_schedule is None:
        return None
    return DomainsRecheck(
        f"{settings.region}-domains",
        DomainsRecheckArgs(
            region=settings.region,
            image=settings.notice_image,
            cluster_arn=notices.cluster_arn,
            execution_role_arn=notices.execution_role_arn,
            log_group_name=notices.log_group_name,
            secret_arns=notices.secret_arns,
            subnet_ids=subnet_ids,
            security_group_id=security_group_id,
            environment={
                "EGRESS_BASE_URL": settings.published_base_url,
                "EGRESS_FROM": settings.notice_from,
                "EGRESS_TRACKING_DOMAIN": settings.tracking_domain,
            },
            schedule_expression=settings.domains_verify_schedule,
            alert_emails=settings.alert_emails,
            tags=tags,
        ),
    )


def prepare():
    """Everything the resources depend on, checked before any exists: settings, plan, announcements, guard."""
    settings = StackSettings.load(pulumi.Config(), pulumi.Config("aws"))
    inputs = program_inputs()
    plan, now = inputs.plan, inputs.moment
    plan.region(settings.region)  # a clear error naming the region and the plan's regions
    day = now.date()
    anns, all_anns, simulated = announcements(inputs, settings)
    if simulated:
        refuse_simulation_in_a_deploy()
    overridden = enforce_guard(plan, settings.region, anns, now, override_reason=settings.emergency_override)
    forced = {v.ip for v in overridden}
    addresses = [
        EgressAddress(
            ip=s.ip,
            state=s.state,
            attach=should_attach(s, day, s.ip in forced),
            allocation_id=s.entry.allocation_id,
            byoip_pool=s.entry.byoip_pool,
        )
        for s in address_states(plan, settings.region, anns, day)
    ]
    settings.check_gateway_capacity(sum(a.attach for a in addresses), day.isoformat())
    live = [str(ip) for ip in published_addresses(plan, settings.region, anns, day)]
    if not live:
        raise PublishedUnusable(
            f"{settings.region}: no address of the plan is published on {day.isoformat()}; an empty list makes "
            "customers' sync scripts wipe their allowlists, so nothing was deployed: announce an addition first"
        )
    docs = documents(plan, settings, all_anns, now, simulated)
    return settings, overridden, addresses, live, docs, simulated


def declare(
    settings: StackSettings, overridden: list, addresses: list, live: list[str], docs: dict, simulated: bool
) -> None:
    """The resources and the stack outputs. Nothing before this creates any."""
    if simulated:
        pulumi.export("simulated", True)  # only then: a real plan's outputs are what they always were
    if settings.emergency_override and not overridden:
        pulumi.log.warn("smtp-egress:emergencyOverride is set but the guard found nothing to override; remove it")
    for v in overridden:
        pulumi.log.warn(f"deploy guard OVERRIDDEN ({settings.emergency_override!r}): {v.message}")

    region = settings.region
    tags = {"Project": "smtp-egress", "Stack": settings.stack}

    network = RegionalEgress(
        region,
        RegionalEgressArgs(
            region=region,
            vpc_cidr=settings.vpc_cidr,
            availability_zones=settings.availability_zones,
            addresses=addresses,
            reserve=settings.reserve,
            tags=tags,
            addresses_per_gateway=settings.addresses_per_gateway,
        ),
    )
    endpoints = VpcEndpoints(
        f"{region}-endpoints",
        VpcEndpointsArgs(
            aws_region=settings.aws_region,
            vpc_id=network.vpc_id,
            vpc_cidr=network.vpc_cidr,
            private_subnet_ids=network.private_subnet_ids,
            private_route_table_ids=network.private_route_table_ids,
            interface_services=("sqs", "kms", "autoscaling", "secretsmanager"),  # health reports; secrets
            tags=tags,
        ),
    )
    rules = SmtpEgressRules(
        f"{region}-smtp",
        SmtpEgressRulesArgs(
            vpc_id=network.vpc_id,
            vpc_cidr=network.vpc_cidr,
            private_subnet_ids=network.private_subnet_ids,
            endpoint_prefix_list_ids=[endpoints.s3_prefix_list_id],
            tags=tags,
        ),
    )
    dns = TrackingDns(
        f"{region}-dns",
        TrackingDnsArgs(
            zone_id=settings.zone_id,
            domain=settings.tracking_domain,
            region=region,
            tracking_target=settings.tracking_target,
            mx_addresses=settings.mx_addresses,
            live_addresses=live,
        ),
    )
    workers = DeliveryWorkers(
        f"{region}-workers",
        DeliveryWorkersArgs(
            region=region,
            ami_id=settings.worker_ami,
            private_subnet_ids=network.private_subnet_ids,
            security_group_id=rules.security_group_id,
            vpc_cidr=network.vpc_cidr,
            instance_type=settings.worker_instance_type,
            min_size=settings.worker_min_size,
            max_size=settings.worker_max_size,
            desired_capacity=settings.worker_desired_size,
            tags=tags,
            ledger_url_secret_arn=settings.worker_ledger_secret_arn,
            tracking_keys_secret_arn=settings.worker_tracking_keys_secret_arn,
            secrets_kms_key_arn=settings.worker_secrets_kms_key,
        ),
    )
    publisher = IpListPublisher(
        f"{region}-published",
        IpListPublisherArgs(
            region=region,
            documents=docs,
            aliases=settings.published_aliases,
            certificate_arn=settings.certificate_arn,
            tags=tags,
        ),
    )
    if settings.signing_key is None and not settings.signing_key_placeholder:
        pulumi.log.warn(
            "smtp-egress:signingKey is not set: the published list is served without a signature (.sig), so "
            "customers cannot check that it comes from you; see README, 'Signing the published list'"
        )
    if not settings.alert_emails:
        pulumi.log.warn(
            "smtp-egress:alertEmails is empty: failures of the daily notice job reach the alerts topic "
            "(output alerts_topic) but nobody is emailed; add an address or subscribe another way"
        )
    jobs_group = notice_security_group(region, network, tags)
    notices = NoticeSchedule(
        f"{region}-notices",
        NoticeScheduleArgs(
            region=region,
            image=settings.notice_image,
            subnet_ids=network.private_subnet_ids,
            security_group_id=jobs_group.id,
            published_url=settings.published_url,
            secrets={"EGRESS_DB": settings.ledger_url, **settings.channel_secrets},
            sender=settings.notice_from,
            schedule_expression=settings.notice_schedule,
            alert_emails=settings.alert_emails,
            daily=daily_task_args(settings, network, publisher),
            extra_alarms=(workers.dead_letter_alarm,),
            tags=tags,
        ),
    )
    recheck = domains_recheck(settings, notices, network.private_subnet_ids, jobs_group.id, tags)

    # The S3 gateway endpoint reaches the stack's buckets only (and ECR's image layers), now that they exist.
    state = [state_bucket(settings.state_backend)] if settings.state_backend is not None else []
    endpoints.limit_s3_to([workers.archive_bucket_name, publisher.bucket_name, *state])

    pulumi.export(
        "egress_addresses",
        {
            a.ip: {"state": a.state, "attached": a.attach, "allocation_id": network.eip_allocation_ids[a.ip]}
            for a in addresses
        },
    )
    # which address is each zone's NAT gateway primary: `egress deploy` refuses a change that replaces a gateway
    pulumi.export("nat_gateways", network.nat_addresses)
    pulumi.export("queue_url", workers.queue_url)
    pulumi.export("archive_bucket", workers.archive_bucket_name)
    pulumi.export("smtp_key_arn", workers.smtp_key_arn)  # EGRESS_SMTP_KMS_KEY for `egress smtp add`
    # where an operator puts the workers' ledger URL and tracking keys (aws secretsmanager put-secret-value)
    pulumi.export("worker_ledger_secret", workers.ledger_secret_arn)
    pulumi.export("worker_tracking_keys_secret", workers.tracking_keys_secret_arn)
    pulumi.export("publisher_url", publisher.url)
    # where the daily task uploads (egress daily --upload s3://BUCKET/<region> --invalidate DISTRIBUTION_ID)
    pulumi.export("publisher_bucket", publisher.bucket_name)
    pulumi.export("publisher_distribution_id", publisher.distribution_id)
    pulumi.export("alerts_topic", notices.alerts_topic_arn)
    # where failed runs of the branded domains' re-check are told (None: not declared in this stack)
    pulumi.export("domains_alerts_topic", recheck.alerts_topic_arn if recheck else None)
    pulumi.export("tracking_hosts", {"tracking": dns.tracking_host, "mx": dns.mx_host, "egress_txt": dns.txt_name})
    pulumi.export("signing_public_key", with_key(settings, public_key_pem))  # give it to customers who verify
    pulumi.export(
        "guard_overrides",
        [{"ip": v.ip, "reason": settings.emergency_override, "violation": v.message} for v in overridden],
    )


try:
    declare(*prepare())
except EgressError as exc:
    raise clean(exc) from None
