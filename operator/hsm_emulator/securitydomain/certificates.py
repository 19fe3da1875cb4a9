"""Validation of the download request: the certificates that will hold the shares, and the quorum.

``CertificateInfoObject {certificates: [SecurityDomainJsonWebKey], required}`` as the REST API defines it: 3 to 10
RSA certificates (x5c DER, standard base64) whose public key equals ``n``/``e``, whose SHA-256 thumbprint equals
``x5t#S256``, of at least 2048 bits, and a quorum from 2 to the number of certificates. Errors name the field.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import Field

from hsm_emulator.crypto.errors import CryptoError
from hsm_emulator.crypto.jwk import b64url_decode
from hsm_emulator.securitydomain.document import WireModel, certificate_thumbprint, validate
from hsm_emulator.securitydomain.errors import SecurityDomainError

MIN_CERTIFICATES = 3
MAX_CERTIFICATES = 10
MIN_QUORUM = 2
MIN_RSA_BITS = 2048


class SecurityDomainJsonWebKey(WireModel):
    kid: str = Field(min_length=1)
    kty: Literal["RSA"]
    key_ops: list[str]
    n: str = Field(min_length=1)
    e: str = Field(min_length=1)
    x5c: list[str] = Field(min_length=1)
    x5t_s256: str = Field(alias="x5t#S256", min_length=1)
    alg: Literal["RSA-OAEP-256"]
    use: str | None = None
    x5t: str | None = None


class CertificateInfoObject(WireModel):
    certificates: list[SecurityDomainJsonWebKey] = Field(min_length=MIN_CERTIFICATES, max_length=MAX_CERTIFICATES)
    required: int = Field(default=MIN_QUORUM, ge=MIN_QUORUM, le=MAX_CERTIFICATES)


@dataclass(frozen=True)
class ShareHolder:
    """One certificate that receives a share."""

    kid: str
    thumbprint: str
    public_key: rsa.RSAPublicKey


@dataclass(frozen=True)
class CertificateSet:
    holders: tuple[ShareHolder, ...]
    required: int


def parse_certificate_info(body: Mapping[str, Any] | CertificateInfoObject) -> CertificateSet:
    """Validate a download request body; every problem raises ``SecurityDomainError`` naming the field."""
    info = body if isinstance(body, CertificateInfoObject) else validate(CertificateInfoObject, body, "certificate set")
    count = len(info.certificates)
    if info.required > count:
        raise SecurityDomainError(
            f"Invalid certificate set: required: the quorum {info.required} exceeds the {count} certificates."
        )
    holders: list[ShareHolder] = []
    for index, jwk in enumerate(info.certificates):
        holder = share_holder(jwk, f"certificates[{index}]")
        for earlier, other in enumerate(holders):
            if other.thumbprint == holder.thumbprint:
                raise SecurityDomainError(
                    f"Invalid certificate set: certificates[{index}] is the same certificate as "
                    f"certificates[{earlier}]; each share needs its own key holder."
                )
        holders.append(holder)
    return CertificateSet(tuple(holders), info.required)


def load_certificate_der(text: str, field: str, what: str = "certificate set") -> x509.Certificate:
    try:
        der = base64.b64decode(text, validate=True)
        return x509.load_der_x509_certificate(der)
    except (binascii.Error, ValueError):
        raise SecurityDomainError(f"Invalid {what}: {field}: not a base64 DER X.509 certificate.") from None


def share_holder(jwk: SecurityDomainJsonWebKey, prefix: str, what: str = "certificate set") -> ShareHolder:
    """Check that a JWK's certificate, n/e and x5t#S256 agree; errors read "Invalid <what>: <field>: ..."."""
    certificate = load_certificate_der(jwk.x5c[0], f"{prefix}.x5c[0]", what)
    public_key = certificate.public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise SecurityDomainError(f"Invalid {what}: {prefix}.x5c[0]: the certificate's key is not RSA.")
    if public_key.key_size < MIN_RSA_BITS:
        raise SecurityDomainError(
            f"Invalid {what}: {prefix}.x5c[0]: RSA key of {public_key.key_size} bits; at least 2048 needed."
        )
    numbers = public_key.public_numbers()
    for name, expected in (("n", numbers.n), ("e", numbers.e)):
        try:
            value = int.from_bytes(b64url_decode(getattr(jwk, name), f"{prefix}.{name}"), "big")
        except CryptoError as error:
            raise SecurityDomainError(f"Invalid {what}: {error.message}") from None
        if value != expected:
            raise SecurityDomainError(
                f"Invalid {what}: {prefix}.{name} does not match the public key of {prefix}.x5c[0]."
            )
    thumbprint = certificate_thumbprint(certificate)
    if jwk.x5t_s256.rstrip("=") != thumbprint:
        raise SecurityDomainError(
            f"Invalid {what}: {prefix}.x5t#S256 is not the SHA-256 thumbprint of {prefix}.x5c[0]."
        )
    return ShareHolder(jwk.kid, thumbprint, public_key)
