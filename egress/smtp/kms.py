"""Envelope encryption of SMTP passwords with AWS KMS (``EGRESS_SMTP_KMS_KEY``: a key id, alias or ARN).

Each password gets its own data key (``GenerateDataKey``, AES-256): the password is sealed with it locally
(AES-GCM, :func:`smtp_egress.smtp.keyring.aead_seal`) and only the data key *encrypted by KMS* is stored; the
plaintext data key lives in memory for that one call. Opening a password asks KMS to ``Decrypt`` its data key.
The encryption context ``{"smtp-egress": "workspace/server"}`` binds the data key to its row (KMS refuses it
for another row, and CloudTrail shows which server's password was opened). boto3 is imported only here, and
takes its endpoint and credentials from the environment as usual (``AWS_ENDPOINT_URL`` for a test server).
"""

from __future__ import annotations

from typing import Any

from ..masking import excerpt
from .keyring import KMS_KEY_ENV, KeyringError, Sealed, aead_open, aead_seal

CONTEXT_KEY = "smtp-egress"


class KmsKeyring:
    """Seals with a fresh KMS data key per password (see the module's docstring)."""

    def __init__(self, key_id: str, *, region: str | None = None, client: Any = None):
        self.key_id = key_id
        self.ref = f"kms:{key_id}"
        self._region = region
        self._client = client

    def __repr__(self) -> str:
        return f"KmsKeyring({self.ref})"

    @property
    def client(self) -> Any:  # a boto3 KMS client
        if self._client is None:
            import boto3

            self._client = boto3.client("kms", region_name=self._region or None)
        return self._client

    def seal(self, password: str, context: str) -> Sealed:
        answer = self._call(
            "GenerateDataKey", KeyId=self.key_id, KeySpec="AES_256", EncryptionContext={CONTEXT_KEY: context}
        )
        return Sealed(aead_seal(answer["Plaintext"], password, context), self.ref, answer["CiphertextBlob"])

    def open(self, sealed: Sealed, context: str) -> str:
        if not sealed.key_ref.startswith("kms:") or sealed.data_key is None:
            raise KeyringError(
                f"the password of {excerpt(context, 120)} was sealed with key {excerpt(sealed.key_ref, 80)}, not with "
                f"KMS: set EGRESS_SMTP_KEY_FILE to that key (and unset {KMS_KEY_ENV}), or set the password again"
            )
        answer = self._call("Decrypt", CiphertextBlob=sealed.data_key, EncryptionContext={CONTEXT_KEY: context})
        return aead_open(answer["Plaintext"], sealed.sealed, context, sealed.key_ref)

    def _call(self, operation: str, **params: Any) -> dict[str, Any]:
        from botocore.exceptions import BotoCoreError, ClientError

        method = {"GenerateDataKey": "generate_data_key", "Decrypt": "decrypt"}[operation]
        try:
            answer: dict[str, Any] = getattr(self.client, method)(**params)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise KeyringError(
                f"KMS {operation} with {KMS_KEY_ENV}={excerpt(self.key_id, 120)} failed: "
                f"{excerpt(error.get('Code', '?'), 60)}: {excerpt(error.get('Message', ''), 200)}"
            ) from None
        except BotoCoreError as exc:
            raise KeyringError(
                f"KMS {operation} with {KMS_KEY_ENV}={excerpt(self.key_id, 120)} failed: {exc}"
            ) from None
        return answer
