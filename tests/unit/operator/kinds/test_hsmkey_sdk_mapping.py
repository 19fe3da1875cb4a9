"""HSMKey: SDK objects (built from real wire-format KeyBundles) read into snapshots and status, and the spec mapping."""

from __future__ import annotations

import base64
import datetime
from typing import Any

import pytest
from azure.keyvault.keys import KeyRotationLifetimeAction, KeyRotationPolicy, KeyVaultKey
from azure.keyvault.keys._generated import models as wire
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from hsm_operator.kinds.hsmkey import (
    desired_state,
    key_name,
    key_status,
    observed_shape,
    observed_state,
    public_key_material,
    rotate_request,
)
from hsm_operator.kinds.hsmkey_state import attribute_drift, rotation_drift, shape_mismatches
from hsm_operator.kinds.public_key_export import configmap_data
from hsm_operator.models.hsmkey import HSMKeySpec
from hsm_operator.reconciler.external import ManagedResource

KID = "https://hsm.example:8443/keys/app-key/0123456789abcdef0123456789abcdef"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _int_bytes(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def bundle(key: dict[str, Any], **extra: Any) -> KeyVaultKey:
    body = {
        "key": {"kid": KID, **key},
        "attributes": {
            "enabled": True,
            "created": 1_700_000_000,
            "updated": 1_700_000_100,
            "recoveryLevel": "CustomizedRecoverable+Purgeable",
            "recoverableDays": 7,
        },
        **extra,
    }
    return KeyVaultKey._from_key_bundle(wire.KeyBundle(body))


@pytest.fixture(scope="module")
def rsa_key() -> KeyVaultKey:
    numbers = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key().public_numbers()
    return bundle(
        {"kty": "RSA-HSM", "key_ops": ["sign", "verify"], "n": b64url(_int_bytes(numbers.n)), "e": "AQAB"},
        tags={"env": "prod"},
    )


def spec(**fields: Any) -> HSMKeySpec:
    return HSMKeySpec.model_validate({"hsmRef": {"name": "hsm"}, "credentialRef": {"name": "cred"}, **fields})


def test_rsa_shape_and_status(rsa_key: KeyVaultKey) -> None:
    assert observed_shape(rsa_key).size == 2048
    status = key_status(rsa_key, version_count=3)
    assert status == {
        "keyId": KID,
        "keyUri": "https://hsm.example:8443/keys/app-key",
        "currentVersion": "0123456789abcdef0123456789abcdef",
        "recoveryLevel": "CustomizedRecoverable+Purgeable",
        "created": "2023-11-14T22:13:20Z",
        "updated": "2023-11-14T22:15:00Z",
        "sizeOrCurve": "2048",
        "versionCount": 3,
    }


def test_matching_spec_has_no_drift(rsa_key: KeyVaultKey) -> None:
    desired = desired_state(spec(kty="RSA-HSM", keySize=2048, keyOps=["verify", "sign"], tags={"env": "prod"}))
    observed = observed_state(rsa_key, None)
    assert shape_mismatches(desired.shape, observed.shape) == ()
    assert attribute_drift(desired, observed) == ()


def test_wrong_size_blocks_adoption(rsa_key: KeyVaultKey) -> None:
    desired = desired_state(spec(kty="RSA-HSM", keySize=3072))
    (mismatch,) = shape_mismatches(desired.shape, observed_shape(rsa_key))
    assert (mismatch.path, mismatch.desired, mismatch.observed, mismatch.mutable) == ("keySize", 3072, 2048, False)


def test_disabled_key_and_changed_tags_are_drift() -> None:
    key = bundle({"kty": "EC-HSM", "crv": "P-256", "x": "AA", "y": "AA", "key_ops": ["sign"]}, tags={"env": "dev"})
    key.properties._attributes.enabled = False  # as if disabled out of band
    desired = desired_state(spec(kty="EC-HSM", curve="P-256", tags={"env": "prod"}))
    drift = attribute_drift(desired, observed_state(key, None))
    assert [(d.path, d.desired, d.observed) for d in drift] == [
        ("attributes.enabled", True, False),
        ("tags.env", "prod", "dev"),
    ]


def test_oct_key_size_is_not_held_against_it() -> None:
    key = bundle({"kty": "oct-HSM", "key_ops": ["wrapKey", "unwrapKey"]})
    desired = desired_state(spec(kty="oct-HSM", keySize=256))
    assert shape_mismatches(desired.shape, observed_shape(key)) == ()
    assert key_status(key, version_count=1).get("sizeOrCurve") is None


def test_rotation_policy_from_the_sdk_model() -> None:
    desired = desired_state(
        spec(
            kty="RSA-HSM",
            keySize=2048,
            rotationPolicy={"expiryTime": "P90D", "lifetimeActions": [{"action": "Rotate", "timeAfterCreate": "P30D"}]},
        )
    )
    same = KeyRotationPolicy(
        expires_in="P90D", lifetime_actions=[KeyRotationLifetimeAction("Rotate", time_after_create="P30D")]
    )
    other = KeyRotationPolicy(expires_in="P60D", lifetime_actions=[])
    key = bundle({"kty": "RSA-HSM", "n": "AQ", "e": "AQAB"})
    assert rotation_drift(desired.rotation_policy, observed_state(key, same).rotation_policy) == ()
    assert rotation_drift(desired.rotation_policy, observed_state(key, other).rotation_policy)


def test_times_are_whole_seconds_utc() -> None:
    desired = desired_state(spec(kty="RSA-HSM", keySize=2048, attributes={"notBefore": "2030-01-01T00:00:00Z"}))
    assert desired.not_before == datetime.datetime(2030, 1, 1, tzinfo=datetime.UTC)
    assert desired.exportable is None  # exportable=false is the default and not compared


def test_public_key_of_an_ec_key_round_trips() -> None:
    numbers = ec.generate_private_key(ec.SECP384R1()).public_key().public_numbers()
    key = bundle(
        {
            "kty": "EC-HSM",
            "crv": "P-384",
            "x": b64url(numbers.x.to_bytes(48, "big")),
            "y": b64url(numbers.y.to_bytes(48, "big")),
        }
    )
    data = configmap_data(public_key_material(key))
    assert '"crv": "P-384"' in data["jwk.json"]
    assert data["public.pem"].startswith("-----BEGIN PUBLIC KEY-----")


def resource(annotations: dict[str, str] | None = None, **spec_fields: Any) -> ManagedResource:
    return ManagedResource(
        kind="HSMKey",
        namespace="ns",
        name="cr-name",
        uid="uid",
        generation=1,
        spec=spec(kty="RSA-HSM", keySize=2048, **spec_fields),
        annotations=annotations or {},
    )


def test_key_name_precedence() -> None:
    assert key_name(resource()) == "cr-name"
    assert key_name(resource({"mhsm.dev/external-name": "legacy"})) == "legacy"
    assert key_name(resource({"mhsm.dev/external-name": "legacy"}, keyName="explicit")) == "explicit"


def test_rotate_request_ignores_blank_values() -> None:
    assert rotate_request(resource({"mhsm.dev/rotate": " 2024-06 "})) == "2024-06"
    assert rotate_request(resource({"mhsm.dev/rotate": "  "})) is None
