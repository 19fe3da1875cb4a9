"""Hazmat layer: JWA algorithm names mapped to ``cryptography`` objects, and the raw calls on them.

This module does what it is told and checks nothing a caller could get wrong (sizes, key types, iv lengths): that is
the job of ``operations``, the only module allowed to import this one. Failures surface as ``cryptography``'s own
exceptions (``InvalidTag``, ``InvalidSignature``, ``InvalidUnwrap``, ``ValueError``) for ``operations`` to translate.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, keywrap
from cryptography.hazmat.primitives import padding as symmetric_padding
from cryptography.hazmat.primitives.asymmetric import ec, rsa, utils
from cryptography.hazmat.primitives.asymmetric import padding as asymmetric_padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from hsm_emulator.crypto.material import CurveName, coordinate_bytes

AES_BLOCK_BYTES = 16
GCM_IV_BYTES = 12
GCM_TAG_BYTES = 16

# ---------------------------------------------------------------------------------------- RSA encryption / wrap


@dataclass(frozen=True)
class RsaEncryption:
    """An RSA encryption scheme and how many bytes of the modulus its padding uses up."""

    name: str
    oaep_hash: hashes.HashAlgorithm | None  # None = PKCS#1 v1.5

    def padding(self) -> asymmetric_padding.AsymmetricPadding:
        if self.oaep_hash is None:
            return asymmetric_padding.PKCS1v15()
        return asymmetric_padding.OAEP(
            mgf=asymmetric_padding.MGF1(algorithm=self.oaep_hash), algorithm=self.oaep_hash, label=None
        )

    def max_plaintext_bytes(self, modulus_bytes: int) -> int:
        """RFC 8017: k - 2*hLen - 2 for OAEP, k - 11 for PKCS#1 v1.5."""
        if self.oaep_hash is None:
            return modulus_bytes - 11
        return modulus_bytes - 2 * self.oaep_hash.digest_size - 2


RSA_ENCRYPTION: dict[str, RsaEncryption] = {
    "RSA-OAEP": RsaEncryption("RSA-OAEP", hashes.SHA1()),  # noqa: S303 - JWA RSA-OAEP is defined with SHA-1
    "RSA-OAEP-256": RsaEncryption("RSA-OAEP-256", hashes.SHA256()),
    "RSA1_5": RsaEncryption("RSA1_5", None),
}


def rsa_encrypt(key: rsa.RSAPublicKey, scheme: RsaEncryption, plaintext: bytes) -> bytes:
    return key.encrypt(plaintext, scheme.padding())


def rsa_decrypt(key: rsa.RSAPrivateKey, scheme: RsaEncryption, ciphertext: bytes) -> bytes:
    return key.decrypt(ciphertext, scheme.padding())


# -------------------------------------------------------------------------------------------------- signatures

SignatureFamily = Literal["PKCS1", "PSS", "RAW_PKCS1", "ECDSA", "HMAC"]


@dataclass(frozen=True)
class SignatureScheme:
    """A JWS signature algorithm over a digest (Azure signs digests, never messages)."""

    name: str
    family: SignatureFamily
    digest: hashes.HashAlgorithm | None  # None for RSNULL: the caller's bytes are signed as they are
    curve: CurveName | None = None


def _sha(bits: int) -> hashes.HashAlgorithm:
    return {256: hashes.SHA256(), 384: hashes.SHA384(), 512: hashes.SHA512()}[bits]


SIGNATURES: dict[str, SignatureScheme] = {
    **{f"RS{bits}": SignatureScheme(f"RS{bits}", "PKCS1", _sha(bits)) for bits in (256, 384, 512)},
    **{f"PS{bits}": SignatureScheme(f"PS{bits}", "PSS", _sha(bits)) for bits in (256, 384, 512)},
    "RSNULL": SignatureScheme("RSNULL", "RAW_PKCS1", None),
    "ES256": SignatureScheme("ES256", "ECDSA", _sha(256), "P-256"),
    "ES256K": SignatureScheme("ES256K", "ECDSA", _sha(256), "P-256K"),
    "ES384": SignatureScheme("ES384", "ECDSA", _sha(384), "P-384"),
    "ES512": SignatureScheme("ES512", "ECDSA", _sha(512), "P-521"),
    **{f"HS{bits}": SignatureScheme(f"HS{bits}", "HMAC", _sha(bits)) for bits in (256, 384, 512)},
}


def _rsa_padding_and_hash(
    scheme: SignatureScheme,
) -> tuple[asymmetric_padding.AsymmetricPadding, utils.Prehashed | utils.NoDigestInfo]:
    if scheme.digest is None:
        return asymmetric_padding.PKCS1v15(), utils.NoDigestInfo()
    if scheme.family == "PSS":
        # Azure uses a salt as long as the digest (RFC 7518 §3.5), not the maximum cryptography would pick.
        pss = asymmetric_padding.PSS(mgf=asymmetric_padding.MGF1(scheme.digest), salt_length=scheme.digest.digest_size)
        return pss, utils.Prehashed(scheme.digest)
    return asymmetric_padding.PKCS1v15(), utils.Prehashed(scheme.digest)


def rsa_sign_digest(key: rsa.RSAPrivateKey, scheme: SignatureScheme, digest: bytes) -> bytes:
    pad, algorithm = _rsa_padding_and_hash(scheme)
    return key.sign(digest, pad, algorithm)


