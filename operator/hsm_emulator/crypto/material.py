"""Key handles: the private key material of one HSM key version, whatever its type.

The data plane holds a ``KeyMaterial`` for a key version and passes it to ``operations``; it never touches the
``cryptography`` objects inside. Handles are immutable, so one can be shared between concurrent requests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from cryptography.hazmat.primitives.asymmetric import ec, rsa

KeyType = Literal["RSA-HSM", "EC-HSM", "oct-HSM"]
CurveName = Literal["P-256", "P-256K", "P-384", "P-521"]

RSA_KEY_SIZES: tuple[int, ...] = (2048, 3072, 4096)
OCT_KEY_SIZES: tuple[int, ...] = (128, 192, 256)
CURVE_NAMES: tuple[CurveName, ...] = ("P-256", "P-256K", "P-384", "P-521")

# kty values the service accepts and the -HSM type each one becomes: on Managed HSM every key is HSM-protected.
KEY_TYPE_ALIASES: dict[str, KeyType] = {
    "RSA": "RSA-HSM",
    "RSA-HSM": "RSA-HSM",
    "EC": "EC-HSM",
    "EC-HSM": "EC-HSM",
    "oct": "oct-HSM",
    "oct-HSM": "oct-HSM",
}


@dataclass(frozen=True, eq=False)
class RsaKey:
    """An RSA key pair of 2048, 3072 or 4096 bits."""

    private_key: rsa.RSAPrivateKey
    kty: KeyType = "RSA-HSM"

    @property
    def size(self) -> int:
        return self.private_key.key_size


@dataclass(frozen=True, eq=False)
class EcKey:
    """An elliptic-curve key pair on one of the four curves Managed HSM supports."""

    private_key: ec.EllipticCurvePrivateKey
    curve: CurveName
    kty: KeyType = "EC-HSM"

    @property
    def size(self) -> int:
        return self.private_key.curve.key_size


@dataclass(frozen=True, eq=False)
class OctKey:
    """A symmetric AES key of 128, 192 or 256 bits."""

    secret: bytes
    kty: KeyType = "oct-HSM"

    @property
    def size(self) -> int:
        return len(self.secret) * 8

    def __repr__(self) -> str:  # never print the secret
        return f"OctKey(size={self.size})"


KeyMaterial = RsaKey | EcKey | OctKey

CURVES: dict[CurveName, ec.EllipticCurve] = {
    "P-256": ec.SECP256R1(),
    "P-256K": ec.SECP256K1(),
    "P-384": ec.SECP384R1(),
    "P-521": ec.SECP521R1(),
}


def coordinate_bytes(curve: CurveName) -> int:
    """Length of one coordinate (and of r and of s in a JWS signature): 32, 32, 48 and 66 bytes."""
    return (CURVES[curve].key_size + 7) // 8
