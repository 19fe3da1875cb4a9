"""Secure Key Release through KeyClient.release_key against the emulator and a real (local) attestation service.

The emulator of this module trusts the attestation service's CA (``server.trustedIssuerCaFiles``) and fetches its
OpenID metadata and JWKS over HTTPS, as Managed HSM does with Microsoft Azure Attestation. A released key is
unwrapped here with the target's private key and proven equal to the HSM's key (the HSM verifies a signature made
with the released private key; an AES key wrapped by the HSM unwraps with the released secret).
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from azure.core.exceptions import HttpResponseError
from azure.keyvault.administration import KeyVaultRoleScope
from azure.keyvault.keys import KeyReleasePolicy
from azure.keyvault.keys.crypto import CryptographyClient, KeyWrapAlgorithm, SignatureAlgorithm
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap_with_padding, aes_key_wrap

from tests.integration.emulator.dataplane.attestation_service import AttestationService, rsa_public_jwk
from tests.integration.emulator.dataplane.conftest import (
    AUDITOR,
    CRYPTO_USER,
    ActiveHsm,
    _config,
    activate,
    app_id,
    create_hsm,
    object_id,
    running_emulator,
)

pytestmark = pytest.mark.integration

RELEASE_USER_ROLE = "21dbd100-6940-42c2-9190-5d6cb909625c"  # Managed HSM Crypto Service Release User
CLAIMS = {"x-ms-attestation-type": "sevsnpvm", "x-ms-compliance-status": "azure-compliant-cvm", "sdk-test": True}


@pytest.fixture(scope="module")
def attestation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AttestationService]:
    with AttestationService(tmp_path_factory.mktemp("attestation")) as service:
        yield service


@pytest.fixture(scope="module")
def skr_hsm(
    tmp_path_factory: pytest.TempPathFactory,
    attestation: AttestationService,
    sd_certificates: list[tuple[rsa.RSAPrivateKey, x509.Certificate]],
) -> Iterator[ActiveHsm]:
    config = _config()
    config["server"] = {"trustedIssuerCaFiles": [str(attestation.ca_file)]}
    config["tenants"][0]["servicePrincipals"].append(
        {
            "objectId": object_id("release-user"),
            "appId": app_id("release-user"),
            "displayName": "release-user",
            "clientSecret": "secret-release-user",
        }
    )
    with running_emulator(tmp_path_factory.mktemp("skr-emulator"), config) as emulator:
        uri = create_hsm(emulator, "skr", [object_id("hsm-admin")])
        hsm = ActiveHsm(uri, emulator, activate(emulator, uri, sd_certificates))
        access = hsm.access()
        access.create_role_assignment(KeyVaultRoleScope.GLOBAL, CRYPTO_USER, object_id("crypto-user"))
        access.create_role_assignment(KeyVaultRoleScope.GLOBAL, AUDITOR, object_id("auditor"))
        yield hsm


@pytest.fixture(scope="module")
def runtime_key() -> rsa.RSAPrivateKey:
    """The target environment's key encryption key (its public half goes into x-ms-runtime.keys)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def runtime_jwks(runtime_key: rsa.RSAPrivateKey) -> list[dict[str, Any]]:
    return [rsa_public_jwk(runtime_key.public_key(), "tee-kek", key_ops=["encrypt"])]


def policy(authority: str, conditions: dict[str, Any] | None = None) -> KeyReleasePolicy:
    document = {
        "version": "1.0.0",
        "anyOf": [
            {
                "authority": authority + "/",  # as the SDK tests write it: the trailing slash does not matter
                **(
                    conditions
                    or {
                        "allOf": [
                            {"claim": "x-ms-attestation-type", "equals": "SEVSNPVM"},
                            {
                                "anyOf": [
                                    {"claim": "x-ms-compliance-status", "equals": "azure-compliant-cvm"},
                                    {"claim": "x-ms-debuggable", "exists": True},
                                ]
                            },
                        ]
                    }
                ),
            }
        ],
    }
    return KeyReleasePolicy(json.dumps(document).encode())


