"""ECDSA over digests in JWS form (raw r || s), checked against plain ``cryptography``."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, utils

from hsm_emulator.crypto import operations
from hsm_emulator.crypto.errors import CryptoError
from hsm_emulator.crypto.material import EcKey

# alg, curve, hash, signature length (2 * coordinate length)
CASES = [
    ("ES256", "P-256", hashes.SHA256(), 64),
    ("ES256K", "P-256K", hashes.SHA256(), 64),
    ("ES384", "P-384", hashes.SHA384(), 96),
    ("ES512", "P-521", hashes.SHA512(), 132),
]


def _digest(algorithm: hashes.HashAlgorithm, message: bytes) -> bytes:
    return hashlib.new(algorithm.name, message).digest()


@pytest.mark.parametrize(("alg", "curve", "algorithm", "length"), CASES)
def test_hsm_signature_is_raw_r_s_and_verifies_locally(
    ec_keys: dict[str, EcKey], alg: str, curve: str, algorithm: hashes.HashAlgorithm, length: int
) -> None:
    key = ec_keys[curve]
    signature = operations.sign(key, alg, _digest(algorithm, b"message"))
    assert len(signature) == length
    half = length // 2
    der = utils.encode_dss_signature(int.from_bytes(signature[:half], "big"), int.from_bytes(signature[half:], "big"))
    key.private_key.public_key().verify(der, b"message", ec.ECDSA(algorithm))  # raises if invalid


@pytest.mark.parametrize(("alg", "curve", "algorithm", "length"), CASES)
def test_local_signature_verifies_in_the_hsm(
    ec_keys: dict[str, EcKey], alg: str, curve: str, algorithm: hashes.HashAlgorithm, length: int
) -> None:
    key = ec_keys[curve]
    r, s = utils.decode_dss_signature(key.private_key.sign(b"message", ec.ECDSA(algorithm)))
    signature = r.to_bytes(length // 2, "big") + s.to_bytes(length // 2, "big")
    assert operations.verify(key, alg, _digest(algorithm, b"message"), signature)
    assert not operations.verify(key, alg, _digest(algorithm, b"other"), signature)
    tampered = bytes([signature[0] ^ 1]) + signature[1:]
    assert not operations.verify(key, alg, _digest(algorithm, b"message"), tampered)


@pytest.mark.parametrize(
    ("alg", "curve"), [("ES256", "P-384"), ("ES384", "P-256"), ("ES256K", "P-256"), ("ES512", "P-384")]
)
def test_curve_must_match_the_algorithm(ec_keys: dict[str, EcKey], alg: str, curve: str) -> None:
    with pytest.raises(CryptoError, match=f"Algorithm {alg} needs a key on curve .*; this key is on {curve}") as e:
        operations.sign(ec_keys[curve], alg, b"d" * 32)
    assert e.value.code == "BadParameter"


@pytest.mark.parametrize(("alg", "curve", "algorithm", "length"), CASES)
def test_wrong_digest_length_is_rejected(
    ec_keys: dict[str, EcKey], alg: str, curve: str, algorithm: hashes.HashAlgorithm, length: int
) -> None:
    wrong = algorithm.digest_size + 1
    with pytest.raises(CryptoError, match=f"Invalid digest length for {alg}: {wrong} bytes"):
        operations.sign(ec_keys[curve], alg, b"d" * wrong)


def test_signature_of_wrong_length_is_rejected(ec_keys: dict[str, EcKey]) -> None:
    with pytest.raises(CryptoError, match=r"ES256 signature is 64 bytes \(r \|\| s\); got 70"):
        operations.verify(ec_keys["P-256"], "ES256", b"d" * 32, b"s" * 70)


@pytest.mark.parametrize("alg", ["RSA-OAEP-256", "A256GCM"])
def test_ec_keys_do_not_encrypt(ec_keys: dict[str, EcKey], alg: str) -> None:
    with pytest.raises(CryptoError, match=f"Algorithm {alg} is not supported for a key of type EC-HSM"):
        operations.encrypt(ec_keys["P-256"], alg, b"x")
    with pytest.raises(CryptoError, match="is not supported for a key of type EC-HSM"):
        operations.wrap_key(ec_keys["P-256"], "A256KW", b"x" * 16)


@pytest.mark.parametrize("alg", ["RS256", "PS256", "RSNULL", "HS256"])
def test_other_signature_families_are_rejected(ec_keys: dict[str, EcKey], alg: str) -> None:
    with pytest.raises(CryptoError, match=f"Algorithm {alg} is not supported for a key of type EC-HSM"):
        operations.sign(ec_keys["P-256"], alg, b"d" * 32)