def rsa_verify_digest(key: rsa.RSAPublicKey, scheme: SignatureScheme, digest: bytes, signature: bytes) -> bool:
    pad, algorithm = _rsa_padding_and_hash(scheme)
    try:
        if isinstance(algorithm, utils.NoDigestInfo):
            # RSNULL: recover the signed bytes (no DigestInfo to check) and compare them.
            recovered = key.recover_data_from_signature(signature, pad, None)
            return hmac.compare_digest(recovered, digest)
        key.verify(signature, digest, pad, algorithm)
    except InvalidSignature:
        return False
    return True


def ecdsa_sign_digest(key: ec.EllipticCurvePrivateKey, scheme: SignatureScheme, digest: bytes) -> bytes:
    """Sign a digest and return the JWS form: r || s, each left-padded to the curve's coordinate length."""
    assert scheme.digest is not None
    assert scheme.curve is not None
    der = key.sign(digest, ec.ECDSA(utils.Prehashed(scheme.digest)))
    r, s = utils.decode_dss_signature(der)
    width = coordinate_bytes(scheme.curve)
    return r.to_bytes(width, "big") + s.to_bytes(width, "big")


def ecdsa_verify_digest(
    key: ec.EllipticCurvePublicKey, scheme: SignatureScheme, digest: bytes, signature: bytes
) -> bool:
    assert scheme.digest is not None
    assert scheme.curve is not None
    width = coordinate_bytes(scheme.curve)
    r = int.from_bytes(signature[:width], "big")
    s = int.from_bytes(signature[width:], "big")
    try:
        key.verify(utils.encode_dss_signature(r, s), digest, ec.ECDSA(utils.Prehashed(scheme.digest)))
    except InvalidSignature:
        return False
    return True


def hmac_sign(secret: bytes, scheme: SignatureScheme, data: bytes) -> bytes:
    assert scheme.digest is not None
    return hmac.digest(secret, data, scheme.digest.name)


def hmac_verify(secret: bytes, scheme: SignatureScheme, data: bytes, signature: bytes) -> bool:
    return hmac.compare_digest(hmac_sign(secret, scheme, data), signature)


# ------------------------------------------------------------------------------------------------------------ AES

AesMode = Literal["GCM", "CBC", "CBCPAD", "KW", "KWP"]


@dataclass(frozen=True)
class AesAlgorithm:
    """An AES algorithm; ``key_bits`` None means any AES key size (the PKCS#11-named key wraps)."""

    name: str
    mode: AesMode
    key_bits: int | None


AES_ALGORITHMS: dict[str, AesAlgorithm] = {
    **{f"A{bits}GCM": AesAlgorithm(f"A{bits}GCM", "GCM", bits) for bits in (128, 192, 256)},
    **{f"A{bits}CBC": AesAlgorithm(f"A{bits}CBC", "CBC", bits) for bits in (128, 192, 256)},
    **{f"A{bits}CBCPAD": AesAlgorithm(f"A{bits}CBCPAD", "CBCPAD", bits) for bits in (128, 192, 256)},
    **{f"A{bits}KW": AesAlgorithm(f"A{bits}KW", "KW", bits) for bits in (128, 192, 256)},
    "CKM_AES_KEY_WRAP": AesAlgorithm("CKM_AES_KEY_WRAP", "KW", None),
    "CKM_AES_KEY_WRAP_PAD": AesAlgorithm("CKM_AES_KEY_WRAP_PAD", "KWP", None),
}


def aes_gcm_encrypt(key: bytes, iv: bytes, plaintext: bytes, aad: bytes | None) -> tuple[bytes, bytes]:
    """Return (ciphertext, tag)."""
    sealed = AESGCM(key).encrypt(iv, plaintext, aad)
    return sealed[:-GCM_TAG_BYTES], sealed[-GCM_TAG_BYTES:]


def aes_gcm_decrypt(key: bytes, iv: bytes, ciphertext: bytes, tag: bytes, aad: bytes | None) -> bytes:
    return AESGCM(key).decrypt(iv, ciphertext + tag, aad)


def aes_cbc_encrypt(key: bytes, iv: bytes, plaintext: bytes, pkcs7: bool) -> bytes:
    if pkcs7:
        padder = symmetric_padding.PKCS7(AES_BLOCK_BYTES * 8).padder()
        plaintext = padder.update(plaintext) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return encryptor.update(plaintext) + encryptor.finalize()


def aes_cbc_decrypt(key: bytes, iv: bytes, ciphertext: bytes, pkcs7: bool) -> bytes:
    """Raises ValueError when the PKCS#7 padding is invalid."""
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    plaintext = decryptor.update(ciphertext) + decryptor.finalize()
    if pkcs7:
        unpadder = symmetric_padding.PKCS7(AES_BLOCK_BYTES * 8).unpadder()
        plaintext = unpadder.update(plaintext) + unpadder.finalize()
    return plaintext


def aes_key_wrap(key: bytes, mode: AesMode, key_to_wrap: bytes) -> bytes:
    if mode == "KWP":
        return keywrap.aes_key_wrap_with_padding(key, key_to_wrap)
    return keywrap.aes_key_wrap(key, key_to_wrap)


def aes_key_unwrap(key: bytes, mode: AesMode, wrapped: bytes) -> bytes:
    """Raises ``keywrap.InvalidUnwrap`` when the integrity check fails."""
    if mode == "KWP":
        return keywrap.aes_key_unwrap_with_padding(key, wrapped)
    return keywrap.aes_key_unwrap(key, wrapped)
