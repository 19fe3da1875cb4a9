"""Clock skew between the token issuer and the HSM / ARM: tolerated within `server.tokenClockSkewSeconds`, refused
beyond it with a 401 that says which bound failed.

How the skew is made (and why it is honest): the emulator's issuer stamps `iat/nbf/exp` from its own clock, and a
test-only switch in the product to shift that clock would be code that exists only for tests. A token minted by an
issuer whose clock runs ahead or behind is exactly a token with shifted `iat/nbf/exp`, signed by the issuer's key.
So the test takes a real token from the real token endpoint, shifts its time claims, and signs it again with the
emulator's real signing key, which it unseals from the emulator's data directory (`hardware-root.key` +
`emulator.db`) the way the emulator itself does at start. Nothing else in the token changes, the server code path is
the production one, and every check runs through the official SDK clients (a `TokenCredential` that hands out the
skewed token).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from azure.core.credentials import AccessToken
from azure.core.exceptions import ClientAuthenticationError
from azure.keyvault.keys import KeyClient
from azure.mgmt.keyvault import KeyVaultManagementClient

from hsm_devtools.emulator_process import EmulatorProcess, standard_directory
from hsm_emulator.identity.signing_keys import SigningKey, load_or_create
from hsm_emulator.storage import HARDWARE_ROOT_KEY_FILE, Transaction
from tests.reliability.conftest import Azure
from tests.support.emulator_fixtures import EmulatorHandle

pytestmark = [pytest.mark.reliability, pytest.mark.integration]

SKEW = 60  # seconds the emulator tolerates in this test (its default is 300, Entra's usual 5 minutes)
DATA_PLANE = "https://managedhsm.azure.net"
ARM = "https://management.azure.com/"


class StaticToken:
    """A TokenCredential that always hands out one given access token (the skewed one)."""

    def __init__(self, token: str, expires_on: int) -> None:
        self._token = AccessToken(token, expires_on)

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return self._token

    def get_token_info(self, *scopes: str, options: Any = None) -> Any:
        from azure.core.credentials import AccessTokenInfo

        return AccessTokenInfo(self._token.token, self._token.expires_on)


def emulator_signing_key(handle: EmulatorHandle) -> SigningKey:
    """The emulator's active token-signing key, unsealed from its data directory (read-only)."""
    data_dir = handle.process.data_dir
    root_key = (data_dir / HARDWARE_ROOT_KEY_FILE).read_bytes()
    connection = sqlite3.connect(f"file:{data_dir / 'emulator.db'}?mode=ro", uri=True)
    connection.row_factory = sqlite3.Row
    try:
        return load_or_create(Transaction(connection, writable=False), root_key, int(time.time())).active
    finally:
        connection.close()


@pytest.fixture(scope="module")
def skewed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[EmulatorHandle, str]]:
    """An emulator of this module's own that tolerates SKEW seconds, with one active HSM."""
    directory = standard_directory()
    config = directory.config()
    config["server"] = {"tokenClockSkewSeconds": SKEW}
    with EmulatorProcess(tmp_path_factory.mktemp("skew-emulator"), config, hsm_port_count=2) as process:
        handle = EmulatorHandle(process, directory)
        yield handle, Azure(handle).active_hsm("skew")


def shifted_token(handle: EmulatorHandle, audience: str, offset: int) -> tuple[str, int]:
    """A real token as an issuer whose clock is `offset` seconds ahead (negative: behind) would mint it.

    Data plane: `crypto-user` (Crypto User on the HSM); ARM: `sub-reader` (Reader on the subscription).
    """
    who = "crypto-user" if audience == DATA_PLANE else "sub-reader"
    real = handle.process.client_credentials_token(handle.sp(who), audience)
    claims = jwt.decode(real, options={"verify_signature": False})
    for claim in ("iat", "nbf", "exp"):
        claims[claim] += offset
    key = emulator_signing_key(handle)
    assert jwt.get_unverified_header(real)["kid"] == key.kid  # the key we unsealed is the one that signs
    return jwt.encode(claims, key.private_key, algorithm="RS256", headers={"kid": key.kid}), claims["exp"]