def name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def unwrap_released(jws: str, runtime_key: rsa.RSAPrivateKey, enc: str) -> tuple[dict[str, Any], bytes]:
    """Verify the JWS with its x5c certificate; return its payload and the unwrapped key material."""
    header = jwt.get_unverified_header(jws)
    certificate = x509.load_der_x509_certificate(base64.b64decode(header["x5c"][0]))
    thumbprint = base64.urlsafe_b64encode(hashlib.sha256(base64.b64decode(header["x5c"][0])).digest()).rstrip(b"=")
    assert header["alg"] == "RS256"
    assert header["kid"] == header["x5t#S256"] == thumbprint.decode()
    payload = jwt.decode(jws, certificate.public_key(), algorithms=["RS256"])  # type: ignore[arg-type]
    released = payload["response"]["key"]["key"]
    envelope = json.loads(base64.urlsafe_b64decode(released["key_hsm"] + "=" * (-len(released["key_hsm"]) % 4)))
    assert envelope["schema_version"] == "1.0"
    assert envelope["header"] == {"kid": "tee-kek", "alg": "dir", "enc": enc}
    ciphertext = base64.urlsafe_b64decode(envelope["ciphertext"] + "=" * (-len(envelope["ciphertext"]) % 4))
    digest = {"CKM_RSA_AES_KEY_WRAP": hashes.SHA1, "RSA_AES_KEY_WRAP_256": hashes.SHA256}.get(enc, hashes.SHA384)
    transport_key = runtime_key.decrypt(
        ciphertext[:256], padding.OAEP(mgf=padding.MGF1(digest()), algorithm=digest(), label=None)
    )
    return payload, aes_key_unwrap_with_padding(transport_key, ciphertext[256:])


def crypto(hsm: ActiveHsm, key_id: str) -> CryptographyClient:
    return CryptographyClient(
        key_id,
        hsm.emulator.credential("crypto-user"),
        verify_challenge_resource=False,
        connection_verify=hsm.emulator.ca,
    )


def test_released_rsa_key_is_the_hsm_key(
    skr_hsm: ActiveHsm, attestation: AttestationService, runtime_key: rsa.RSAPrivateKey
) -> None:
    keys = skr_hsm.keys()
    key = keys.create_rsa_key(name("rsa"), size=2048, exportable=True, release_policy=policy(attestation.issuer("a")))
    target = attestation.token("a", CLAIMS, runtime_jwks(runtime_key))
    result = keys.release_key(
        key.name, target, version=key.properties.version, algorithm="RSA_AES_KEY_WRAP_256", nonce="nonce-1"
    )
    payload, material = unwrap_released(result.value, runtime_key, "RSA_AES_KEY_WRAP_256")
    assert payload["request"]["nonce"] == "nonce-1"
    assert payload["request"]["enc"] == "RSA_AES_KEY_WRAP_256"
    assert payload["response"]["key"]["key"]["kid"] == key.id
    assert payload["response"]["key"]["attributes"]["exportable"] is True
    released = serialization.load_der_private_key(material, password=None)
    assert isinstance(released, rsa.RSAPrivateKey)
    assert released.public_key().public_numbers().n == int.from_bytes(key.key.n, "big")  # type: ignore[arg-type]
    # the private half: a signature made with the released key verifies in the HSM
    digest = hashlib.sha256(b"released").digest()
    signature = released.sign(digest, padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))
    assert crypto(skr_hsm, key.id).verify(SignatureAlgorithm.rs256, digest, signature).is_valid


def test_released_ec_and_oct_keys_with_default_and_384_wrapping(
    skr_hsm: ActiveHsm, attestation: AttestationService, runtime_key: rsa.RSAPrivateKey
) -> None:
    keys = skr_hsm.keys()
    target = attestation.token("a", CLAIMS, runtime_jwks(runtime_key))
    ec_key = keys.create_ec_key(
        name("ec"), curve="P-256", exportable=True, release_policy=policy(attestation.issuer("a"))
    )
    result = keys.release_key(ec_key.name, target)  # latest version, default enc
    _, material = unwrap_released(result.value, runtime_key, "CKM_RSA_AES_KEY_WRAP")
    released_ec = serialization.load_der_private_key(material, password=None)
    assert isinstance(released_ec, ec.EllipticCurvePrivateKey)
    digest = hashlib.sha256(b"ec").digest()
    signature = utils.decode_dss_signature(released_ec.sign(digest, ec.ECDSA(utils.Prehashed(hashes.SHA256()))))
    raw = signature[0].to_bytes(32, "big") + signature[1].to_bytes(32, "big")
    assert crypto(skr_hsm, ec_key.id).verify(SignatureAlgorithm.es256, digest, raw).is_valid

    oct_key = keys.create_oct_key(
        name("oct"), size=256, exportable=True, release_policy=policy(attestation.issuer("a"))
    )
    result = keys.release_key(oct_key.name, target, algorithm="RSA_AES_KEY_WRAP_384")
    _, secret = unwrap_released(result.value, runtime_key, "RSA_AES_KEY_WRAP_384")
    # RFC 3394's integrity check passes in the HSM only if the released secret is the HSM's key (the SDK would
    # wrap locally, so the HSM side is the unwrap)
    wrapped = aes_key_wrap(secret, b"k" * 32)
    assert crypto(skr_hsm, oct_key.id).unwrap_key(KeyWrapAlgorithm.aes_256, wrapped).key == b"k" * 32


