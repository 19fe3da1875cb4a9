"""Public key export: JWK and PEM agree with the original key; oct keys and incomplete JWKs are refused."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from hsm_operator.kinds.public_key_export import (
    PublicKeyError,
    PublicKeyMaterial,
    configmap_data,
    has_public_half,
    public_jwk,
)


def _be(value: int, length: int | None = None) -> bytes:
    return value.to_bytes(length or (value.bit_length() + 7) // 8, "big")


def test_rsa_round_trip() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    numbers = key.public_numbers()
    material = PublicKeyMaterial(kid="https://h/keys/k/v1", kty="RSA-HSM", n=_be(numbers.n), e=_be(numbers.e))
    data = configmap_data(material)

    loaded = serialization.load_pem_public_key(data["public.pem"].encode())
    assert isinstance(loaded, rsa.RSAPublicKey)
    assert loaded.public_numbers() == numbers
    jwk = json.loads(data["jwk.json"])
    assert jwk == {"kid": "https://h/keys/k/v1", "kty": "RSA", "n": jwk["n"], "e": "AQAB"}
    assert int.from_bytes(base64.urlsafe_b64decode(jwk["n"] + "=="), "big") == numbers.n


@pytest.mark.parametrize(
    ("crv", "curve", "size"),
    [
        ("P-256", ec.SECP256R1(), 32),
        ("P-256K", ec.SECP256K1(), 32),
        ("P-384", ec.SECP384R1(), 48),
        ("P-521", ec.SECP521R1(), 66),
    ],
)
def test_ec_round_trip(crv: str, curve: ec.EllipticCurve, size: int) -> None:
    numbers = ec.generate_private_key(curve).public_key().public_numbers()
    material = PublicKeyMaterial(kid="kid", kty="EC-HSM", crv=crv, x=_be(numbers.x, size), y=_be(numbers.y, size))
    data = configmap_data(material)
    loaded = serialization.load_pem_public_key(data["public.pem"].encode())
    assert isinstance(loaded, ec.EllipticCurvePublicKey)
    assert loaded.public_numbers() == numbers
    assert json.loads(data["jwk.json"])["crv"] == crv


def test_oct_has_no_public_half() -> None:
    assert not has_public_half("oct-HSM")
    assert has_public_half("RSA-HSM")
    assert has_public_half("EC-HSM")
    with pytest.raises(PublicKeyError, match="oct-HSM has no public half"):
        configmap_data(PublicKeyMaterial(kid="kid", kty="oct-HSM"))


def test_incomplete_key_is_named() -> None:
    with pytest.raises(PublicKeyError, match="RSA key kid came back without n/e"):
        public_jwk(PublicKeyMaterial(kid="kid", kty="RSA-HSM", n=b"\x01"))
    with pytest.raises(PublicKeyError, match="EC key kid came back without crv/x/y"):
        configmap_data(PublicKeyMaterial(kid="kid", kty="EC-HSM", crv="P-256"))


def test_unknown_curve_is_named() -> None:
    with pytest.raises(PublicKeyError, match="unknown curve P-999"):
        configmap_data(PublicKeyMaterial(kid="kid", kty="EC-HSM", crv="P-999", x=b"\x01", y=b"\x01"))
