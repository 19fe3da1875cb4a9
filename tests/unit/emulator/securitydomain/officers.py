"""Security-domain officers for tests: RSA keys with self-signed certificates, and the download request body."""

from __future__ import annotations

import base64
import datetime
import hashlib
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from hsm_emulator.crypto.jwk import b64url_encode


@dataclass(frozen=True)
class Holder:
    """A security-domain officer: an RSA key, its self-signed certificate and the JWK sent at download."""

    private_key: rsa.RSAPrivateKey
    certificate: x509.Certificate

    @property
    def key_pem(self) -> bytes:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    @property
    def certificate_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    @property
    def pair(self) -> tuple[bytes, bytes]:
        return self.key_pem, self.certificate_pem

    def jwk(self) -> dict[str, Any]:
        """What `az keyvault security-domain download` sends for this certificate."""
        der = self.certificate.public_bytes(serialization.Encoding.DER)
        numbers = self.private_key.public_key().public_numbers()
        return {
            "kid": self.certificate.subject.rfc4514_string(),
            "kty": "RSA",
            "key_ops": ["verify", "encrypt", "wrapKey"],
            "n": b64url_encode(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
            "e": b64url_encode(numbers.e.to_bytes(3, "big")),
            "x5c": [base64.b64encode(der).decode("ascii")],
            "x5t": b64url_encode(hashlib.sha1(der).digest()),
            "x5t#S256": b64url_encode(hashlib.sha256(der).digest()),
            "alg": "RSA-OAEP-256",
        }


def make_holder(name: str, key_bits: int = 2048) -> Holder:
    key = rsa.generate_private_key(public_exponent=65537, key_size=key_bits)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return Holder(key, certificate)


def certificate_info(holders: list[Holder], required: int) -> dict[str, Any]:
    return {"certificates": [holder.jwk() for holder in holders], "required": required}