def test_release_user_role_is_enough_and_a_role_without_release_is_refused(
    skr_hsm: ActiveHsm, attestation: AttestationService, runtime_key: rsa.RSAPrivateKey
) -> None:
    key = skr_hsm.keys().create_rsa_key(name("rbac"), exportable=True, release_policy=policy(attestation.issuer("a")))
    target = attestation.token("a", CLAIMS, runtime_jwks(runtime_key))
    with pytest.raises(HttpResponseError) as denied:
        skr_hsm.keys("auditor").release_key(key.name, target)
    assert denied.value.status_code == 403
    assert "keys/release/action" in str(denied.value)
    with pytest.raises(HttpResponseError) as unassigned:
        skr_hsm.keys("release-user").release_key(key.name, target)
    assert unassigned.value.status_code == 403
    skr_hsm.access().create_role_assignment(
        KeyVaultRoleScope.KEYS, RELEASE_USER_ROLE, object_id("release-user")
    )  # at /keys: covers every key
    result = skr_hsm.keys("release-user").release_key(key.name, target)
    _, material = unwrap_released(result.value, runtime_key, "CKM_RSA_AES_KEY_WRAP")
    released = serialization.load_der_private_key(material, password=None)
    assert released.public_key().public_numbers().n == int.from_bytes(key.key.n, "big")  # type: ignore[union-attr]


def _release_error(hsm: ActiveHsm, key_name: str, target: str, **kwargs: Any) -> HttpResponseError:
    with pytest.raises(HttpResponseError) as caught:
        hsm.keys().release_key(key_name, target, **kwargs)
    return caught.value


def test_refusals_from_the_key_side(
    skr_hsm: ActiveHsm, attestation: AttestationService, runtime_key: rsa.RSAPrivateKey
) -> None:
    keys = skr_hsm.keys()
    target = attestation.token("a", CLAIMS, runtime_jwks(runtime_key))
    # not exportable (and so, by AKV.SKR.1004/1005, without a release policy)
    plain = keys.create_rsa_key(name("plain"))
    error = _release_error(skr_hsm, plain.name, target)
    assert (error.status_code, error.error.code) == (400, "BadParameter")  # type: ignore[union-attr]
    assert "not exportable" in error.message
    # the converse rule at create (the service's message, Azure/azure-cli#28288)
    with pytest.raises(HttpResponseError, match=r"AKV\.SKR\.1005: Non-exportable keys must not have release policy"):
        keys.create_rsa_key(name("policy-only"), release_policy=policy(attestation.issuer("a")))
    # disabled
    disabled = keys.create_rsa_key(name("off"), exportable=True, release_policy=policy(attestation.issuer("a")))
    keys.update_key_properties(disabled.name, enabled=False)
    error = _release_error(skr_hsm, disabled.name, target)
    assert error.status_code == 403
    assert "disabled" in error.message
    # unknown key, unknown version, unknown enc
    assert _release_error(skr_hsm, name("missing"), target).status_code == 404
    exportable = keys.create_rsa_key(name("ok"), exportable=True, release_policy=policy(attestation.issuer("a")))
    assert _release_error(skr_hsm, exportable.name, target, version=uuid.uuid4().hex).status_code == 404
    error = _release_error(skr_hsm, exportable.name, target, algorithm="RSA-OAEP")
    assert error.status_code == 400
    assert "Invalid enc value: RSA-OAEP" in error.message


