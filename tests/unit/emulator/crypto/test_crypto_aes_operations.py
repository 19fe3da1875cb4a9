"""AES-GCM, AES-CBC(PAD), AES key wrap (RFC 3394 / RFC 5649 vectors) and HMAC on oct-HSM keys."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from hsm_emulator.crypto import operations
from hsm_emulator.crypto.errors import CryptoError
from hsm_emulator.crypto.material import OctKey, RsaKey

SIZES = (128, 192, 256)

# RFC 3394 §4.1-4.6: (KEK, key data, wrapped)
RFC3394_VECTORS = [
    (
        "000102030405060708090A0B0C0D0E0F",
        "00112233445566778899AABBCCDDEEFF",
        "1FA68B0A8112B447AEF34BD8FB5A7B829D3E862371D2CFE5",
    ),
    (
        "000102030405060708090A0B0C0D0E0F1011121314151617",
        "00112233445566778899AABBCCDDEEFF",
        "96778B25AE6CA435F92B5B97C050AED2468AB8A17AD84E5D",
    ),
    (
        "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F",
        "00112233445566778899AABBCCDDEEFF",
        "64E8C3F9CE0F5BA263E9777905818A2A93C8191E7D6E8AE7",
    ),
    (
        "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F",
        "00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F",
        "28C9F404C4B810F4CBCCB35CFB87F8263F5786E2D80ED326CBC7F0E71A99F43BFB988B9B7A02DD21",
    ),
]
# RFC 5649 §6
RFC5649_VECTORS = [
    (
        "5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8",
        "c37b7e6492584340bed12207808941155068f738",
        "138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a",
    ),
    ("5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8", "466f7250617369", "afbeb0f07dfbf5419200f2ccb50bb24f"),
]
# NIST SP 800-38A F.2.1 (CBC-AES128, first block)
CBC_VECTOR = (
    "2b7e151628aed2a6abf7158809cf4f3c",
    "000102030405060708090a0b0c0d0e0f",
    "6bc1bee22e409f96e93d7e117393172a",
    "7649abac8119b246cee98e9b12e9197d",
)


def _oct(hex_key: str) -> OctKey:
    return OctKey(bytes.fromhex(hex_key))


@pytest.mark.parametrize(("kek", "data", "wrapped"), RFC3394_VECTORS)
def test_rfc3394_vectors(kek: str, data: str, wrapped: str) -> None:
    key = _oct(kek)
    alg = f"A{len(kek) * 4}KW"
    for name in (alg, "CKM_AES_KEY_WRAP"):
        assert operations.wrap_key(key, name, bytes.fromhex(data)) == bytes.fromhex(wrapped)
        assert operations.unwrap_key(key, name, bytes.fromhex(wrapped)) == bytes.fromhex(data)


@pytest.mark.parametrize(("kek", "data", "wrapped"), RFC5649_VECTORS)
def test_rfc5649_vectors(kek: str, data: str, wrapped: str) -> None:
    key = _oct(kek)
    assert operations.wrap_key(key, "CKM_AES_KEY_WRAP_PAD", bytes.fromhex(data)) == bytes.fromhex(wrapped)
    assert operations.unwrap_key(key, "CKM_AES_KEY_WRAP_PAD", bytes.fromhex(wrapped)) == bytes.fromhex(data)


def test_tampered_wrapped_key_fails_integrity_check(oct_keys: dict[int, OctKey]) -> None:
    wrapped = bytearray(operations.wrap_key(oct_keys[256], "A256KW", b"k" * 32))
    wrapped[5] ^= 1
    with pytest.raises(CryptoError, match="A256KW unwrap failed: the integrity check did not pass") as e:
        operations.unwrap_key(oct_keys[256], "A256KW", bytes(wrapped))
    assert e.value.code == "BadParameter"


@pytest.mark.parametrize("length", [0, 8, 15, 17, 20])
def test_rfc3394_needs_16_plus_bytes_in_multiples_of_8(oct_keys: dict[int, OctKey], length: int) -> None:
    with pytest.raises(CryptoError, match=f"at least 16 bytes in multiples of 8; got {length} bytes"):
        operations.wrap_key(oct_keys[128], "A128KW", b"k" * length)


def test_padded_wrap_needs_at_least_one_byte(oct_keys: dict[int, OctKey]) -> None:
    with pytest.raises(CryptoError, match="at least one byte"):
        operations.wrap_key(oct_keys[128], "CKM_AES_KEY_WRAP_PAD", b"")


@pytest.mark.parametrize("length", [8, 16, 25])
def test_unwrap_rejects_impossible_lengths(oct_keys: dict[int, OctKey], length: int) -> None:
    with pytest.raises(CryptoError, match="is at least 24 bytes long in multiples of 8"):
        operations.unwrap_key(oct_keys[128], "A128KW", b"w" * length)


@pytest.mark.parametrize("size", SIZES)
def test_gcm_generates_iv_and_tag_and_interoperates(oct_keys: dict[int, OctKey], size: int) -> None:
    key, alg = oct_keys[size], f"A{size}GCM"
    result = operations.encrypt(key, alg, b"plaintext", aad=b"header")
    assert result.iv is not None
    assert result.tag is not None
    assert (len(result.iv), len(result.tag), result.aad) == (12, 16, b"header")
    assert AESGCM(key.secret).decrypt(result.iv, result.ciphertext + result.tag, b"header") == b"plaintext"
    assert operations.decrypt(key, alg, result.ciphertext, iv=result.iv, tag=result.tag, aad=b"header") == b"plaintext"
    assert operations.encrypt(key, alg, b"plaintext").iv != result.iv  # a fresh iv every time


def test_gcm_without_aad(oct_keys: dict[int, OctKey]) -> None:
    result = operations.encrypt(oct_keys[256], "A256GCM", b"")
    assert result.aad is None
    assert operations.decrypt(oct_keys[256], "A256GCM", result.ciphertext, iv=result.iv, tag=result.tag) == b""


@pytest.mark.parametrize("what", ["tag", "iv", "aad", "ciphertext"])
def test_gcm_detects_any_change(oct_keys: dict[int, OctKey], what: str) -> None:
    result = operations.encrypt(oct_keys[256], "A256GCM", b"plaintext", aad=b"header")
    parts = {"ciphertext": result.ciphertext, "iv": result.iv, "tag": result.tag, "aad": result.aad}
    changed = bytearray(parts[what] or b"")
    changed[0] ^= 1
    parts[what] = bytes(changed)
    with pytest.raises(CryptoError, match="A256GCM decryption failed: the authentication tag does not match"):
        operations.decrypt(
            oct_keys[256], "A256GCM", parts["ciphertext"] or b"", iv=parts["iv"], tag=parts["tag"], aad=parts["aad"]
        )


@pytest.mark.parametrize(
    ("iv", "tag", "message"),
    [
        (None, b"t" * 16, "12-byte iv"),
        (b"i" * 16, b"t" * 16, "got 16 bytes"),
        (b"i" * 12, None, "16-byte tag"),
        (b"i" * 12, b"t" * 12, "got 12 bytes"),
    ],
)
def test_gcm_decrypt_needs_iv_and_tag(
    oct_keys: dict[int, OctKey], iv: bytes | None, tag: bytes | None, message: str
) -> None:
    with pytest.raises(CryptoError, match=message):
        operations.decrypt(oct_keys[256], "A256GCM", b"c" * 16, iv=iv, tag=tag)


def test_gcm_encrypt_refuses_a_client_iv(oct_keys: dict[int, OctKey]) -> None:
    with pytest.raises(CryptoError, match="the HSM generates it"):
        operations.encrypt(oct_keys[256], "A256GCM", b"x", iv=b"i" * 12)


def test_cbc_nist_vector() -> None:
    key, iv, plaintext, ciphertext = (bytes.fromhex(value) for value in CBC_VECTOR)
    result = operations.encrypt(OctKey(key), "A128CBC", plaintext, iv=iv)
    assert (result.ciphertext, result.iv, result.tag) == (ciphertext, iv, None)
    assert operations.decrypt(OctKey(key), "A128CBC", ciphertext, iv=iv) == plaintext


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("length", [0, 1, 15, 16, 17, 100])
def test_cbcpad_round_trips_any_length(oct_keys: dict[int, OctKey], size: int, length: int) -> None:
    alg, iv = f"A{size}CBCPAD", b"\x07" * 16
    result = operations.encrypt(oct_keys[size], alg, b"p" * length, iv=iv)
    assert len(result.ciphertext) == (length // 16 + 1) * 16
    assert operations.decrypt(oct_keys[size], alg, result.ciphertext, iv=iv) == b"p" * length


@pytest.mark.parametrize("length", [0, 1, 15, 17])
def test_cbc_without_padding_needs_whole_blocks(oct_keys: dict[int, OctKey], length: int) -> None:
    with pytest.raises(CryptoError, match=rf"plaintext length \({length} bytes\) must be a non-zero multiple of 16"):
        operations.encrypt(oct_keys[128], "A128CBC", b"p" * length, iv=b"\x00" * 16)
    with pytest.raises(CryptoError, match="must be a non-zero multiple of 16"):
        operations.decrypt(oct_keys[128], "A128CBC", b"c" * length, iv=b"\x00" * 16)


@pytest.mark.parametrize("iv", [None, b"i" * 12, b"i" * 17])
def test_cbc_needs_a_16_byte_client_iv(oct_keys: dict[int, OctKey], iv: bytes | None) -> None:
    with pytest.raises(CryptoError, match="A256CBCPAD needs a 16-byte iv supplied by the client") as e:
        operations.encrypt(oct_keys[256], "A256CBCPAD", b"p", iv=iv)
    assert e.value.code == "BadParameter"


def test_cbc_takes_no_aad(oct_keys: dict[int, OctKey]) -> None:
    with pytest.raises(CryptoError, match="takes no aad or tag"):
        operations.encrypt(oct_keys[256], "A256CBC", b"p" * 16, iv=b"i" * 16, aad=b"a")


def test_cbcpad_with_broken_padding_is_reported(oct_keys: dict[int, OctKey]) -> None:
    ciphertext = operations.encrypt(oct_keys[128], "A128CBCPAD", b"p" * 5, iv=b"i" * 16).ciphertext
    # Flipping the iv's last bit turns the final padding byte 0x0b into 0x0a: the padding no longer checks out.
    changed_iv = b"i" * 15 + bytes([ord("i") ^ 1])
    with pytest.raises(CryptoError, match="A128CBCPAD decryption failed: invalid padding"):
        operations.decrypt(oct_keys[128], "A128CBCPAD", ciphertext, iv=changed_iv)


@pytest.mark.parametrize(
    ("size", "alg"), [(128, "A256GCM"), (256, "A128GCM"), (192, "A256CBC"), (128, "A192CBCPAD"), (256, "A128KW")]
)
def test_key_size_must_match_the_algorithm(oct_keys: dict[int, OctKey], size: int, alg: str) -> None:
    call = operations.wrap_key if alg.endswith("KW") else operations.encrypt
    with pytest.raises(CryptoError, match=f"Algorithm {alg} needs a {alg[1:4]}-bit key; this key has {size} bits"):
        call(oct_keys[size], alg, b"k" * 16)


@pytest.mark.parametrize("size", SIZES)
def test_pkcs11_key_wrap_accepts_any_aes_size(oct_keys: dict[int, OctKey], size: int) -> None:
    for alg in ("CKM_AES_KEY_WRAP", "CKM_AES_KEY_WRAP_PAD"):
        wrapped = operations.wrap_key(oct_keys[size], alg, b"k" * 24)
        assert operations.unwrap_key(oct_keys[size], alg, wrapped) == b"k" * 24


def test_aes_algorithms_need_an_oct_key(rsa_key: RsaKey) -> None:
    with pytest.raises(CryptoError, match="Algorithm A128KW is not supported for a key of type RSA-HSM"):
        operations.wrap_key(rsa_key, "A128KW", b"k" * 16)


@pytest.mark.parametrize("bits", [256, 384, 512])
def test_hmac_sign_and_verify(oct_keys: dict[int, OctKey], bits: int) -> None:
    key = oct_keys[256]
    mac = operations.sign(key, f"HS{bits}", b"any data at all")
    assert mac == hmac.digest(key.secret, b"any data at all", getattr(hashlib, f"sha{bits}"))
    assert operations.verify(key, f"HS{bits}", b"any data at all", mac)
    assert not operations.verify(key, f"HS{bits}", b"other data", mac)


@pytest.mark.parametrize("alg", ["ES256", "RS256", "PS256"])
def test_asymmetric_signatures_need_asymmetric_keys(oct_keys: dict[int, OctKey], alg: str) -> None:
    with pytest.raises(CryptoError, match=f"Algorithm {alg} is not supported for a key of type oct-HSM"):
        operations.sign(oct_keys[256], alg, b"d" * 32)