def data_plane_keys(handle: EmulatorHandle, uri: str, token: str, expires_on: int) -> list[str]:
    client = KeyClient(
        uri,
        StaticToken(token, expires_on),  # type: ignore[arg-type]
        verify_challenge_resource=False,
        connection_verify=str(handle.ca_file),
        retry_total=0,
    )
    return [key.name for key in client.list_properties_of_keys()]


def arm_hsms(handle: EmulatorHandle, token: str, expires_on: int) -> list[str]:
    client = KeyVaultManagementClient(
        StaticToken(token, expires_on),
        handle.directory.subscription_id,
        base_url=handle.url,
        credential_scopes=[f"{ARM}.default"],
        connection_verify=str(handle.ca_file),
        retry_total=0,
    )
    return [hsm.name for hsm in client.managed_hsms.list_by_subscription()]


def error_code(error: ClientAuthenticationError) -> str | None:
    return None if error.error is None else str(error.error.code)


def lifetime(handle: EmulatorHandle) -> int:
    claims = jwt.decode(
        handle.process.client_credentials_token(handle.sp("crypto-user"), DATA_PLANE),
        options={"verify_signature": False},
    )
    return int(claims["exp"]) - int(claims["iat"])


@pytest.mark.parametrize("offset", [SKEW // 2, -SKEW // 2])
def test_issuer_clock_off_within_tolerance_is_accepted(skewed: tuple[EmulatorHandle, str], offset: int) -> None:
    handle, uri = skewed
    # An issuer ahead (or behind) by less than the tolerance: nbf in the future / iat in the past, within the skew.
    token, expires_on = shifted_token(handle, DATA_PLANE, offset)
    assert data_plane_keys(handle, uri, token, expires_on) == []
    token, expires_on = shifted_token(handle, ARM, offset)
    assert arm_hsms(handle, token, expires_on) == ["skew"]


def test_issuer_clock_ahead_beyond_tolerance_is_refused(skewed: tuple[EmulatorHandle, str]) -> None:
    handle, uri = skewed
    token, expires_on = shifted_token(handle, DATA_PLANE, 2 * SKEW)
    with pytest.raises(ClientAuthenticationError) as refused:
        data_plane_keys(handle, uri, token, expires_on)
    assert refused.value.status_code == 401
    assert error_code(refused.value) == "Unauthorized"
    assert "The access token is not valid before" in str(refused.value)

    token, expires_on = shifted_token(handle, ARM, 2 * SKEW)
    with pytest.raises(ClientAuthenticationError) as refused:
        arm_hsms(handle, token, expires_on)
    assert refused.value.status_code == 401
    assert error_code(refused.value) == "InvalidAuthenticationToken"
    assert "The access token is not valid before" in str(refused.value)


def test_token_expired_within_tolerance_is_accepted_beyond_refused(skewed: tuple[EmulatorHandle, str]) -> None:
    handle, uri = skewed
    life = lifetime(handle)
    # An issuer behind by its token lifetime + half the tolerance: the token expired SKEW/2 seconds ago.
    token, expires_on = shifted_token(handle, DATA_PLANE, -(life + SKEW // 2))
    assert data_plane_keys(handle, uri, token, expires_on) == []
    token, expires_on = shifted_token(handle, ARM, -(life + SKEW // 2))
    assert arm_hsms(handle, token, expires_on) == ["skew"]

    # ... and by lifetime + twice the tolerance: expired SKEW seconds beyond what is tolerated.
    token, expires_on = shifted_token(handle, DATA_PLANE, -(life + 2 * SKEW))
    with pytest.raises(ClientAuthenticationError) as refused:
        data_plane_keys(handle, uri, token, expires_on)
    assert refused.value.status_code == 401
    assert error_code(refused.value) == "Unauthorized"
    assert "is earlier than current UTC time" in str(refused.value)

    token, expires_on = shifted_token(handle, ARM, -(life + 2 * SKEW))
    with pytest.raises(ClientAuthenticationError) as refused:
        arm_hsms(handle, token, expires_on)
    assert refused.value.status_code == 401
    assert error_code(refused.value) == "ExpiredAuthenticationToken"
    assert "is earlier than current UTC time" in str(refused.value)
