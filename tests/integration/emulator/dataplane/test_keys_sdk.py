"""Keys and crypto through KeyClient / CryptographyClient: every key type and algorithm, lifecycle, interop."""

from __future__ import annotations

import hashlib
import os

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.keyvault.keys import (
    KeyReleasePolicy,
    KeyRotationLifetimeAction,
    KeyRotationPolicy,
    KeyRotationPolicyAction,
    KeyType,
)
from azure.keyvault.keys.crypto import (
    CryptographyClient,
    EncryptionAlgorithm,
    KeyWrapAlgorithm,
    SignatureAlgorithm,
)
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

from tests.integration.emulator.dataplane.conftest import ActiveHsm

pytestmark = pytest.mark.integration


def crypto_client(hsm: ActiveHsm, key: object, who: str = "crypto-user") -> CryptographyClient:
    return CryptographyClient(
        key, hsm.emulator.credential(who), verify_challenge_resource=False, connection_verify=hsm.emulator.ca
    )


def rsa_public(key: object) -> rsa.RSAPublicKey:
    jwk = key.key  # type: ignore[attr-defined]
    return rsa.RSAPublicNumbers(int.from_bytes(jwk.e, "big"), int.from_bytes(jwk.n, "big")).public_key()


@pytest.fixture(scope="module")
def rsa_key(active_hsm: ActiveHsm) -> object:
    return active_hsm.keys().create_rsa_key("it-rsa", size=2048, hardware_protected=True)


@pytest.mark.parametrize(
    ("alg", "hash_factory", "pss"),
    [
        (SignatureAlgorithm.rs256, hashes.SHA256, False),
        (SignatureAlgorithm.rs384, hashes.SHA384, False),
        (SignatureAlgorithm.rs512, hashes.SHA512, False),
        (SignatureAlgorithm.ps256, hashes.SHA256, True),
        (SignatureAlgorithm.ps384, hashes.SHA384, True),
        (SignatureAlgorithm.ps512, hashes.SHA512, True),
    ],
)
def test_rsa_signatures_verify_locally(
    active_hsm: ActiveHsm, rsa_key: object, alg: str, hash_factory: type, pss: bool
) -> None:
    algorithm = hash_factory()
    digest_builder = hashes.Hash(algorithm)
    digest_builder.update(b"message")
    digest = digest_builder.finalize()
    client = crypto_client(active_hsm, rsa_key)
    signature = client.sign(alg, digest).signature
    pad = padding.PSS(mgf=padding.MGF1(algorithm), salt_length=algorithm.digest_size) if pss else padding.PKCS1v15()
    rsa_public(rsa_key).verify(signature, digest, pad, utils.Prehashed(algorithm))
    assert client.verify(alg, digest, signature).is_valid
    assert not client.verify(alg, digest, bytes(len(signature))).is_valid


@pytest.mark.parametrize(
    ("alg", "pad"),
    [
        (EncryptionAlgorithm.rsa_oaep_256, padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None)),
        (EncryptionAlgorithm.rsa_oaep, padding.OAEP(padding.MGF1(hashes.SHA1()), hashes.SHA1(), None)),
        (EncryptionAlgorithm.rsa1_5, padding.PKCS1v15()),
    ],
)
def test_local_rsa_encryption_decrypts_in_the_hsm(
    active_hsm: ActiveHsm, rsa_key: object, alg: str, pad: padding.AsymmetricPadding
) -> None:
    ciphertext = rsa_public(rsa_key).encrypt(b"secret data", pad)
    client = crypto_client(active_hsm, rsa_key)
    assert client.decrypt(alg, ciphertext).plaintext == b"secret data"
    wrapped = client.wrap_key(KeyWrapAlgorithm(alg), b"k" * 32).encrypted_key
    assert client.unwrap_key(KeyWrapAlgorithm(alg), wrapped).key == b"k" * 32


@pytest.mark.parametrize(
    ("curve", "alg", "hash_factory", "ec_curve"),
    [
        ("P-256", SignatureAlgorithm.es256, hashes.SHA256, ec.SECP256R1()),
        ("P-256K", SignatureAlgorithm.es256_k, hashes.SHA256, ec.SECP256K1()),
        ("P-384", SignatureAlgorithm.es384, hashes.SHA384, ec.SECP384R1()),
        ("P-521", SignatureAlgorithm.es512, hashes.SHA512, ec.SECP521R1()),
    ],
)
def test_ec_keys_on_every_curve(
    active_hsm: ActiveHsm, curve: str, alg: str, hash_factory: type, ec_curve: ec.EllipticCurve
) -> None:
    key = active_hsm.keys().create_ec_key(f"it-ec-{curve.replace('-', '')}", curve=curve)
    assert key.key_type == KeyType.ec_hsm
    algorithm = hash_factory()
    h = hashes.Hash(algorithm)
    h.update(b"data")
    digest = h.finalize()
    signature = crypto_client(active_hsm, key).sign(alg, digest).signature
    half = len(signature) // 2
    public = ec.EllipticCurvePublicNumbers(
        int.from_bytes(key.key.x, "big"), int.from_bytes(key.key.y, "big"), ec_curve
    ).public_key()
    public.verify(
        utils.encode_dss_signature(int.from_bytes(signature[:half], "big"), int.from_bytes(signature[half:], "big")),
        digest,
        ec.ECDSA(utils.Prehashed(algorithm)),
    )


