"""The regional stack's settings, read once from Pulumi config into one typed, frozen object.

``StackSettings.load(pulumi.Config(), pulumi.Config("aws"))`` reads and checks every key the program
uses (``smtp-egress:*`` and ``aws:region``) and raises :class:`SettingsError` naming the key, the bad
value and the stack file to fix. Components never read config; they get values from here.

``domainsVerifySchedule`` (optional, like ``noticeSchedule``) declares the branded domains' re-check (``egress
domains verify --all --notify``) in this stack; it checks every region's workspaces, so set it in one stack only.

``alertEmails`` (optional, a YAML list) names who is emailed when the daily notice job fails; each address
is checked here, so a malformed list stops the program before any resource is declared.

Secrets (``ledgerUrl``, ``signingKey`` and each notice channel's: ``smtpUrl``, ``webhookSecret``, declared by
the channels in :mod:`smtp_egress.notices.channels`) stay secret ``Output`` values, so everything derived
from them is masked in state and in ``egress synth`` plans. Two exceptions, both read in plain before any
resource exists and never passed to a resource or exported: ``guard_ledger_url`` (the deploy guard reads the
ledger first), and ``signing_key``, the parsed ``signingKey`` (optional: an Ed25519 private key in PEM,
``pulumi config set --secret smtp-egress:signingKey < KEY.pem``). A bad key stops the program here, before
any resource; the program uses the key only to sign the published document, and only the signature (public
by design: it is served beside the document) and the public key leave it. ``egress synth`` gives every
secret as the placeholder ``"[secret]"``: then ``signing_key`` is None and ``signing_key_placeholder`` says
that a key is configured (the plan shows its signature as ``"[secret]"``).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import re
import urllib.parse
from typing import TYPE_CHECKING, NoReturn

import pulumi

from smtp_egress.components.job_alerts import email_problems
from smtp_egress.components.netplan import (
    DEFAULT_ADDRESSES_PER_GATEWAY,
    MAX_ADDRESSES_PER_GATEWAY,
    capacity_problem,
    needed_per_gateway,
)
from smtp_egress.errors import ConfigError
from smtp_egress.notices.channels import stack_secrets
from smtp_egress.notices.channels.email import sender_problem
from smtp_egress.synth.recording import SECRET

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

NS = "smtp-egress"
# signingKey is optional; every other one must be set (the channels' even if no workspace uses that channel yet)
SECRET_KEYS = ("ledgerUrl", *(s.config_key for s in stack_secrets()), "signingKey")
AMI = re.compile(r"^ami-[0-9a-f]{8}([0-9a-f]{9})?$")
SCHEDULE = re.compile(r"^(cron|rate)\(.+\)$")
SECRET_ARN = re.compile(r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]{1,512}$")
KMS_KEY_ARN = re.compile(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[A-Za-z0-9-]{1,128}$")


class SettingsError(ConfigError, pulumi.RunError):
    """A stack config key is missing or wrong (a clean error under the Pulumi CLI and `egress synth`)."""


@dataclasses.dataclass(frozen=True)
class StackSettings:
    stack: str
    aws_region: str
    region: str  # the plan's region: us | eu
    availability_zones: tuple[str, ...]
    vpc_cidr: str
    tracking_domain: str
    zone_id: str
    tracking_target: str
    mx_addresses: tuple[str, ...]
    worker_instance_type: str
    worker_ami: str
    worker_min_size: int
    worker_max_size: int
    worker_desired_size: int
    notice_schedule: str
    notice_image: str
    published_url: str
    notice_from: str  # the From: of the daily task's notices (its EGRESS_FROM)
    reserve: int
    addresses_per_gateway: int  # the account's NAT gateway EIP quota ('Elastic IP addresses per public NAT gateway')
    emergency_override: str | None
    certificate_arn: str | None  # optional: serve the list at publishedUrl's host (an ACM cert in us-east-1)
    ledger_url: pulumi.Output[str] = dataclasses.field(repr=False)
    # every notice channel's stack secret, by the daily task's environment variable (e.g. EGRESS_SMTP_URL)
    channel_secrets: dict[str, pulumi.Output[str]] = dataclasses.field(repr=False)
    signing_key: Ed25519PrivateKey | None = dataclasses.field(repr=False)  # optional: signs the published list
    signing_key_placeholder: bool = False  # egress synth: a key is configured, given as the placeholder
    guard_ledger_url: str | None = dataclasses.field(default=None, repr=False)
    alert_emails: tuple[str, ...] = ()  # optional: emailed when the notice job exits non-zero or fails to start
    state_backend: str | None = None  # optional: s3://BUCKET/PREFIX; set, the task runs the whole day (egress daily)
    # optional: when the branded domains' re-check runs (egress domains verify --all --notify); unset: not declared
    domains_verify_schedule: str | None = None
    # optional: existing Secrets Manager secrets for the workers (else DeliveryWorkers declares them, without a
    # value) and the customer managed KMS key that encrypts them
    worker_ledger_secret_arn: str | None = None
    worker_tracking_keys_secret_arn: str | None = None
    worker_secrets_kms_key: str | None = None

    @property
    def published_base_url(self) -> str:
        """scheme://host of publishedUrl: the base of the links in the changes feed."""
        parts = urllib.parse.urlsplit(self.published_url)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def published_aliases(self) -> tuple[str, ...]:
        """The publisher's CloudFront aliases: publishedUrl's host, when a certificate is configured."""
        host = urllib.parse.urlsplit(self.published_url).hostname
        return (host,) if host and self.certificate_arn else ()

    def check_gateway_capacity(self, attached: int, day: str) -> None:
        """SettingsError when ``attached`` addresses do not fit on the NAT gateways, naming the key to set."""
        problem = capacity_problem(attached, len(self.availability_zones), self.addresses_per_gateway)
        if problem is None:
            return
        needed = needed_per_gateway(attached, len(self.availability_zones))
        zones = f"add zones to '{NS}:availabilityZones' (stacks/Pulumi.{self.stack}.yaml)"
        fix = (
            zones
            if needed > MAX_ADDRESSES_PER_GATEWAY
            else (
                f"ask AWS (Service Quotas, {self.aws_region}) to raise that quota to {needed} or more, then set "
                f"'{NS}:addressesPerGateway' (stacks/Pulumi.{self.stack}.yaml, now {self.addresses_per_gateway}): "
                f"`pulumi config set {NS}:addressesPerGateway {needed}`; or {zones}"
            )
        )
        raise SettingsError(f"region {self.region!r} on {day}: {problem}; nothing was deployed: {fix}")

    @classmethod
    def load(cls, config: pulumi.Config, aws_config: pulumi.Config) -> StackSettings:
        stack = pulumi.get_stack()
        r = _Reader(config, stack)
        aws_region = _Reader(aws_config, stack).text("region")
        zones = tuple(r.strings("availabilityZones"))
        for zone in zones:
            if not zone.startswith(aws_region):
                r.bad("availabilityZones", zones, f"zone {zone!r} is not in aws:region {aws_region!r}")
        sizes = {k: r.integer(k, minimum=0) for k in ("workerMinSize", "workerMaxSize", "workerDesiredSize")}
        if not sizes["workerMinSize"] <= sizes["workerDesiredSize"] <= sizes["workerMaxSize"]:
            r.bad(
                "workerDesiredSize",
                sizes["workerDesiredSize"],
                f"it must lie between workerMinSize {sizes['workerMinSize']} "
                f"and workerMaxSize {sizes['workerMaxSize']}",
            )
        ledger_plain = config.get("ledgerUrl")
        signing_plain = (config.get("signingKey") or "").strip()
        return cls(
            stack=stack,
            aws_region=aws_region,
            region=r.text("planRegion"),
            availability_zones=zones,
            vpc_cidr=r.cidr("vpcCidr"),
            tracking_domain=r.hostname("trackingDomain"),
            zone_id=r.text("zoneId"),
            tracking_target=r.hostname("trackingTarget"),
            mx_addresses=tuple(r.strings("mxAddresses")),
            worker_instance_type=r.text("workerInstanceType"),
            worker_ami=r.pattern("workerAmi", AMI, "ami-0123456789abcdef0"),
            worker_min_size=sizes["workerMinSize"],
            worker_max_size=sizes["workerMaxSize"],
            worker_desired_size=sizes["workerDesiredSize"],
            notice_schedule=r.pattern("noticeSchedule", SCHEDULE, "cron(0 6 * * ? *)"),
            notice_image=r.text("noticeImage"),
            published_url=r.url("publishedUrl"),
            notice_from=r.sender("noticeFrom"),
            reserve=r.integer("reserve", minimum=0, default=0),
            addresses_per_gateway=r.integer(
                "addressesPerGateway",
                minimum=1,
                maximum=MAX_ADDRESSES_PER_GATEWAY,
                default=DEFAULT_ADDRESSES_PER_GATEWAY,
                why=f"the AWS quota 'Elastic IP addresses per public NAT gateway' (default "
                f"{DEFAULT_ADDRESSES_PER_GATEWAY}, adjustable up to {MAX_ADDRESSES_PER_GATEWAY})",
            ),
            emergency_override=(config.get("emergencyOverride") or "").strip() or None,
            certificate_arn=(config.get("certificateArn") or "").strip() or None,
            state_backend=(config.get("stateBackend") or "").strip() or None,
            domains_verify_schedule=r.pattern("domainsVerifySchedule", SCHEDULE, "cron(30 7 * * ? *)")
            if (config.get("domainsVerifySchedule") or "").strip()
            else None,
            ledger_url=r.secret("ledgerUrl"),
            channel_secrets={s.env: r.secret(s.config_key) for s in stack_secrets()},
            signing_key=r.private_key("signingKey", signing_plain) if signing_plain not in ("", SECRET) else None,
            signing_key_placeholder=signing_plain == SECRET,
            guard_ledger_url=ledger_plain if ledger_plain and "://" in ledger_plain else None,
            alert_emails=r.emails("alertEmails"),
            **r.optional_patterns(
                worker_ledger_secret_arn=("workerLedgerSecretArn", SECRET_ARN, "arn:aws:secretsmanager:...:secret:x"),
                worker_tracking_keys_secret_arn=("workerTrackingKeysSecretArn", SECRET_ARN, "arn:aws:...:secret:x"),
                worker_secrets_kms_key=("workerSecretsKmsKey", KMS_KEY_ARN, "arn:aws:kms:us-east-1:123456789012:key/x"),
            ),
        )


