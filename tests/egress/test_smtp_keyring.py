"""Passwords sealed at rest: a local key file (AES-GCM) and KMS envelope encryption against moto's real server."""

from __future__ import annotations

import base64
import os

import pytest

from smtp_egress.smtp.keyring import KeyringError, LocalKeyring, Sealed, keygen, keyring_from
from smtp_egress.smtp.kms import KmsKeyring

PASSWORD = "Zq8K-sealed/pw"


@pytest.fixture
def key_file(tmp_path):
    path = tmp_path / "smtp.key"
    keygen(path)
    return path


def test_keygen_makes_a_private_key_and_never_overwrites(key_file):
    assert os.stat(key_file).st_mode & 0o777 == 0o600
    assert len(base64.b64decode(key_file.read_text())) == 32
    with pytest.raises(KeyringError, match=r"exists already"):
        keygen(key_file)


def test_a_password_round_trips_sealed_and_never_in_clear(key_file):
    ring = LocalKeyring.from_file(key_file)
    sealed = ring.seal(PASSWORD, "ws-1/smtp.example.com:587")
    assert PASSWORD.encode() not in sealed.sealed and sealed.key_ref == ring.ref and sealed.data_key is None
    assert ring.seal(PASSWORD, "ws-1/smtp.example.com:587").sealed != sealed.sealed  # a fresh nonce each time
    assert ring.open(sealed, "ws-1/smtp.example.com:587") == PASSWORD
    assert PASSWORD not in repr(ring)


def test_a_sealed_password_opens_only_on_its_own_row(key_file):
    ring = LocalKeyring.from_file(key_file)
    sealed = ring.seal(PASSWORD, "ws-1/a.example:587")
    with pytest.raises(KeyringError, match=r"does not open") as caught:
        ring.open(sealed, "ws-2/a.example:587")
    assert PASSWORD not in str(caught.value)
    tampered = Sealed(sealed.sealed[:-1] + bytes([sealed.sealed[-1] ^ 1]), sealed.key_ref)
    with pytest.raises(KeyringError, match=r"does not open"):
        ring.open(tampered, "ws-1/a.example:587")


def test_another_key_is_named(key_file, tmp_path):
    sealed = LocalKeyring.from_file(key_file).seal(PASSWORD, "c")
    other = tmp_path / "other.key"
    keygen(other)
    with pytest.raises(
        KeyringError, match=r"was sealed with key 'local:[0-9a-f]{16}', but the key configured is local:"
    ):
        LocalKeyring.from_file(other).open(sealed, "c")


def test_a_key_file_must_exist_be_private_and_hold_a_key(key_file, tmp_path):
    with pytest.raises(KeyringError, match=r"does not exist; make one with: egress smtp keygen --out"):
        LocalKeyring.from_file(tmp_path / "missing.key")
    for mode in (0o644, 0o640, 0o602):
        key_file.chmod(mode)
        with pytest.raises(
            KeyringError, match=rf"readable or writable by other users \(mode {mode:04o}\): run chmod 600"
        ):
            LocalKeyring.from_file(key_file)
    junk = tmp_path / "junk.key"
    junk.write_text("not a key")
    junk.chmod(0o600)
    with pytest.raises(KeyringError, match=r"does not hold a key"):
        LocalKeyring.from_file(junk)
    with pytest.raises(KeyringError, match=r"cannot be read"):
        LocalKeyring.from_file(tmp_path)  # a directory


def test_no_key_configured_says_how_to_make_one():
    with pytest.raises(KeyringError, match=r"set EGRESS_SMTP_KEY_FILE .* or, in production, EGRESS_SMTP_KMS_KEY"):
        keyring_from(None, None)


@pytest.fixture
def kms(moto_server, aws_env, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server.url)
    return moto_server.client("kms").create_key(Description="smtp passwords")["KeyMetadata"]["KeyId"]


def test_kms_envelope_encryption_through_moto(kms, key_file):
    ring = keyring_from(str(key_file), kms, region="us-east-1")  # KMS wins over a key file
    assert isinstance(ring, KmsKeyring) and ring.ref == f"kms:{kms}"
    sealed = ring.seal(PASSWORD, "ws-1/a.example:587")
    assert sealed.data_key and PASSWORD.encode() not in sealed.sealed + sealed.data_key
    other = ring.seal(PASSWORD, "ws-1/a.example:587")
    assert other.data_key != sealed.data_key  # a data key per password
    assert KmsKeyring(kms, region="us-east-1").open(sealed, "ws-1/a.example:587") == PASSWORD
    with pytest.raises(KeyringError, match=r"KMS Decrypt .* failed"):  # the encryption context binds it to its row
        ring.open(sealed, "ws-2/a.example:587")


def test_kms_errors_name_the_key_and_never_the_password(kms):
    with pytest.raises(
        KeyringError, match=r"KMS GenerateDataKey with EGRESS_SMTP_KMS_KEY='no-such-key' failed"
    ) as caught:
        KmsKeyring("no-such-key", region="us-east-1").seal(PASSWORD, "c")
    assert PASSWORD not in str(caught.value)


def test_a_local_password_is_not_opened_by_kms_and_the_reverse(kms, key_file):
    local = LocalKeyring.from_file(key_file)
    with pytest.raises(KeyringError, match=r"not with KMS: set EGRESS_SMTP_KEY_FILE"):
        KmsKeyring(kms, region="us-east-1").open(local.seal(PASSWORD, "c"), "c")
    with pytest.raises(KeyringError, match=rf"was sealed with key 'kms:{kms}'"):
        local.open(KmsKeyring(kms, region="us-east-1").seal(PASSWORD, "c"), "c")
