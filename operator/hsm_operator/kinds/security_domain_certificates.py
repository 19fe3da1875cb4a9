"""Turn the PEM certificates named by an HSMSecurityDomain into the JWKs that the security-domain download takes.

Why this module exists: `POST /securitydomain/download` wants each wrapping certificate as a
`SecurityDomainJsonWebKey` (`kid, kty:"RSA", key_ops, n, e, x5c, x5t#S256, alg:"RSA-OAEP-256"`), which is what
`az keyvault security-domain download --sd-wrapping-keys` builds client side. The conversion is pure (PEM bytes in,
JSON-ready dict out) so it is unit-tested without an HSM; `kinds.hsmsecuritydomain` only reads the bytes from
ConfigMaps/Secrets and hands the result to the SDK's `begin_download`.

Encodings follow RFC 7517/7518: `n`, `e` and `x5t#S256` are base64url without padding; `x5c` entries are standard
base64 of the DER certificate (RFC 7517 §4.7), exactly as the Azure SDK's own test helper produces them.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding

# The service encrypts one Shamir share to each certificate with RSA-OAEP-256.
SECURITY_DOMAIN_KEY_ALGORITHM = "RSA-OAEP-256"
SECURITY_DOMAIN_KEY_OPERATIONS = ("verify", "encrypt", "wrapKey")
# The service refuses smaller wrapping keys; checking here gives the user the reason before any HSM call.
MINIMUM_RSA_KEY_SIZE = 2048


class CertificateError(ValueError):
    """A referenced certificate cannot serve as a security-domain wrapping key; the message says why."""


def base64url(data: bytes) -> str:
    """Base64url without padding, the JOSE encoding of binary values."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unsigned_big_endian(value: int) -> bytes:
    return value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")


def load_certificate(pem: bytes, *, source: str) -> x509.Certificate:
    """Parse one PEM certificate; `source` (e.g. `ConfigMap sd-certs key cert0.pem`) names it in errors."""
    try:
        return x509.load_pem_x509_certificate(pem)
    except ValueError as error:
        raise CertificateError(f"{source} is not a PEM X.509 certificate ({error})") from None


def security_domain_key(pem: bytes, *, source: str) -> dict[str, Any]:
    """The `SecurityDomainJsonWebKey` (wire form, JSON-ready) for one PEM certificate with an RSA public key."""
    certificate = load_certificate(pem, source=source)
    public_key = certificate.public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise CertificateError(f"{source} does not hold an RSA public key; security domains need RSA certificates")
    if public_key.key_size < MINIMUM_RSA_KEY_SIZE:
        raise CertificateError(
            f"{source} has a {public_key.key_size}-bit RSA key; at least {MINIMUM_RSA_KEY_SIZE} bits are required"
        )
    numbers = public_key.public_numbers()
    der = certificate.public_bytes(Encoding.DER)
    return {
        "kid": certificate.subject.rfc4514_string() or base64url(hashlib.sha256(der).digest()),
        "kty": "RSA",
        "key_ops": list(SECURITY_DOMAIN_KEY_OPERATIONS),
        "n": base64url(_unsigned_big_endian(numbers.n)),
        "e": base64url(_unsigned_big_endian(numbers.e)),
        "x5c": [base64.b64encode(der).decode("ascii")],
        "x5t#S256": base64url(hashlib.sha256(der).digest()),
        "alg": SECURITY_DOMAIN_KEY_ALGORITHM,
    }


def certificate_info(keys: list[dict[str, Any]], *, quorum: int) -> dict[str, Any]:
    """The download request body (`CertificateInfoObject`): the keys plus the quorum (`required`).

    Duplicates are refused here: the same certificate twice would silently lower the real number of key holders
    needed to recover the HSM, which is exactly what a quorum is meant to prevent.
    """
    thumbprints = [key["x5t#S256"] for key in keys]
    if len(set(thumbprints)) != len(thumbprints):
        raise CertificateError("the same certificate is listed more than once; each key holder needs its own")
    if not 2 <= quorum <= len(keys):
        raise CertificateError(f"quorum {quorum} must be between 2 and the number of certificates ({len(keys)})")
    return {"certificates": keys, "required": quorum}
