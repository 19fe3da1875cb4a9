"""Recipe layer: the HSM's cryptographic operations over a key handle, as the data plane's routes call them.

Each function checks everything a caller can get wrong (algorithm against key type and size, digest length, iv and
tag lengths, plaintext limits) before any ``cryptography`` call, and turns every failure into one ``CryptoError``
whose code is the Azure code to return. This is the only importer of ``primitives``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap

from hsm_emulator.crypto import primitives
from hsm_emulator.crypto.errors import CryptoError, bad_parameter
from hsm_emulator.crypto.material import EcKey, KeyMaterial, OctKey, RsaKey, coordinate_bytes

RANDOM_BYTES_MIN = 1
RANDOM_BYTES_MAX = 128

ENCRYPTION_ALGORITHMS: frozenset[str] = frozenset(primitives.RSA_ENCRYPTION) | frozenset(
    name for name, spec in primitives.AES_ALGORITHMS.items() if spec.mode in ("GCM", "CBC", "CBCPAD")
)
KEY_WRAP_ALGORITHMS: frozenset[str] = frozenset(primitives.RSA_ENCRYPTION) | frozenset(
    name for name, spec in primitives.AES_ALGORITHMS.items() if spec.mode in ("KW", "KWP")
)
SIGNATURE_ALGORITHMS: frozenset[str] = frozenset(primitives.SIGNATURES)


@dataclass(frozen=True)
class EncryptResult:
    """What encrypt returns; ``iv``, ``tag`` and ``aad`` are echoed in the response only when set (AES)."""

    ciphertext: bytes
    iv: bytes | None = None
    tag: bytes | None = None
    aad: bytes | None = None


# --------------------------------------------------------------------------------------------------- public API


def encrypt(
    key: KeyMaterial, alg: str, plaintext: bytes, *, iv: bytes | None = None, aad: bytes | None = None
) -> EncryptResult:
    """Encrypt with RSA-OAEP(-256)/RSA1_5 (RSA keys) or AES-GCM/CBC/CBCPAD (oct keys)."""
    _require_known(alg, ENCRYPTION_ALGORITHMS, "encrypt")
    if isinstance(key, RsaKey):
        _reject_aes_parameters(alg, iv=iv, aad=aad, tag=None)
        return EncryptResult(_rsa_encrypt(key, alg, plaintext, "plaintext"))
    secret = _aes_key_for(key, alg)
    spec = primitives.AES_ALGORITHMS[alg]
    if spec.mode == "GCM":
        if iv is not None:
            raise bad_parameter(f"The iv must not be supplied for {alg} encryption: the HSM generates it.")
        nonce = secrets.token_bytes(primitives.GCM_IV_BYTES)
        ciphertext, tag = primitives.aes_gcm_encrypt(secret, nonce, plaintext, aad)
        return EncryptResult(ciphertext, iv=nonce, tag=tag, aad=aad)
    _check_cbc_input(alg, iv, aad, tag=None)
    assert iv is not None
    if spec.mode == "CBC" and (not plaintext or len(plaintext) % primitives.AES_BLOCK_BYTES):
        raise bad_parameter(
            f"The plaintext length ({len(plaintext)} bytes) must be a non-zero multiple of 16 for {alg}, which does "
            f"not pad; use A{spec.key_bits}CBCPAD for data of any length."
        )
    return EncryptResult(primitives.aes_cbc_encrypt(secret, iv, plaintext, pkcs7=spec.mode == "CBCPAD"), iv=iv)


def decrypt(
    key: KeyMaterial,
    alg: str,
    ciphertext: bytes,
    *,
    iv: bytes | None = None,
    aad: bytes | None = None,
    tag: bytes | None = None,
) -> bytes:
    """Reverse ``encrypt``; a wrong key, iv, tag, aad or a tampered ciphertext is a BadParameter error."""
    _require_known(alg, ENCRYPTION_ALGORITHMS, "decrypt")
    if isinstance(key, RsaKey):
        _reject_aes_parameters(alg, iv=iv, aad=aad, tag=tag)
        return _rsa_decrypt(key, alg, ciphertext)
    secret = _aes_key_for(key, alg)
    spec = primitives.AES_ALGORITHMS[alg]
    if spec.mode == "GCM":
        if iv is None or len(iv) != primitives.GCM_IV_BYTES:
            raise bad_parameter(f"{alg} decryption needs the 12-byte iv returned by encrypt; got {_length(iv)}.")
        if tag is None or len(tag) != primitives.GCM_TAG_BYTES:
            raise bad_parameter(f"{alg} decryption needs the 16-byte tag returned by encrypt; got {_length(tag)}.")
        try:
            return primitives.aes_gcm_decrypt(secret, iv, ciphertext, tag, aad)
        except InvalidTag:
            raise bad_parameter(
                f"{alg} decryption failed: the authentication tag does not match "
                "(wrong key, iv or aad, or the ciphertext was modified)."
            ) from None
    _check_cbc_input(alg, iv, aad, tag)
    assert iv is not None
    if not ciphertext or len(ciphertext) % primitives.AES_BLOCK_BYTES:
        raise bad_parameter(
            f"The ciphertext length ({len(ciphertext)} bytes) must be a non-zero multiple of 16 for {alg}."
        )
    try:
        return primitives.aes_cbc_decrypt(secret, iv, ciphertext, pkcs7=spec.mode == "CBCPAD")
    except ValueError:
        raise bad_parameter(f"{alg} decryption failed: invalid padding (wrong key or iv, or modified data).") from None


def wrap_key(key: KeyMaterial, alg: str, key_to_wrap: bytes) -> bytes:
    """Wrap key bytes with RSA (as encrypt) or AES key wrap (RFC 3394 / RFC 5649)."""
    _require_known(alg, KEY_WRAP_ALGORITHMS, "wrapKey")
    if isinstance(key, RsaKey):
        return _rsa_encrypt(key, alg, key_to_wrap, "key to wrap")
    secret = _aes_key_for(key, alg)
    spec = primitives.AES_ALGORITHMS[alg]
    if spec.mode == "KW" and (len(key_to_wrap) < 16 or len(key_to_wrap) % 8):
        raise bad_parameter(
            f"{alg} (RFC 3394) wraps keys of at least 16 bytes in multiples of 8; got {len(key_to_wrap)} bytes. "
            "Use CKM_AES_KEY_WRAP_PAD for other lengths."
        )
    if spec.mode == "KWP" and not key_to_wrap:
        raise bad_parameter(f"{alg} needs at least one byte to wrap.")
    return primitives.aes_key_wrap(secret, spec.mode, key_to_wrap)


def unwrap_key(key: KeyMaterial, alg: str, wrapped_key: bytes) -> bytes:
    """Reverse ``wrap_key``; a failed integrity check is a BadParameter error."""
    _require_known(alg, KEY_WRAP_ALGORITHMS, "unwrapKey")
    if isinstance(key, RsaKey):
        return _rsa_decrypt(key, alg, wrapped_key)
    secret = _aes_key_for(key, alg)
    spec = primitives.AES_ALGORITHMS[alg]
    minimum = 24 if spec.mode == "KW" else 16
    if len(wrapped_key) < minimum or len(wrapped_key) % 8:
        raise bad_parameter(
            f"A key wrapped with {alg} is at least {minimum} bytes long in multiples of 8; got {len(wrapped_key)}."
        )
    try:
        return primitives.aes_key_unwrap(secret, spec.mode, wrapped_key)
    except InvalidUnwrap:
        raise bad_parameter(
            f"{alg} unwrap failed: the integrity check did not pass (wrong key, or the wrapped key was modified)."
        ) from None


def sign(key: KeyMaterial, alg: str, digest: bytes) -> bytes:
    """Sign a digest: RS*/PS*/RSNULL (RSA), ES* in JWS r||s form (EC), HS* over the value (oct)."""
    scheme = _signature_scheme_for(key, alg, digest)
    if isinstance(key, RsaKey):
        return primitives.rsa_sign_digest(key.private_key, scheme, digest)
    if isinstance(key, EcKey):
        return primitives.ecdsa_sign_digest(key.private_key, scheme, digest)
    return primitives.hmac_sign(key.secret, scheme, digest)


def verify(key: KeyMaterial, alg: str, digest: bytes, signature: bytes) -> bool:
    """True when ``signature`` is valid for ``digest``; malformed input (lengths, algorithm) is an error."""
    scheme = _signature_scheme_for(key, alg, digest)
    if isinstance(key, RsaKey):
        expected = _modulus_bytes(key)
        if len(signature) != expected:
            raise bad_parameter(
                f"An {alg} signature of a {key.size}-bit key is {expected} bytes; got {len(signature)}."
            )
        return primitives.rsa_verify_digest(key.private_key.public_key(), scheme, digest, signature)
    if isinstance(key, EcKey):
        expected = 2 * coordinate_bytes(key.curve)
        if len(signature) != expected:
            raise bad_parameter(f"An {alg} signature is {expected} bytes (r || s); got {len(signature)}.")
        return primitives.ecdsa_verify_digest(key.private_key.public_key(), scheme, digest, signature)
    return primitives.hmac_verify(key.secret, scheme, digest, signature)


def random_bytes(count: int) -> bytes:
    """Bytes from the HSM's random number generator (``POST /rng``); 1 to 128 per request."""
    if isinstance(count, bool) or not isinstance(count, int) or not RANDOM_BYTES_MIN <= count <= RANDOM_BYTES_MAX:
        raise bad_parameter(f"count must be an integer from {RANDOM_BYTES_MIN} to {RANDOM_BYTES_MAX}; got {count!r}.")
    return secrets.token_bytes(count)


