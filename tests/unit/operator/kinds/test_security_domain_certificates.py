"""PEM certificates -> SecurityDomainJsonWebKey: encodings, and a clear error for every unusable certificate."""

from __future__ import annotations

import base64
import hashlib

import pytest
from azure.keyvault.securitydomain.models import CertificateInfo
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding

from hsm_operator.kinds.security_domain_certificates import (
    CertificateError,
    certificate_info,
    security_domain_key,
)
from tests.unit.operator.kinds.certificates import rsa_certificate, self_signed_pem


def _b64url_decode(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


@pytest.fixture(scope="module")
def rsa_certs() -> list[tuple[bytes, rsa.RSAPrivateKey]]:
    return [rsa_certificate(f"sd-holder-{index}") for index in range(3)]


def test_key_fields_match_the_certificate(rsa_certs: list[tuple[bytes, rsa.RSAPrivateKey]]) -> None:
    pem, private_key = rsa_certs[0]
    key = security_domain_key(pem, source="test")
    der = x509.load_pem_x509_certificate(pem).public_bytes(Encoding.DER)
    numbers = private_key.public_key().public_numbers()

    assert key["kty"] == "RSA"
    assert key["alg"] == "RSA-OAEP-256"
    assert key["key_ops"] == ["verify", "encrypt", "wrapKey"]
    assert key["kid"] == "CN=sd-holder-0"
    assert int.from_bytes(_b64url_decode(key["n"]), "big") == numbers.n
    assert int.from_bytes(_b64url_decode(key["e"]), "big") == numbers.e == 65537
    assert key["x5c"] == [base64.b64encode(der).decode()]
    assert _b64url_decode(key["x5t#S256"]) == hashlib.sha256(der).digest()
    assert "=" not in key["n"] + key["e"] + key["x5t#S256"]


def test_the_sdk_model_accepts_the_body(rsa_certs: list[tuple[bytes, rsa.RSAPrivateKey]]) -> None:
    body = certificate_info([security_domain_key(pem, source="t") for pem, _ in rsa_certs], quorum=2)
    model = CertificateInfo(body)
    assert model.required == 2
    assert [c.x5_t_s256 for c in model.certificates] == [c["x5t#S256"] for c in body["certificates"]]


@pytest.mark.parametrize(
    ("pem", "message"),
    [
        (b"not a certificate", "cm/a is not a PEM X.509 certificate"),
        (b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "cm/a is not a PEM X.509 certificate"),
    ],
)
def test_garbage_is_refused_with_the_source_named(pem: bytes, message: str) -> None:
    with pytest.raises(CertificateError, match=message):
        security_domain_key(pem, source="cm/a")


def test_ec_certificate_is_refused() -> None:
    pem = self_signed_pem("ec-holder", ec.generate_private_key(ec.SECP256R1()))
    with pytest.raises(CertificateError, match="cm/ec does not hold an RSA public key"):
        security_domain_key(pem, source="cm/ec")


def test_small_rsa_key_is_refused() -> None:
    pem, _ = rsa_certificate("tiny", key_size=1024)
    with pytest.raises(CertificateError, match="1024-bit RSA key; at least 2048"):
        security_domain_key(pem, source="cm/tiny")


def test_duplicate_certificates_are_refused(rsa_certs: list[tuple[bytes, rsa.RSAPrivateKey]]) -> None:
    key = security_domain_key(rsa_certs[0][0], source="t")
    other = security_domain_key(rsa_certs[1][0], source="t")
    with pytest.raises(CertificateError, match="more than once"):
        certificate_info([key, other, key], quorum=2)


@pytest.mark.parametrize("quorum", [1, 4])
def test_quorum_outside_range_is_refused(rsa_certs: list[tuple[bytes, rsa.RSAPrivateKey]], quorum: int) -> None:
    keys = [security_domain_key(pem, source="t") for pem, _ in rsa_certs]
    with pytest.raises(CertificateError, match=f"quorum {quorum} must be between 2 and the number"):
        certificate_info(keys, quorum=quorum)
