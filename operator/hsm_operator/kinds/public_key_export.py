"""Public half of an HSM key as a JWK and as PEM, for `HSMKey.spec.publicKeyTo.configMapName`.

Why this module exists: applications that only verify signatures or encrypt to a key should not need HSM access.
The operator publishes the current version's public key in a ConfigMap (`jwk.json`, `public.pem`). Building both
from the JWK the service returns is pure and easy to get subtly wrong (curve names, leading zero bytes), so it lives
here with its own tests. Private material never passes through: only `n`/`e` (RSA) or `crv`/`x`/`y` (EC) are read,
and oct (symmetric) keys have no public half at all.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from hsm_operator.kinds.security_domain_certificates import base64url

JWK_FILE = "jwk.json"
PEM_FILE = "public.pem"

# JOSE curve names -> cryptography curves. P-256K is secp256k1 (RFC 8812).
_CURVES: dict[str, ec.EllipticCurve] = {
    "P-256": ec.SECP256R1(),
    "P-256K": ec.SECP256K1(),
    "P-384": ec.SECP384R1(),
    "P-521": ec.SECP521R1(),
}


class PublicKeyError(ValueError):
    """The service returned a key whose public half cannot be exported; the message says which part is missing."""


@dataclass(frozen=True)
class PublicKeyMaterial:
    """What the service returned for a key version (`KeyVaultKey.key`), reduced to the public fields."""

    kid: str
    kty: str
    n: bytes | None = None
    e: bytes | None = None
    crv: str | None = None
    x: bytes | None = None
    y: bytes | None = None


def has_public_half(kty: str) -> bool:
    """oct / oct-HSM keys are symmetric: nothing may be published for them."""
    return not kty.startswith("oct")


def public_jwk(material: PublicKeyMaterial) -> dict[str, str]:
    """The public JWK (RFC 7517) with the service's `kid`; `kty` is the JOSE family (`RSA`/`EC`), not `-HSM`."""
    if material.kty.startswith("RSA"):
        if not material.n or not material.e:
            raise PublicKeyError(f"RSA key {material.kid} came back without n/e")
        return {"kid": material.kid, "kty": "RSA", "n": base64url(material.n), "e": base64url(material.e)}
    if material.kty.startswith("EC"):
        if not material.crv or not material.x or not material.y:
            raise PublicKeyError(f"EC key {material.kid} came back without crv/x/y")
        return {
            "kid": material.kid,
            "kty": "EC",
            "crv": material.crv,
            "x": base64url(material.x),
            "y": base64url(material.y),
        }
    raise PublicKeyError(f"key {material.kid} of type {material.kty} has no public half to export")


def public_pem(material: PublicKeyMaterial) -> str:
    """SubjectPublicKeyInfo PEM of the key, as OpenSSL and most libraries load it."""
    key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey
    if material.kty.startswith("RSA") and material.n and material.e:
        key = rsa.RSAPublicNumbers(
            e=int.from_bytes(material.e, "big"), n=int.from_bytes(material.n, "big")
        ).public_key()
    elif material.kty.startswith("EC") and material.crv and material.x and material.y:
        curve = _CURVES.get(material.crv)
        if curve is None:
            raise PublicKeyError(f"EC key {material.kid} uses unknown curve {material.crv}")
        key = ec.EllipticCurvePublicNumbers(
            x=int.from_bytes(material.x, "big"), y=int.from_bytes(material.y, "big"), curve=curve
        ).public_key()
    else:
        # public_jwk raises the precise message for every incomplete case.
        public_jwk(material)
        raise PublicKeyError(f"key {material.kid} of type {material.kty} has no public half to export")
    return key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode("ascii")


def configmap_data(material: PublicKeyMaterial) -> dict[str, str]:
    """The ConfigMap `data` published for a key version: `jwk.json` and `public.pem`."""
    return {
        JWK_FILE: json.dumps(public_jwk(material), indent=2, sort_keys=True) + "\n",
        PEM_FILE: public_pem(material),
    }