# ------------------------------------------------------------------------------------------------------ checks


def _require_known(alg: str, allowed: frozenset[str], operation: str) -> None:
    if alg not in allowed:
        raise bad_parameter(
            f"Invalid algorithm for the {operation} operation: {alg!r}. Supported: {', '.join(sorted(allowed))}."
        )


def _not_for_key(alg: str, key: KeyMaterial) -> CryptoError:
    return bad_parameter(f"Algorithm {alg} is not supported for a key of type {key.kty}.", "AlgorithmNotSupported")


def _length(value: bytes | None) -> str:
    return "none" if value is None else f"{len(value)} bytes"


def _modulus_bytes(key: RsaKey) -> int:
    return (key.size + 7) // 8


def _reject_aes_parameters(alg: str, *, iv: bytes | None, aad: bytes | None, tag: bytes | None) -> None:
    for name, value in (("iv", iv), ("aad", aad), ("tag", tag)):
        if value is not None:
            raise bad_parameter(f"The {name} parameter is not used by {alg}; send it only with AES algorithms.")


def _check_cbc_input(alg: str, iv: bytes | None, aad: bytes | None, tag: bytes | None) -> None:
    if iv is None or len(iv) != primitives.AES_BLOCK_BYTES:
        raise bad_parameter(f"{alg} needs a 16-byte iv supplied by the client; got {_length(iv)}.")
    if aad is not None or tag is not None:
        raise bad_parameter(f"{alg} takes no aad or tag; they are used only by AES-GCM.")


