"""The worker's secrets from AWS Secrets Manager: the ledger URL (``EGRESS_DB_SECRET``) and the tracking keyring
(``EGRESS_TRACKING_KEYS_SECRET``), each named by its secret's ARN (or name) in the worker's configuration.

A value is read once at start with ``GetSecretValue`` (``SecretString``, the current version) and kept in memory
only: never written to disk, never logged, never quoted in a message. Every failure is its own
:class:`SecretError` subclass (a :class:`~smtp_egress.errors.ConfigError`: the run stops before anything is
delivered) whose message names the variable and the secret, never the value:

- :class:`SecretMissing`: no such secret, or no current value yet (put one with ``aws secretsmanager
  put-secret-value``);
- :class:`SecretDenied`: the credentials may not read it (the instance role's ``secretsmanager:GetSecretValue``,
  or ``kms:Decrypt`` on the key that encrypts it);
- :class:`SecretUnreachable`: Secrets Manager did not answer (endpoint, network, region);
- :class:`SecretEmpty`: the value is empty or only blanks (or binary: a ``SecretBinary`` is not read);
- :class:`SecretMalformed`: the value is not what the variable holds (a ledger URL; a tracking keyring).
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import ConfigError
from ..tracking.keys import KEY_ID, KeyFileError, Keyring, parse_keyring

DB_SECRET_ENV = "EGRESS_DB_SECRET"
TRACKING_KEYS_SECRET_ENV = "EGRESS_TRACKING_KEYS_SECRET"
SECRET_ARN = re.compile(r"arn:aws[a-z-]*:secretsmanager:([a-z0-9-]+):\d{12}:secret:[A-Za-z0-9/_+=.@-]{1,512}")
SECRET_NAME = re.compile(r"[A-Za-z0-9/_+=.@-]{1,512}")
_LEDGER_URL = re.compile(r"[a-z][a-z0-9+]*://\S+")
MAX_VALUE = 64 * 1024  # Secrets Manager's own limit; a ledger URL or a keyring is far smaller

_MISSING = {"ResourceNotFoundException"}
_DENIED = {"AccessDeniedException", "AccessDenied", "UnrecognizedClientException", "InvalidSignatureException"}
_DENIED_KMS = {"DecryptionFailure", "KMSAccessDeniedException", "KMSDisabledException", "KMSInvalidStateException"}


class SecretError(ConfigError):
    """A secret of the worker's configuration cannot be used; nothing was delivered."""


class SecretMissing(SecretError):
    """The secret does not exist, or has no current value."""


class SecretDenied(SecretError):
    """The credentials may not read the secret (or decrypt it)."""


class SecretUnreachable(SecretError):
    """Secrets Manager could not be reached or did not answer."""


class SecretEmpty(SecretError):
    """The secret's value is empty (or binary)."""


class SecretMalformed(SecretError):
    """The secret's value is not what the variable holds."""


def check_reference(reference: str, variable: str) -> str:
    """``reference`` when it is a Secrets Manager ARN or secret name, else :class:`SecretError`, which does not
    quote it: a reference is not a secret, but a value pasted in its place may be."""
    if SECRET_ARN.fullmatch(reference) or (not reference.startswith("arn:") and SECRET_NAME.fullmatch(reference)):
        return reference
    raise SecretError(
        f"{variable} is not a Secrets Manager secret ARN (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME) or "
        f"name ({len(reference)} characters, not shown): it names the secret that holds the value, never the value"
    )


def _named(variable: str, reference: str) -> str:
    return f"{variable}: the secret {reference}"


def read_secret(reference: str, variable: str, *, region: str | None = None, endpoint_url: str | None = None) -> str:
    """The current ``SecretString`` of the secret ``reference`` (the value of ``variable``). The region is the
    ARN's, else ``region`` (EGRESS_REGION), else boto3's own (AWS_DEFAULT_REGION); ``endpoint_url`` (the worker's
    --endpoint-url), else boto3's own (AWS_ENDPOINT_URL)."""
    import boto3
    import botocore.exceptions
    from botocore.config import Config

    check_reference(reference, variable)
    named = _named(variable, reference)
    arn = SECRET_ARN.fullmatch(reference)
    config = Config(connect_timeout=10, read_timeout=20, retries={"mode": "standard", "max_attempts": 4})
    try:
        client: Any = boto3.client(
            "secretsmanager", region_name=arn.group(1) if arn else region, endpoint_url=endpoint_url, config=config
        )
        answer = client.get_secret_value(SecretId=reference)
    except botocore.exceptions.NoRegionError:
        raise SecretError(f"{named}: no AWS region to read it in; set EGRESS_REGION or give the secret's ARN") from None
    except botocore.exceptions.ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code in _MISSING:
            raise SecretMissing(
                f"{named} does not exist or has no value yet; put one with `aws secretsmanager put-secret-value "
                f"--secret-id {reference} --secret-string file://FILE` (README, worker secrets)"
            ) from None
        if code in _DENIED or code in _DENIED_KMS or status == 403:
            what = "kms:Decrypt on the key that encrypts it" if code in _DENIED_KMS else "secretsmanager:GetSecretValue"
            raise SecretDenied(
                f"{named} cannot be read ({code}): the worker's credentials (the instance role) need {what} on it"
            ) from None
        raise SecretUnreachable(f"{named} cannot be read: Secrets Manager answered {code or 'an error'}") from None
    except (botocore.exceptions.BotoCoreError, ValueError) as exc:
        raise SecretUnreachable(f"{named}: Secrets Manager cannot be reached ({type(exc).__name__})") from None
    value = answer.get("SecretString")
    if not isinstance(value, str) or not value.strip():
        kind = "binary (SecretBinary)" if answer.get("SecretBinary") is not None else "empty"
        raise SecretEmpty(f"{named} holds a value that is {kind}; put the value as text (--secret-string)")
    if len(value) > MAX_VALUE:
        raise SecretMalformed(f"{named} holds more than {MAX_VALUE} characters: it is not a {variable} value")
    return value


def ledger_url(value: str, variable: str, reference: str) -> str:
    """The ledger URL a secret holds: one SQLAlchemy URL (``postgresql+psycopg://user:password@host/db``), blanks
    around it ignored."""
    url = value.strip()
    if not _LEDGER_URL.fullmatch(url):
        raise SecretMalformed(
            f"{_named(variable, reference)} does not hold a ledger URL (one line such as "
            "postgresql+psycopg://USER:PASSWORD@HOST:5432/DB); the value is not shown"
        )
    return url


def tracking_keyring(value: str, variable: str, reference: str) -> Keyring:
    """The tracking keyring a secret holds: the key file's text (``<key id> <secret>`` lines). A line that is not
    one is reported by its number only (:func:`parse_keyring` would quote its first word, part of the value)."""
    where = _named(variable, reference)
    for number, line in enumerate(value.splitlines(), 1):
        words = line.split()
        if words and not words[0].startswith("#") and (len(words) != 2 or not KEY_ID.fullmatch(words[0])):
            raise SecretMalformed(
                f"{where}, line {number}: not a '<key id> <secret>' line (a key id is 1-32 letters, digits, '-' "
                "or '_'); put the key file's text, as `egress tracking rotate-key` writes it; the value is not shown"
            )
    try:
        return parse_keyring(value, where)
    except KeyFileError as exc:  # its messages name the key id and the line, never the secret
        raise SecretMalformed(str(exc)) from None
