"""End to end through the official SDKs: activation, a key, a signature verified locally."""

from __future__ import annotations

import hashlib

import pytest
from azure.keyvault.keys.crypto import CryptographyClient, SignatureAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, utils

from tests.integration.emulator.dataplane.conftest import ActiveHsm

pytestmark = pytest.mark.integration


def test_ec_signature_verifies_with_the_public_key_alone(active_hsm: ActiveHsm) -> None:
    client = active_hsm.keys()
    key = client.create_ec_key("smoke-ec", curve="P-256")
    crypto = CryptographyClient(
        key,
        active_hsm.emulator.credential("crypto-user"),
        verify_challenge_resource=False,
        connection_verify=active_hsm.emulator.ca,
    )
    digest = hashlib.sha256(b"hello").digest()
    signature = crypto.sign(SignatureAlgorithm.es256, digest).signature
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:], "big")
    public = ec.EllipticCurvePublicNumbers(
        int.from_bytes(key.key.x, "big"), int.from_bytes(key.key.y, "big"), ec.SECP256R1()
    ).public_key()
    public.verify(utils.encode_dss_signature(r, s), digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
