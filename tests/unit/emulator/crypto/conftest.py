"""Key fixtures shared by the crypto tests: generated once per session, RSA at 2048 bits for speed."""

from __future__ import annotations

import pytest

from hsm_emulator.crypto import keygen
from hsm_emulator.crypto.material import EcKey, OctKey, RsaKey


@pytest.fixture(scope="session")
def rsa_key() -> RsaKey:
    return keygen.generate_rsa(2048)


@pytest.fixture(scope="session")
def other_rsa_key() -> RsaKey:
    return keygen.generate_rsa(2048)


@pytest.fixture(scope="session")
def ec_keys() -> dict[str, EcKey]:
    return {curve: keygen.generate_ec(curve) for curve in ("P-256", "P-256K", "P-384", "P-521")}


@pytest.fixture(scope="session")
def oct_keys() -> dict[int, OctKey]:
    return {size: keygen.generate_oct(size) for size in (128, 192, 256)}
