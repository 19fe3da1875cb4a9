"""JWK export (public only), validated private import, and the storage round trip."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from hsm_emulator.crypto import jwk, keygen, operations
from hsm_emulator.crypto.errors import CryptoError
from hsm_emulator.crypto.material import EcKey, OctKey, RsaKey

PRIVATE_FIELDS = {"d", "p", "q", "dp", "dq", "qi", "k"}


def _b64(value: int, length: int | None = None) -> str:
    return jwk.b64url_encode(value.to_bytes(length or (value.bit_length() + 7) // 8, "big"))


def test_base64url_has_no_padding_and_url_alphabet() -> None:
    assert jwk.b64url_encode(b"\xfb\xff") == "-_8"
    assert jwk.b64url_decode("-_8", "f") == b"\xfb\xff"
    assert jwk.b64url_decode("-_8=", "f") == b"\xfb\xff"


@pytest.mark.parametrize("value", ["+/8", "ab$c", "a", 12, None, "abcde"])
def test_base64url_rejects_bad_input_naming_the_field(value: object) -> None:
    with pytest.raises(CryptoError, match=r"key\.n is not a valid base64url string") as e:
        jwk.b64url_decode(value, "key.n")
    assert e.value.code == "BadParameter"


def test_rsa_public_export(rsa_key: RsaKey) -> None:
    exported = jwk.public_jwk(rsa_key)
    assert set(exported) == {"kty", "n", "e"}
    numbers = rsa_key.private_key.public_key().public_numbers()
    assert exported["kty"] == "RSA-HSM"
    assert exported["e"] == "AQAB"
    assert int.from_bytes(jwk.b64url_decode(exported["n"], "n"), "big") == numbers.n
    assert "=" not in exported["n"]


@pytest.mark.parametrize(("curve", "width"), [("P-256", 32), ("P-256K", 32), ("P-384", 48), ("P-521", 66)])
def test_ec_public_export_has_fixed_width_coordinates(ec_keys: dict[str, EcKey], curve: str, width: int) -> None:
    exported = jwk.public_jwk(ec_keys[curve])
    assert set(exported) == {"kty", "crv", "x", "y"}
    assert (exported["kty"], exported["crv"]) == ("EC-HSM", curve)
    assert len(jwk.b64url_decode(exported["x"], "x")) == width
    assert len(jwk.b64url_decode(exported["y"], "y")) == width


def test_oct_public_export_shows_no_key_material(oct_keys: dict[int, OctKey]) -> None:
    assert jwk.public_jwk(oct_keys[256]) == {"kty": "oct-HSM"}


def test_private_round_trip_for_every_key_type(
    rsa_key: RsaKey, ec_keys: dict[str, EcKey], oct_keys: dict[int, OctKey]
) -> None:
    for key in (rsa_key, *ec_keys.values(), *oct_keys.values()):
        restored = jwk.deserialize_private(jwk.serialize_private(key))
        assert jwk.private_jwk(restored) == jwk.private_jwk(key)
        assert not PRIVATE_FIELDS & set(jwk.public_jwk(key))


def test_restored_key_interoperates(rsa_key: RsaKey) -> None:
    restored = jwk.import_jwk(jwk.private_jwk(rsa_key))
    ciphertext = operations.encrypt(rsa_key, "RSA-OAEP-256", b"x").ciphertext
    assert operations.decrypt(restored, "RSA-OAEP-256", ciphertext) == b"x"


def test_garbage_storage_bytes_are_an_error() -> None:
    with pytest.raises(CryptoError, match="not a JSON Web Key"):
        jwk.deserialize_private(b"\xff not json")
    with pytest.raises(CryptoError, match="not a JSON Web Key"):
        jwk.deserialize_private(b"[1, 2]")


@pytest.mark.parametrize("kty", ["RSA", "RSA-HSM"])
def test_rsa_import_with_only_n_e_d_recovers_the_primes(rsa_key: RsaKey, kty: str) -> None:
    full = jwk.private_jwk(rsa_key)
    imported = jwk.import_jwk({"kty": kty, "n": full["n"], "e": full["e"], "d": full["d"]})
    assert imported.kty == "RSA-HSM"
    assert jwk.private_jwk(imported) == full


def _rsa_jwk(rsa_key: RsaKey) -> dict[str, Any]:
    return {**jwk.private_jwk(rsa_key), "kty": "RSA", "key_ops": ["sign"]}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"d": None}, r"missing key\.d"),
        ({"n": None, "e": None}, r"missing key\.n, key\.e"),
        ({"p": None}, r"key\.p and key\.q must be given together"),
        ({"dp": "AQAB"}, r"key\.dp is inconsistent"),
        ({"qi": "AQAB"}, r"key\.qi is inconsistent"),
        ({"e": "AQAA"}, r"key\.e: 65536 is not a valid RSA public exponent"),
        ({"n": "!!"}, r"key\.n is not a valid base64url string"),
    ],
)
def test_invalid_rsa_imports_name_the_field(rsa_key: RsaKey, change: dict[str, Any], message: str) -> None:
    with pytest.raises(CryptoError, match=message) as e:
        jwk.import_jwk({**_rsa_jwk(rsa_key), **change})
    assert e.value.code == "BadParameter"


def test_rsa_primes_of_another_key_are_rejected(rsa_key: RsaKey, other_rsa_key: RsaKey) -> None:
    other = jwk.private_jwk(other_rsa_key)
    with pytest.raises(CryptoError, match=r"key\.p and key\.q are inconsistent: p \* q does not equal n"):
        jwk.import_jwk({**_rsa_jwk(rsa_key), "p": other["p"], "q": other["q"]})


def test_rsa_private_exponent_of_another_key_is_rejected(rsa_key: RsaKey, other_rsa_key: RsaKey) -> None:
    with pytest.raises(CryptoError, match=r"key\.d is inconsistent"):
        jwk.import_jwk({**_rsa_jwk(rsa_key), "d": jwk.private_jwk(other_rsa_key)["d"]})


def test_rsa_import_of_unsupported_size_is_rejected() -> None:
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(CryptoError, match=r"key\.n: RSA key size 1024 is not supported") as e:
        jwk.import_jwk(jwk.private_jwk(RsaKey(small)))
    assert e.value.inner_code == "KeySizeNotSupported"


def test_ec_import_round_trip_and_interop(ec_keys: dict[str, EcKey]) -> None:
    for curve, key in ec_keys.items():
        imported = jwk.import_jwk({**jwk.private_jwk(key), "kty": "EC"})
        assert isinstance(imported, EcKey)
        assert imported.curve == curve
        assert jwk.public_jwk(imported) == jwk.public_jwk(key)


@pytest.mark.parametrize("crv", ["P-192", "secp256k1", "Ed25519", None])
def test_ec_import_rejects_unsupported_curves(ec_keys: dict[str, EcKey], crv: str | None) -> None:
    with pytest.raises(CryptoError, match=r"key\.crv: invalid curve") as e:
        jwk.import_jwk({**jwk.private_jwk(ec_keys["P-256"]), "crv": crv})
    assert e.value.inner_code == "CurveNotSupported"


def test_ec_import_rejects_coordinates_of_wrong_size(ec_keys: dict[str, EcKey]) -> None:
    p256 = jwk.private_jwk(ec_keys["P-256"])
    with pytest.raises(CryptoError, match=r"key\.x must be 48 bytes for curve P-384; got 32"):
        jwk.import_jwk({**p256, "crv": "P-384"})


def test_ec_import_rejects_a_point_that_does_not_match_d(ec_keys: dict[str, EcKey]) -> None:
    p256 = jwk.private_jwk(ec_keys["P-256"])
    other = ec.generate_private_key(ec.SECP256R1()).public_key().public_numbers()
    with pytest.raises(CryptoError, match=r"key\.x and key\.y do not match the public point of key\.d on P-256"):
        jwk.import_jwk({**p256, "x": _b64(other.x, 32), "y": _b64(other.y, 32)})


def test_ec_import_rejects_d_out_of_range(ec_keys: dict[str, EcKey]) -> None:
    p256 = jwk.private_jwk(ec_keys["P-256"])
    with pytest.raises(CryptoError, match=r"key\.d is not a valid private key on curve P-256"):
        jwk.import_jwk({**p256, "d": jwk.b64url_encode(b"\xff" * 32)})


@pytest.mark.parametrize("size", [128, 192, 256])
def test_oct_import(size: int) -> None:
    imported = jwk.import_jwk({"kty": "oct-HSM", "k": jwk.b64url_encode(b"k" * (size // 8))})
    assert isinstance(imported, OctKey)
    assert imported.size == size


@pytest.mark.parametrize("length", [0, 8, 20, 64])
def test_oct_import_rejects_other_sizes(length: int) -> None:
    with pytest.raises(CryptoError, match=r"key\.k"):
        jwk.import_jwk({"kty": "oct", "k": base64.urlsafe_b64encode(b"k" * length).decode()})


@pytest.mark.parametrize("kty", ["OKP", "rsa", None, 3])
def test_unknown_key_types_are_rejected(kty: object) -> None:
    with pytest.raises(CryptoError, match=r"key\.kty: invalid key type") as e:
        jwk.import_jwk({"kty": kty})
    assert e.value.inner_code == "KeyTypeNotSupported"


def test_byok_blobs_are_refused_clearly() -> None:
    with pytest.raises(CryptoError, match=r"key\.key_hsm: bring-your-own-key"):
        jwk.import_jwk({"kty": "RSA-HSM", "key_hsm": "abc"})


def test_not_a_mapping_is_rejected() -> None:
    with pytest.raises(CryptoError, match="must be a JSON Web Key object"):
        jwk.import_jwk(["kty"])  # type: ignore[arg-type]


def test_generated_keys_export_like_imported_ones() -> None:
    key = keygen.generate_ec("P-384")
    assert jwk.public_jwk(jwk.import_jwk(jwk.private_jwk(key))) == jwk.public_jwk(key)
