"""RSA encrypt/decrypt/wrap/unwrap/sign/verify through the recipe layer, checked against plain ``cryptography``."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, utils

from hsm_emulator.crypto import operations
from hsm_emulator.crypto.errors import CryptoError
from hsm_emulator.crypto.material import EcKey, OctKey, RsaKey

OAEP = {
    "RSA-OAEP": padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None),
    "RSA-OAEP-256": padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None),
    "RSA1_5": padding.PKCS1v15(),
}
# k - 2*hLen - 2 for OAEP, k - 11 for PKCS#1 v1.5, with k = 256 bytes (2048 bits)
LIMITS = {"RSA-OAEP": 256 - 40 - 2, "RSA-OAEP-256": 256 - 64 - 2, "RSA1_5": 256 - 11}
HASHES = {256: hashes.SHA256(), 384: hashes.SHA384(), 512: hashes.SHA512()}


@pytest.mark.parametrize("alg", sorted(OAEP))
def test_locally_encrypted_data_decrypts_in_the_hsm(rsa_key: RsaKey, alg: str) -> None:
    ciphertext = rsa_key.private_key.public_key().encrypt(b"secret", OAEP[alg])
    assert operations.decrypt(rsa_key, alg, ciphertext) == b"secret"


@pytest.mark.parametrize("alg", sorted(OAEP))
def test_hsm_encryption_decrypts_locally(rsa_key: RsaKey, alg: str) -> None:
    result = operations.encrypt(rsa_key, alg, b"secret")
    assert (result.iv, result.tag, result.aad) == (None, None, None)
    assert rsa_key.private_key.decrypt(result.ciphertext, OAEP[alg]) == b"secret"


@pytest.mark.parametrize("alg", sorted(OAEP))
def test_wrap_and_unwrap_round_trip(rsa_key: RsaKey, alg: str) -> None:
    cek = bytes(range(32))
    wrapped = operations.wrap_key(rsa_key, alg, cek)
    assert rsa_key.private_key.decrypt(wrapped, OAEP[alg]) == cek
    assert operations.unwrap_key(rsa_key, alg, wrapped) == cek


@pytest.mark.parametrize("alg", sorted(OAEP))
def test_plaintext_limit_is_exact(rsa_key: RsaKey, alg: str) -> None:
    largest = b"x" * LIMITS[alg]
    assert operations.decrypt(rsa_key, alg, operations.encrypt(rsa_key, alg, largest).ciphertext) == largest
    with pytest.raises(CryptoError, match=rf"too long for {alg}.*{LIMITS[alg] + 1} bytes, at most {LIMITS[alg]}") as e:
        operations.encrypt(rsa_key, alg, largest + b"x")
    assert e.value.code == "BadParameter"
    with pytest.raises(CryptoError, match="key to wrap is too long"):
        operations.wrap_key(rsa_key, alg, largest + b"x")


def test_ciphertext_of_another_key_is_a_bad_parameter(rsa_key: RsaKey, other_rsa_key: RsaKey) -> None:
    ciphertext = operations.encrypt(other_rsa_key, "RSA-OAEP-256", b"secret").ciphertext
    with pytest.raises(CryptoError, match="decryption failed") as e:
        operations.decrypt(rsa_key, "RSA-OAEP-256", ciphertext)
    assert e.value.code == "BadParameter"


def test_ciphertext_of_wrong_length_is_rejected(rsa_key: RsaKey) -> None:
    with pytest.raises(CryptoError, match="must be 256 bytes; got 255"):
        operations.decrypt(rsa_key, "RSA-OAEP", b"\x01" * 255)


@pytest.mark.parametrize("parameter", ["iv", "aad"])
def test_aes_parameters_with_rsa_are_rejected(rsa_key: RsaKey, parameter: str) -> None:
    with pytest.raises(CryptoError, match=f"The {parameter} parameter is not used by RSA-OAEP-256"):
        operations.encrypt(rsa_key, "RSA-OAEP-256", b"x", **{parameter: b"\x00" * 12})


@pytest.mark.parametrize("alg", ["A256GCM", "A128CBC", "ES256", "none", ""])
def test_algorithms_that_are_not_rsa_encryption_are_rejected(rsa_key: RsaKey, alg: str) -> None:
    with pytest.raises(CryptoError) as e:
        operations.encrypt(rsa_key, alg, b"x")
    assert e.value.code == "BadParameter"
    assert alg in e.value.message or "Invalid algorithm" in e.value.message


def test_key_wrap_algorithm_is_not_an_encryption_algorithm(rsa_key: RsaKey) -> None:
    with pytest.raises(CryptoError, match="Invalid algorithm for the encrypt operation: 'A256KW'"):
        operations.encrypt(rsa_key, "A256KW", b"x" * 32)
    with pytest.raises(CryptoError, match="Invalid algorithm for the wrapKey operation: 'A256GCM'"):
        operations.wrap_key(rsa_key, "A256GCM", b"x" * 32)


@pytest.mark.parametrize("bits", [256, 384, 512])
def test_pkcs1_signatures_verify_locally(rsa_key: RsaKey, bits: int) -> None:
    digest = hashlib.new(f"sha{bits}", b"message").digest()
    signature = operations.sign(rsa_key, f"RS{bits}", digest)
    rsa_key.private_key.public_key().verify(
        signature, b"message", padding.PKCS1v15(), HASHES[bits]
    )  # raises InvalidSignature if wrong
    assert operations.verify(rsa_key, f"RS{bits}", digest, signature)


@pytest.mark.parametrize("bits", [256, 384, 512])
def test_pss_signatures_use_digest_length_salt(rsa_key: RsaKey, bits: int) -> None:
    digest = hashlib.new(f"sha{bits}", b"message").digest()
    signature = operations.sign(rsa_key, f"PS{bits}", digest)
    public = rsa_key.private_key.public_key()
    exact_salt = padding.PSS(mgf=padding.MGF1(HASHES[bits]), salt_length=HASHES[bits].digest_size)
    public.verify(signature, b"message", exact_salt, HASHES[bits])
    longer_salt = padding.PSS(mgf=padding.MGF1(HASHES[bits]), salt_length=HASHES[bits].digest_size + 1)
    with pytest.raises(InvalidSignature):
        public.verify(signature, b"message", longer_salt, HASHES[bits])
    assert operations.verify(rsa_key, f"PS{bits}", digest, signature)


@pytest.mark.parametrize("alg", ["RS256", "PS256", "RSNULL"])
def test_locally_made_signatures_verify_in_the_hsm(rsa_key: RsaKey, alg: str) -> None:
    digest = hashlib.sha256(b"message").digest()
    if alg == "RSNULL":
        signature = rsa_key.private_key.sign(digest, padding.PKCS1v15(), utils.NoDigestInfo())
    elif alg == "PS256":
        pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
        signature = rsa_key.private_key.sign(digest, pss, utils.Prehashed(hashes.SHA256()))
    else:
        signature = rsa_key.private_key.sign(digest, padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))
    assert operations.verify(rsa_key, alg, digest, signature)
    assert not operations.verify(rsa_key, alg, hashlib.sha256(b"other").digest(), signature)


def test_tampered_signature_does_not_verify(rsa_key: RsaKey) -> None:
    digest = hashlib.sha256(b"message").digest()
    signature = bytearray(operations.sign(rsa_key, "RS256", digest))
    signature[10] ^= 1
    assert not operations.verify(rsa_key, "RS256", digest, bytes(signature))


def test_signature_of_another_key_does_not_verify(rsa_key: RsaKey, other_rsa_key: RsaKey) -> None:
    digest = hashlib.sha256(b"message").digest()
    assert not operations.verify(rsa_key, "PS256", digest, operations.sign(other_rsa_key, "PS256", digest))


def test_rsnull_signs_any_digest_up_to_k_minus_11(rsa_key: RsaKey) -> None:
    for digest in (b"\x01", hashlib.sha1(b"m").digest(), b"d" * 245):
        signature = operations.sign(rsa_key, "RSNULL", digest)
        recovered = rsa_key.private_key.public_key().recover_data_from_signature(signature, padding.PKCS1v15(), None)
        assert recovered == digest
        assert operations.verify(rsa_key, "RSNULL", digest, signature)
    with pytest.raises(CryptoError, match="RSNULL with a 2048-bit key: 246 bytes; 1 to 245 allowed"):
        operations.sign(rsa_key, "RSNULL", b"d" * 246)
    with pytest.raises(CryptoError, match="0 bytes"):
        operations.sign(rsa_key, "RSNULL", b"")


@pytest.mark.parametrize(("alg", "good"), [("RS256", 32), ("RS384", 48), ("RS512", 64), ("PS256", 32), ("PS512", 64)])
@pytest.mark.parametrize("delta", [-1, 1])
def test_wrong_digest_length_is_rejected(rsa_key: RsaKey, alg: str, good: int, delta: int) -> None:
    with pytest.raises(CryptoError, match=f"Invalid digest length for {alg}: {good + delta} bytes") as e:
        operations.sign(rsa_key, alg, b"d" * (good + delta))
    assert e.value.code == "BadParameter"
    with pytest.raises(CryptoError, match="Invalid digest length"):
        operations.verify(rsa_key, alg, b"d" * (good + delta), b"s" * 256)


def test_signature_of_wrong_length_is_rejected(rsa_key: RsaKey) -> None:
    with pytest.raises(CryptoError, match="is 256 bytes; got 255"):
        operations.verify(rsa_key, "RS256", b"d" * 32, b"s" * 255)


@pytest.mark.parametrize("alg", ["ES256", "HS256", "RS1", "EdDSA"])
def test_signature_algorithms_of_other_key_types_are_rejected(rsa_key: RsaKey, alg: str) -> None:
    with pytest.raises(CryptoError) as e:
        operations.sign(rsa_key, alg, b"d" * 32)
    assert e.value.code == "BadParameter"
    assert alg in e.value.message


def test_rsa_algorithms_on_other_key_types_are_rejected(ec_keys: dict[str, EcKey], oct_keys: dict[int, OctKey]) -> None:
    with pytest.raises(CryptoError, match="Algorithm RSA-OAEP-256 is not supported for a key of type EC-HSM"):
        operations.encrypt(ec_keys["P-256"], "RSA-OAEP-256", b"x")
    with pytest.raises(CryptoError, match="Algorithm RSA-OAEP is not supported for a key of type oct-HSM"):
        operations.unwrap_key(oct_keys[256], "RSA-OAEP", b"x" * 256)
    with pytest.raises(CryptoError, match="Algorithm RS256 is not supported for a key of type EC-HSM"):
        operations.sign(ec_keys["P-256"], "RS256", b"d" * 32)


@pytest.mark.parametrize("count", [1, 64, 128])
def test_random_bytes(count: int) -> None:
    first, second = operations.random_bytes(count), operations.random_bytes(count)
    assert len(first) == count
    if count >= 64:
        assert first != second


@pytest.mark.parametrize("count", [0, 129, -1, True, 1.5, "8"])
def test_random_bytes_count_out_of_range(count: object) -> None:
    with pytest.raises(CryptoError, match="count must be an integer from 1 to 128"):
        operations.random_bytes(count)  # type: ignore[arg-type]