def test_refusals_from_the_attestation_side(
    skr_hsm: ActiveHsm, attestation: AttestationService, runtime_key: rsa.RSAPrivateKey
) -> None:
    keys = skr_hsm.keys()
    key = keys.create_rsa_key(name("att"), exportable=True, release_policy=policy(attestation.issuer("a")))
    runtime = runtime_jwks(runtime_key)

    # the claims do not satisfy the policy: 403 naming the unmet claims
    mismatch = attestation.token("a", {**CLAIMS, "x-ms-attestation-type": "tdxvm"}, runtime)
    error = _release_error(skr_hsm, key.name, mismatch)
    assert error.status_code == 403
    assert "x-ms-attestation-type" in error.message
    # nested anyOf: neither the compliance status nor x-ms-debuggable -> refused; x-ms-debuggable alone -> released
    no_branch = attestation.token("a", {"x-ms-attestation-type": "sevsnpvm"}, runtime)
    assert _release_error(skr_hsm, key.name, no_branch).status_code == 403
    debuggable = attestation.token("a", {"x-ms-attestation-type": "sevsnpvm", "x-ms-debuggable": False}, runtime)
    assert keys.release_key(key.name, debuggable).value

    # a token of another (trusted, valid) attestation service: its issuer is not an authority of the policy
    error = _release_error(skr_hsm, key.name, attestation.token("b", CLAIMS, runtime))
    assert error.status_code == 403
    assert attestation.issuer("b") in error.message

    # expired, signed by a key not in the authority's JWKS, not a JWT, unsigned, no runtime key
    expired = attestation.token("a", CLAIMS, runtime, issued_at=int(time.time()) - 3600, lifetime=60)
    error = _release_error(skr_hsm, key.name, expired)
    assert error.status_code == 400
    assert "expired" in error.message
    forged_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = attestation.token("a", CLAIMS, runtime, signing_key=forged_key)
    error = _release_error(skr_hsm, key.name, forged)
    assert error.status_code == 400
    assert "signature" in error.message
    error = _release_error(skr_hsm, key.name, "not-a-token")
    assert error.status_code == 400
    assert "not a JSON Web Token" in error.message
    unsigned = jwt.encode({"iss": attestation.issuer("a"), "exp": int(time.time()) + 60, **CLAIMS}, None, "none")
    error = _release_error(skr_hsm, key.name, unsigned)
    assert error.status_code == 400
    assert "'none'" in error.message
    signing_only = [rsa_public_jwk(runtime_key.public_key(), "tee-sig", key_ops=["verify"])]
    error = _release_error(skr_hsm, key.name, attestation.token("a", CLAIMS, signing_only))
    assert error.status_code == 400
    assert "x-ms-runtime.keys" in error.message


def test_policy_accepts_the_sdk_tests_spelling(
    skr_hsm: ActiveHsm, attestation: AttestationService, runtime_key: rsa.RSAPrivateKey
) -> None:
    # azure-sdk-for-js's first release tests: {"claim", "condition": "equals", "value"} with a boolean claim
    legacy = policy(attestation.issuer("a"), {"anyOf": [{"claim": "sdk-test", "condition": "equals", "value": "true"}]})
    key = skr_hsm.keys().create_rsa_key(name("legacy"), exportable=True, release_policy=legacy)
    target = attestation.token("a", CLAIMS, runtime_jwks(runtime_key))
    assert skr_hsm.keys().release_key(key.name, target).value


def test_policies_are_checked_when_set_and_an_immutable_one_never_changes(
    skr_hsm: ActiveHsm, attestation: AttestationService
) -> None:
    keys = skr_hsm.keys()
    with pytest.raises(HttpResponseError) as caught:
        keys.create_rsa_key(name("junk"), exportable=True, release_policy=KeyReleasePolicy(b"not json"))
    assert (caught.value.status_code, caught.value.error.code) == (400, "BadParameter")  # type: ignore[union-attr]
    assert "release_policy.data: the release policy is not a JSON document" in caught.value.message
    no_conditions = KeyReleasePolicy(json.dumps({"anyOf": [{"authority": attestation.issuer("a")}]}).encode())
    with pytest.raises(HttpResponseError, match=r"anyOf\[0\]: an authority statement needs 'allOf' or 'anyOf'"):
        keys.create_ec_key(name("bare"), exportable=True, release_policy=no_conditions)
    xml = policy(attestation.issuer("a"))
    xml.content_type = "application/xml"
    with pytest.raises(HttpResponseError, match=r"release_policy\.contentType: unsupported content type"):
        keys.create_ec_key(name("xml"), exportable=True, release_policy=xml)

    locked = KeyReleasePolicy(policy(attestation.issuer("a")).encoded_policy, immutable=True)
    key = keys.create_ec_key(name("locked"), exportable=True, release_policy=locked)
    assert key.properties.release_policy is not None
    assert key.properties.release_policy.immutable is True
    with pytest.raises(HttpResponseError) as caught:
        keys.update_key_properties(key.name, release_policy=policy(attestation.issuer("b")))
    assert caught.value.status_code == 400
    assert f"The release policy of key {key.name} is immutable" in caught.value.message
    unchanged = keys.get_key(key.name).properties.release_policy
    assert unchanged is not None
    assert unchanged.encoded_policy == key.properties.release_policy.encoded_policy
    assert unchanged.immutable is True
