"""Compact JWE (RFC 7516) with exactly the two algorithm pairs the security domain uses.

``RSA-OAEP-256`` + ``A256GCM`` encrypts a share to a certificate holder's public key (and the restore blob's key to
the transfer key); ``dir`` + ``A256GCM`` encrypts security-domain data under a derived key. The protected header,
as ASCII base64url, is the GCM additional data, so no header field can be changed unnoticed.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from hsm_emulator.crypto.errors import CryptoError
from hsm_emulator.crypto.jwk import b64url_decode, b64url_encode
from hsm_emulator.securitydomain.errors import SecurityDomainError

CEK_BYTES = 32
_IV_BYTES = 12
_TAG_BYTES = 16
_OAEP_256 = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)


def encrypt_to_public_key(public_key: rsa.RSAPublicKey, plaintext: bytes, header: dict[str, Any]) -> str:
    """RSA-OAEP-256 of a fresh content key, A256GCM of the plaintext; ``header`` adds fields such as kid."""
    cek = secrets.token_bytes(CEK_BYTES)
    return _encrypt(
        {**header, "alg": "RSA-OAEP-256", "enc": "A256GCM"}, public_key.encrypt(cek, _OAEP_256), cek, plaintext
    )


def decrypt_with_private_key(private_key: rsa.RSAPrivateKey, compact: str, what: str) -> bytes:
    """Reverse ``encrypt_to_public_key``; ``what`` names the object in error messages."""
    header, parts = _parse(compact, what, expected_alg="RSA-OAEP-256")
    try:
        cek = private_key.decrypt(parts[1], _OAEP_256)
    except ValueError:
        raise SecurityDomainError(f"Cannot decrypt {what}: it was not encrypted to this key.") from None
    if len(cek) != CEK_BYTES:
        raise SecurityDomainError(f"Cannot decrypt {what}: its content key is {len(cek)} bytes, not {CEK_BYTES}.")
    return _decrypt(header, parts, cek, what)


def encrypt_direct(key: bytes, plaintext: bytes, kid: str) -> str:
    """A256GCM under ``key`` itself (JWE ``dir``), as the security domain's EncData entries are."""
    return _encrypt({"alg": "dir", "enc": "A256GCM", "kid": kid}, b"", key, plaintext)


def decrypt_direct(key: bytes, compact: str, what: str) -> bytes:
    header, parts = _parse(compact, what, expected_alg="dir")
    return _decrypt(header, parts, key, what)


def _encrypt(header: dict[str, Any], encrypted_key: bytes, cek: bytes, plaintext: bytes) -> str:
    protected = b64url_encode(json.dumps(header, separators=(",", ":")).encode("utf-8"))
    iv = secrets.token_bytes(_IV_BYTES)
    sealed = AESGCM(cek).encrypt(iv, plaintext, protected.encode("ascii"))
    pieces = (encrypted_key, iv, sealed[:-_TAG_BYTES], sealed[-_TAG_BYTES:])
    return ".".join([protected, *(b64url_encode(piece) for piece in pieces)])


def _parse(compact: object, what: str, expected_alg: str) -> tuple[str, list[bytes]]:
    """Split and decode; returns the protected header text (the GCM aad) and the five decoded parts."""
    if not isinstance(compact, str) or compact.count(".") != 4:
        raise SecurityDomainError(f"{what} is not a compact JWE (five base64url parts separated by dots).")
    texts = compact.split(".")
    try:
        parts = [b64url_decode(text, what) for text in texts]
        header = json.loads(parts[0])
    except (CryptoError, ValueError):
        raise SecurityDomainError(f"{what} is not a compact JWE: a part is not valid base64url or JSON.") from None
    if not isinstance(header, dict) or header.get("alg") != expected_alg or header.get("enc") != "A256GCM":
        alg = header.get("alg") if isinstance(header, dict) else None
        enc = header.get("enc") if isinstance(header, dict) else None
        raise SecurityDomainError(f"{what} uses alg={alg!r}, enc={enc!r}; expected {expected_alg} with A256GCM.")
    if len(parts[2]) != _IV_BYTES or len(parts[4]) != _TAG_BYTES:
        raise SecurityDomainError(f"{what} has an iv or tag of the wrong length for A256GCM.")
    return texts[0], parts


def _decrypt(protected: str, parts: list[bytes], cek: bytes, what: str) -> bytes:
    try:
        return AESGCM(cek).decrypt(parts[2], parts[3] + parts[4], protected.encode("ascii"))
    except InvalidTag:
        raise SecurityDomainError(f"Cannot decrypt {what}: wrong key, or the data was modified.") from None
