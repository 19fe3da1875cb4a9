"""The tenant-independent RS256 key(s) that sign every token, like Entra's common signing keys.

Generated once, stored in the database sealed (AES-256-GCM) under a key derived from the hardware root key, loaded
into memory at start. The JWKS endpoint publishes the public halves; `kid` is the RFC 7638 thumbprint.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from hsm_emulator.storage import Transaction

SIGNING_KEY_BITS = 2048
_SEALING_INFO = b"hsm-emulator/identity/signing-keys/v1"


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8 or 1, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def public_jwk(key: rsa.RSAPublicKey, kid: str) -> dict[str, Any]:
    numbers = key.public_numbers()
    return {
        "kty": "RSA",
        "use": "sig",
        "alg": "RS256",
        "kid": kid,
        "n": _b64url_uint(numbers.n),
        "e": _b64url_uint(numbers.e),
    }


def thumbprint(key: rsa.RSAPublicKey) -> str:
    """RFC 7638 JWK thumbprint (SHA-256, base64url)."""
    numbers = key.public_numbers()
    canonical = json.dumps(
        {"e": _b64url_uint(numbers.e), "kty": "RSA", "n": _b64url_uint(numbers.n)}, separators=(",", ":")
    )
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_key: rsa.RSAPrivateKey

    @property
    def public_key(self) -> rsa.RSAPublicKey:
        return self.private_key.public_key()


class SigningKeys:
    """The loaded signing keys; the newest one signs, all of them verify."""

    def __init__(self, keys: list[SigningKey]) -> None:
        if not keys:
            raise ValueError("at least one signing key is required")
        self._keys = {k.kid: k for k in keys}
        self.active = keys[-1]

    def public_key(self, kid: str) -> rsa.RSAPublicKey | None:
        key = self._keys.get(kid)
        return key.public_key if key else None

    def jwks(self) -> dict[str, Any]:
        return {"keys": [public_jwk(k.public_key, k.kid) for k in self._keys.values()]}


def _sealing_key(root_key: bytes) -> AESGCM:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_SEALING_INFO).derive(root_key)
    return AESGCM(derived)


def load_or_create(tx: Transaction, root_key: bytes, now: int) -> SigningKeys:
    """Load the stored keys, generating the first one if there is none."""
    sealer = _sealing_key(root_key)
    rows = tx.all("SELECT kid, nonce, sealed_private_key FROM identity_signing_keys ORDER BY created, kid")
    keys: list[SigningKey] = []
    for row in rows:
        der = sealer.decrypt(row["nonce"], row["sealed_private_key"], row["kid"].encode())
        private_key = serialization.load_der_private_key(der, password=None)
        if not isinstance(private_key, rsa.RSAPrivateKey):
            raise ValueError(f"signing key {row['kid']} is not an RSA key")
        keys.append(SigningKey(row["kid"], private_key))
    if not keys:
        private_key = rsa.generate_private_key(public_exponent=65537, key_size=SIGNING_KEY_BITS)
        kid = thumbprint(private_key.public_key())
        der = private_key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        nonce = secrets.token_bytes(12)
        tx.execute(
            "INSERT INTO identity_signing_keys (kid, created, nonce, sealed_private_key) VALUES (?, ?, ?, ?)",
            (kid, now, nonce, sealer.encrypt(nonce, der, kid.encode())),
        )
        keys.append(SigningKey(kid, private_key))
    return SigningKeys(keys)
