"""Certificate holders and transfer keys for the security-domain tests (RSA 2048, generated once per session)."""

from __future__ import annotations

import pytest

from hsm_emulator.securitydomain import TransferKey, create_transfer_key
from tests.unit.emulator.securitydomain.officers import Holder, make_holder


@pytest.fixture(scope="session")
def holders() -> list[Holder]:
    """Five officers; tests use the first three or all five."""
    return [make_holder(f"sd-officer-{index}") for index in range(5)]


@pytest.fixture(scope="session")
def outsider() -> Holder:
    return make_holder("not-an-officer")


@pytest.fixture(scope="session")
def transfer_key() -> TransferKey:
    return create_transfer_key(key_bits=2048)


@pytest.fixture(scope="session")
def other_transfer_key() -> TransferKey:
    return create_transfer_key(key_bits=2048)
