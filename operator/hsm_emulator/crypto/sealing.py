"""Sealing: authenticated encryption of everything the emulator keeps at rest.

Every stored key version is sealed under its HSM's master key, the master key under the hardware root key, and
backups under the master key, with ``aad`` binding each sealed blob to where it belongs (for example HSM id + object
id), so a blob copied to another row or HSM does not open.

Format (version 1): ``0x01 || nonce (12 random bytes) || AES-256-GCM(ciphertext || 16-byte tag)``; the version byte
is authenticated too. A later format gets a new version byte, and ``unseal`` keeps reading the old ones.
"""

from __future__ import annotations

import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from hsm_emulator.crypto.errors import BAD_PARAMETER, CryptoError

SEALING_KEY_BYTES = 32
FORMAT_V1 = 0x01
_NONCE_BYTES = 12
_TAG_BYTES = 16
_HEADER_BYTES = 1 + _NONCE_BYTES


class UnsealError(CryptoError):
    """A sealed blob did not open: wrong key or aad, tampered, truncated or of an unknown format."""

    def __init__(self, message: str) -> None:
        super().__init__(BAD_PARAMETER, message)


def generate_sealing_key() -> bytes:
    """A fresh 256-bit key (an HSM master key or the hardware root key)."""
    return secrets.token_bytes(SEALING_KEY_BYTES)


def seal(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """Encrypt and authenticate ``plaintext`` under ``key``, bound to ``aad``."""
    _check_key(key)
    nonce = secrets.token_bytes(_NONCE_BYTES)
    header = bytes([FORMAT_V1]) + nonce
    return header + AESGCM(key).encrypt(nonce, plaintext, header[:1] + aad)


def unseal(key: bytes, sealed: bytes, aad: bytes) -> bytes:
    """Reverse ``seal``; raises ``UnsealError`` unless key, aad and every byte of ``sealed`` are the originals."""
    _check_key(key)
    if len(sealed) < _HEADER_BYTES + _TAG_BYTES:
        raise UnsealError(f"Sealed data is truncated: {len(sealed)} bytes, at least {_HEADER_BYTES + _TAG_BYTES}.")
    if sealed[0] != FORMAT_V1:
        raise UnsealError(f"Sealed data has an unknown format version {sealed[0]}.")
    nonce = sealed[1:_HEADER_BYTES]
    try:
        return AESGCM(key).decrypt(nonce, sealed[_HEADER_BYTES:], sealed[:1] + aad)
    except InvalidTag:
        raise UnsealError(
            "Sealed data failed authentication: it was sealed under another key or for another object, or modified."
        ) from None


def _check_key(key: bytes) -> None:
    if len(key) != SEALING_KEY_BYTES:
        raise CryptoError(BAD_PARAMETER, f"A sealing key is {SEALING_KEY_BYTES} bytes; got {len(key)}.")