class _Reader:
    def __init__(self, config: pulumi.Config, stack: str):
        self.config, self.stack = config, stack

    def where(self, key: str) -> str:
        return f"'{self.config.name}:{key}' (stacks/Pulumi.{self.stack}.yaml)"

    def bad(self, key: str, value: object, why: str) -> NoReturn:
        raise SettingsError(
            f"config {self.where(key)} is {value!r}: {why}; fix it with "
            f"`pulumi config set {self.config.name}:{key} ...`"
        )

    def text(self, key: str, default: str | None = None) -> str:
        value = self.config.get(key)
        if value is None or not value.strip():
            if default is not None:
                return default
            raise SettingsError(
                f"config {self.where(key)} is missing; set it with `pulumi config set {self.config.name}:{key} VALUE`"
            )
        return value.strip()

    def secret(self, key: str) -> pulumi.Output[str]:
        self.text(key)  # present (its value is never inspected here)
        return self.config.require_secret(key)

    def integer(
        self, key: str, minimum: int, default: int | None = None, maximum: int | None = None, why: str = ""
    ) -> int:
        value = self.text(key, None if default is None else str(default))
        why = f" ({why})" if why else ""
        try:
            number = int(value)
        except ValueError:
            self.bad(key, value, f"expected a whole number{why}")
        if number < minimum:
            self.bad(key, number, f"expected at least {minimum}{why}")
        if maximum is not None and number > maximum:
            self.bad(key, number, f"expected at most {maximum}{why}")
        return number

    def strings(self, key: str) -> list[str]:
        value = self.text(key)
        try:
            items = json.loads(value)
        except json.JSONDecodeError:
            items = None
        if not isinstance(items, list) or not items or not all(isinstance(i, str) and i for i in items):
            self.bad(key, value, "expected a non-empty list of strings (YAML list, or JSON with --path)")
        return items

    def emails(self, key: str) -> tuple[str, ...]:
        """An optional list of email addresses (absent or empty: none)."""
        value = self.config.get(key)
        if value is None or not value.strip():
            return ()
        try:
            items = json.loads(value)
        except json.JSONDecodeError:
            items = None
        if not isinstance(items, list):
            self.bad(
                key,
                value,
                "expected a YAML list of email addresses, e.g. `- ops-alerts@example.com` on the "
                f"line below the key, or `pulumi config set --path '{self.config.name}:{key}[0]' ADDRESS`",
            )
        problems = email_problems(items)
        if problems:
            self.bad(key, items, "; ".join(problems))
        return tuple(items)

    def sender(self, key: str) -> str:
        value = self.text(key)
        problem = sender_problem(value)
        if problem:
            self.bad(key, value, f"the From: of the daily job's notices {problem}")
        return value

    def private_key(self, key: str, pem: str) -> Ed25519PrivateKey:
        """A secret PEM value as an Ed25519 private key; SettingsError naming the key, never quoting the value."""
        from smtp_egress.signing import private_key_from_pem

        try:
            return private_key_from_pem(pem.encode(), self.where(key))
        except ConfigError as exc:
            raise SettingsError(
                f"{exc}; then set it with `pulumi config set --secret {self.config.name}:{key} < PATH`"
            ) from None

    def cidr(self, key: str) -> str:
        value = self.text(key)
        try:
            return str(ipaddress.ip_network(value))
        except ValueError as exc:
            self.bad(key, value, f"not a network ({exc})")

    def hostname(self, key: str) -> str:
        value = self.text(key).rstrip(".").lower()
        if not re.fullmatch(r"([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}", value):
            self.bad(key, value, "expected a DNS name such as egress.example.com")
        return value

    def optional_patterns(self, **fields: tuple[str, re.Pattern, str]) -> dict[str, str | None]:
        """Each field's key matching its pattern when set (and not blank), else None. A bad value is quoted
        masked and shortened: a secret's ARN is asked for, so the secret itself may have been pasted instead."""
        from smtp_egress.masking import mask_url

        found: dict[str, str | None] = {}
        for field, (key, regex, example) in fields.items():
            value = (self.config.get(key) or "").strip()
            if value and not regex.match(value):
                self.bad(key, mask_url(value)[:40], f"expected something like {example!r}")
            found[field] = value or None
        return found

    def pattern(self, key: str, regex: re.Pattern, example: str) -> str:
        value = self.text(key)
        if not regex.match(value):
            self.bad(key, value, f"expected something like {example!r}")
        return value

    def url(self, key: str) -> str:
        value = self.text(key)
        parts = urllib.parse.urlsplit(value)
        if parts.scheme != "https" or not parts.netloc:
            self.bad(key, value, "expected the https URL of the region's published document")
        return value
