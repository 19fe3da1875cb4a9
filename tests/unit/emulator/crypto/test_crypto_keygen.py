"""Key generation: the sizes, curves and exponents Managed HSM allows, and clear errors for the rest."""

from __future__ import annotations

import pytest

from hsm_emulator.crypto import keygen
from hsm_emulator.crypto.errors import CryptoError
from hsm_emulator.crypto.material import EcKey, OctKey, RsaKey


@pytest.mark.parametrize("kty", ["RSA", "RSA-HSM"])
def test_rsa_defaults(kty: str) -> None:
    key = keygen.generate_key(kty)
    assert isinstance(key, RsaKey)
    assert (key.kty, key.size, key.private_key.public_key().public_numbers().e) == ("RSA-HSM", 2048, 65537)


def test_rsa_public_exponent_3() -> None:
    key = keygen.generate_key("RSA-HSM", public_exponent=3)
    assert isinstance(key, RsaKey)
    assert key.private_key.public_key().public_numbers().e == 3


@pytest.mark.parametrize("size", [3072, 4096])
def test_larger_rsa_sizes(size: int) -> None:
    assert keygen.generate_rsa(size).size == size


@pytest.mark.parametrize(("curve", "bits"), [("P-256", 256), ("P-256K", 256), ("P-384", 384), ("P-521", 521)])
def test_every_curve(curve: str, bits: int) -> None:
    key = keygen.generate_key("EC-HSM", curve=curve)
    assert isinstance(key, EcKey)
    assert (key.kty, key.curve, key.size) == ("EC-HSM", curve, bits)


def test_ec_default_curve() -> None:
    key = keygen.generate_key("EC")
    assert isinstance(key, EcKey)
    assert key.curve == "P-256"


@pytest.mark.parametrize("size", [128, 192, 256])
def test_oct_sizes(size: int) -> None:
    key = keygen.generate_key("oct-HSM", size=size)
    assert isinstance(key, OctKey)
    assert (key.kty, key.size, len(key.secret)) == ("oct-HSM", size, size // 8)
    assert "secret" not in repr(key)


def test_oct_keys_are_random() -> None:
    assert keygen.generate_oct().secret != keygen.generate_oct().secret


@pytest.mark.parametrize(
    ("kty", "kwargs", "message"),
    [
        ("RSA-HSM", {"size": 1024}, "Invalid key_size 1024 for RSA-HSM"),
        ("RSA-HSM", {"size": 2049}, "Invalid key_size 2049 for RSA-HSM"),
        ("RSA-HSM", {"public_exponent": 17}, "Invalid public_exponent 17"),
        ("RSA-HSM", {"curve": "P-256"}, "crv is only valid for EC keys"),
        ("EC-HSM", {"curve": "P-192"}, "Invalid curve 'P-192' for EC-HSM"),
        ("EC-HSM", {"size": 256}, "key_size is not valid for EC keys"),
        ("EC-HSM", {"public_exponent": 3}, "public_exponent is only valid for RSA keys"),
        ("oct-HSM", {"size": 512}, "Invalid key_size 512 for oct-HSM"),
        ("oct-HSM", {"curve": "P-256"}, "crv is only valid for EC keys"),
        ("OKP", {}, "Invalid kty value: OKP"),
    ],
)
def test_invalid_parameters(kty: str, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(CryptoError, match=message) as e:
        keygen.generate_key(kty, **kwargs)  # type: ignore[arg-type]
    assert e.value.code == "BadParameter"