def _rsa_scheme(key: KeyMaterial, alg: str) -> primitives.RsaEncryption:
    scheme = primitives.RSA_ENCRYPTION.get(alg)
    if scheme is None or not isinstance(key, RsaKey):
        raise _not_for_key(alg, key)
    return scheme


def _rsa_encrypt(key: RsaKey, alg: str, plaintext: bytes, what: str) -> bytes:
    scheme = _rsa_scheme(key, alg)
    limit = scheme.max_plaintext_bytes(_modulus_bytes(key))
    if len(plaintext) > limit:
        raise bad_parameter(
            f"The {what} is too long for {alg} with a {key.size}-bit key: {len(plaintext)} bytes, at most {limit}."
        )
    return primitives.rsa_encrypt(key.private_key.public_key(), scheme, plaintext)


def _rsa_decrypt(key: RsaKey, alg: str, ciphertext: bytes) -> bytes:
    scheme = _rsa_scheme(key, alg)
    expected = _modulus_bytes(key)
    if len(ciphertext) != expected:
        raise bad_parameter(
            f"The ciphertext for {alg} with a {key.size}-bit key must be {expected} bytes; got {len(ciphertext)}."
        )
    try:
        return primitives.rsa_decrypt(key.private_key, scheme, ciphertext)
    except ValueError:
        raise bad_parameter(
            f"{alg} decryption failed: the ciphertext was not made with this key and algorithm."
        ) from None


def _aes_key_for(key: KeyMaterial, alg: str) -> bytes:
    spec = primitives.AES_ALGORITHMS.get(alg)
    if spec is None or not isinstance(key, OctKey):
        raise _not_for_key(alg, key)
    if spec.key_bits is not None and spec.key_bits != key.size:
        raise bad_parameter(
            f"Algorithm {alg} needs a {spec.key_bits}-bit key; this key has {key.size} bits.", "AlgorithmNotSupported"
        )
    return key.secret


def _signature_scheme_for(key: KeyMaterial, alg: str, digest: bytes) -> primitives.SignatureScheme:
    scheme = primitives.SIGNATURES.get(alg)
    if scheme is None:
        raise bad_parameter(
            f"Invalid signature algorithm: {alg!r}. Supported: {', '.join(sorted(SIGNATURE_ALGORITHMS))}."
        )
    family_by_key = {RsaKey: ("PKCS1", "PSS", "RAW_PKCS1"), EcKey: ("ECDSA",), OctKey: ("HMAC",)}
    if scheme.family not in family_by_key[type(key)]:
        raise _not_for_key(alg, key)
    if isinstance(key, EcKey) and scheme.curve != key.curve:
        raise bad_parameter(
            f"Algorithm {alg} needs a key on curve {scheme.curve}; this key is on {key.curve}.", "AlgorithmNotSupported"
        )
    if scheme.family == "HMAC":
        return scheme  # HS* MAC the value itself, of any length
    if scheme.digest is not None:
        if len(digest) != scheme.digest.digest_size:
            raise bad_parameter(
                f"Invalid digest length for {alg}: {len(digest)} bytes; {alg} signs a "
                f"{scheme.digest.digest_size}-byte {scheme.digest.name.upper()} digest."
            )
        return scheme
    assert isinstance(key, RsaKey)  # RSNULL: raw bytes in PKCS#1 v1.5 type 1 padding
    limit = _modulus_bytes(key) - 11
    if not digest or len(digest) > limit:
        raise bad_parameter(
            f"Invalid digest length for RSNULL with a {key.size}-bit key: {len(digest)} bytes; 1 to {limit} allowed."
        )
    return scheme