@pytest.mark.parametrize("size", [128, 192, 256])
def test_aes_keys_encrypt_and_wrap(active_hsm: ActiveHsm, size: int) -> None:
    key = active_hsm.keys().create_oct_key(f"it-aes-{size}", size=size, hardware_protected=True)
    assert key.key_type == KeyType.oct_hsm
    assert key.key.k is None  # no material on the wire
    client = crypto_client(active_hsm, key)
    gcm = EncryptionAlgorithm(f"A{size}GCM")
    result = client.encrypt(gcm, b"plaintext", additional_authenticated_data=b"aad")
    assert len(result.iv) == 12
    assert (
        client.decrypt(
            gcm, result.ciphertext, iv=result.iv, authentication_tag=result.tag, additional_authenticated_data=b"aad"
        ).plaintext
        == b"plaintext"
    )
    cbc = EncryptionAlgorithm(f"A{size}CBCPAD")
    iv = os.urandom(16)
    encrypted = client.encrypt(cbc, b"any length", iv=iv)
    assert client.decrypt(cbc, encrypted.ciphertext, iv=iv).plaintext == b"any length"
    kw = KeyWrapAlgorithm(f"A{size}KW")
    wrapped = client.wrap_key(kw, b"0123456789abcdef").encrypted_key
    assert client.unwrap_key(kw, wrapped).key == b"0123456789abcdef"


def test_lifecycle_versions_update_delete_recover_purge(active_hsm: ActiveHsm) -> None:
    client = active_hsm.keys()
    first = client.create_ec_key("it-life", curve="P-256", tags={"team": "a"})
    second = client.create_ec_key("it-life", curve="P-256")
    assert {p.version for p in client.list_properties_of_key_versions("it-life")} == {
        first.properties.version,
        second.properties.version,
    }
    assert client.get_key("it-life").properties.version == second.properties.version
    assert client.get_key("it-life", first.properties.version).properties.tags == {"team": "a"}
    updated = client.update_key_properties("it-life", enabled=False, tags={"x": "y"}, key_operations=["verify"])
    assert updated.properties.enabled is False
    assert updated.key_operations == ["verify"]
    deleted = client.begin_delete_key("it-life").result()
    assert deleted.recovery_id.endswith("/deletedkeys/it-life")
    with pytest.raises(ResourceNotFoundError):
        client.get_key("it-life")
    with pytest.raises(ResourceExistsError):
        client.create_ec_key("it-life")
    officer = active_hsm.keys("crypto-officer")
    assert "it-life" in {k.name for k in officer.list_deleted_keys()}
    officer.begin_recover_deleted_key("it-life").result()
    assert client.get_key("it-life").properties.version == second.properties.version
    client.begin_delete_key("it-life").result()
    officer.purge_deleted_key("it-life")
    with pytest.raises(ResourceNotFoundError):
        officer.get_deleted_key("it-life")


def test_paging_follows_next_links(active_hsm: ActiveHsm) -> None:
    client = active_hsm.keys()
    for index in range(4):
        client.create_oct_key(f"it-page-{index}", size=128)
    names = [k.name for k in client.list_properties_of_keys(max_page_size=2)]
    assert {f"it-page-{index}" for index in range(4)} <= set(names)
    assert len(names) == len(set(names))


def test_backup_restore_round_trip(active_hsm: ActiveHsm) -> None:
    client = active_hsm.keys()
    key = client.create_rsa_key("it-backup", size=2048)
    blob = client.backup_key("it-backup")
    client.begin_delete_key("it-backup").result()
    with pytest.raises(ResourceExistsError):
        client.restore_key_backup(blob)  # soft-deleted name still taken
    active_hsm.keys("crypto-officer").purge_deleted_key("it-backup")
    restored = client.restore_key_backup(blob)
    assert restored.id == key.id


def test_rotation_policy_and_rotate(active_hsm: ActiveHsm) -> None:
    client = active_hsm.keys()
    client.create_ec_key("it-rotate")
    wanted = KeyRotationPolicy(
        lifetime_actions=[KeyRotationLifetimeAction(KeyRotationPolicyAction.rotate, time_after_create="P30D")],
        expires_in="P90D",
    )
    policy = client.update_key_rotation_policy("it-rotate", wanted)
    assert policy.expires_in == "P90D"
    assert client.get_key_rotation_policy("it-rotate").lifetime_actions[0].time_after_create == "P30D"
    rotated = client.rotate_key("it-rotate")
    assert rotated.properties.expires_on is not None
    with pytest.raises(HttpResponseError) as caught:
        client.update_key_rotation_policy("it-rotate", KeyRotationPolicy(expires_in="P10D"))
    assert caught.value.status_code == 400


def test_exportable_keys_need_a_release_policy(active_hsm: ActiveHsm) -> None:
    client = active_hsm.keys()
    with pytest.raises(HttpResponseError, match=r"AKV\.SKR\.1004"):
        client.create_rsa_key("it-export", size=2048, exportable=True)
    policy = KeyReleasePolicy(
        b'{"version":"1.0.0","anyOf":[{"authority":"https://a.test","allOf":[{"claim":"c","equals":"v"}]}]}'
    )
    key = client.create_rsa_key("it-export", size=2048, exportable=True, release_policy=policy)
    assert key.properties.exportable is True
    assert key.properties.release_policy is not None


def test_random_bytes(active_hsm: ActiveHsm) -> None:
    client = active_hsm.keys()
    assert len(client.get_random_bytes(32)) == 32
    with pytest.raises(HttpResponseError) as caught:
        client.get_random_bytes(129)
    assert caught.value.status_code == 400


def test_digest_of_the_wrong_length_is_a_bad_parameter(active_hsm: ActiveHsm, rsa_key: object) -> None:
    with pytest.raises(HttpResponseError) as caught:
        crypto_client(active_hsm, rsa_key).sign(SignatureAlgorithm.rs256, hashlib.sha1(b"x").digest())
    assert caught.value.status_code == 400
    assert caught.value.error.code == "BadParameter"
