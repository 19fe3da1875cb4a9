"""Throwaway security-domain officers for tests, benchmarks and tools that activate an emulated HSM.

Activation (a security-domain download) needs 3-10 RSA certificates in the SecurityDomainJsonWebKey form of the
`securitydomain.json` swagger (kid, kty, key_ops, n, e, x5c, x5t#S256, alg). This makes one self-signed officer
certificate in that form; its private key is discarded, since these callers never recover the domain.
"""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID


def _b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def certificate_jwk(label: str) -> dict[str, Any]:
    """A fresh RSA-2048 officer certificate (valid one day) as a SecurityDomainJsonWebKey named `label`."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, label)])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    numbers = key.public_key().public_numbers()
    return {
        "kid": label,
        "kty": "RSA",
        "key_ops": ["verify", "encrypt", "wrapKey"],
        "n": _b64u(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
        "e": _b64u(numbers.e.to_bytes(3, "big")),
        "x5c": [base64.b64encode(certificate.public_bytes(serialization.Encoding.DER)).decode()],
        "alg": "RSA-OAEP-256",
        "x5t#S256": _b64u(certificate.fingerprint(hashes.SHA256())),
    }
