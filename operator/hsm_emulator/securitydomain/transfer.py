"""The transfer (exchange) key of an HSM waiting for a security-domain upload.

``GET /securitydomain/upload`` returns ``{"key_format": "jwk", "transfer_key": <SecurityDomainJsonWebKey>}``; the
client (restore-blob) wraps the recovered domain to the certificate in ``x5c``, and only this HSM's private key opens
it. The data plane stores ``to_pem()`` sealed under the hardware root key until the upload arrives.
"""

from __future__ import annotations

import base64
import datetime
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from hsm_emulator.crypto.jwk import b64url_encode
from hsm_emulator.securitydomain.document import certificate_thumbprint
from hsm_emulator.securitydomain.errors import SecurityDomainError

DEFAULT_KEY_BITS = 3072
CERTIFICATE_VALIDITY = datetime.timedelta(days=30)
_SUBJECT = "Managed HSM emulator security domain transfer key"


@dataclass(frozen=True, eq=False)
class TransferKey:
    private_key: rsa.RSAPrivateKey
    certificate: x509.Certificate

    @property
    def thumbprint(self) -> str:
        return certificate_thumbprint(self.certificate)

    @property
    def kid(self) -> str:
        return f"transfer-key-{self.thumbprint[:22]}"

    def jwk(self) -> dict[str, Any]:
        """The SecurityDomainJsonWebKey (public only)."""
        numbers = self.private_key.public_key().public_numbers()
        der = self.certificate.public_bytes(Encoding.DER)
        return {
            "kid": self.kid,
            "kty": "RSA",
            "key_ops": ["wrapKey", "encrypt"],
            "n": b64url_encode(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
            "e": b64url_encode(numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")),
            "x5c": [base64.b64encode(der).decode("ascii")],
            "x5t#S256": self.thumbprint,
            "alg": "RSA-OAEP-256",
        }

    def response(self) -> dict[str, Any]:
        """The body of ``GET /securitydomain/upload``."""
        return {"key_format": "jwk", "transfer_key": self.jwk()}

    def to_pem(self) -> bytes:
        """Private key and certificate as PEM, for sealing and storage."""
        key = self.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        return key + self.certificate.public_bytes(Encoding.PEM)

    @classmethod
    def from_pem(cls, data: bytes) -> TransferKey:
        try:
            key = serialization.load_pem_private_key(data, password=None)
            certificate = x509.load_pem_x509_certificate(data[data.index(b"-----BEGIN CERTIFICATE-----") :])
        except ValueError:
            raise SecurityDomainError(
                "Stored transfer key is not a PEM private key followed by its certificate."
            ) from None
        if not isinstance(key, rsa.RSAPrivateKey) or key.public_key() != certificate.public_key():
            raise SecurityDomainError("Stored transfer key does not match its certificate.")
        return cls(key, certificate)


def create_transfer_key(key_bits: int = DEFAULT_KEY_BITS) -> TransferKey:
    """A fresh RSA key with a self-signed certificate (the form the Azure CLI expects in ``x5c``)."""
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=key_bits)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, _SUBJECT)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + CERTIFICATE_VALIDITY)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=True,
                data_encipherment=True,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(private_key, hashes.SHA256())
    )
    return TransferKey(private_key, certificate)
