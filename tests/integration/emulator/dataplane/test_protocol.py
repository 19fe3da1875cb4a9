"""The wire protocol with raw HTTP: challenge before body, api-versions, slashes, paging, bad input -> 4xx never 500."""

from __future__ import annotations

import ssl
from collections.abc import Iterator

import httpx
import pytest

from tests.integration.emulator.dataplane.conftest import ActiveHsm

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def http(active_hsm: ActiveHsm) -> Iterator[httpx.Client]:
    token = active_hsm.emulator.credential("crypto-user").get_token("https://managedhsm.azure.net/.default").token
    with httpx.Client(
        base_url=active_hsm.uri,
        verify=ssl.create_default_context(cafile=active_hsm.emulator.ca),
        headers={"Authorization": f"Bearer {token}"},
    ) as client:
        yield client


def test_unauthenticated_requests_get_the_challenge_before_the_body_is_read(active_hsm: ActiveHsm) -> None:
    response = httpx.post(
        f"{active_hsm.uri}/keys/x/create?api-version=7.6",
        content=b"{not json",
        verify=ssl.create_default_context(cafile=active_hsm.emulator.ca),
    )
    assert response.status_code == 401
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer authorization="https://')
    assert 'resource="https://managedhsm.azure.net"' in challenge


@pytest.mark.parametrize("version", ["7.2", "7.3", "7.4", "7.5", "7.6", "2025-06-01", "2025-07-01"])
def test_supported_api_versions(http: httpx.Client, version: str) -> None:
    assert http.get("/keys", params={"api-version": version}).status_code == 200


def test_unknown_api_version_is_the_real_bad_parameter(http: httpx.Client) -> None:
    response = http.get("/keys", params={"api-version": "7.9"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "BadParameter"
    assert error["message"].startswith("The specified version (7.9) is not recognized")


def test_repeated_slashes_and_empty_versions(http: httpx.Client) -> None:
    created = http.post("/keys/proto-k/create", params={"api-version": "7.6"}, json={"kty": "EC-HSM"})
    assert created.status_code == 200
    assert (
        http.get("/keys/proto-k/", params={"api-version": "7.6"}).json()["key"]["kid"] == created.json()["key"]["kid"]
    )
    signed = http.post("/keys/proto-k//sign", params={"api-version": "7.6"}, json={"alg": "ES256", "value": "A" * 43})
    assert signed.status_code == 200
    assert (
        http.get("///providers/Microsoft.Authorization/roleDefinitions", params={"api-version": "7.6"}).status_code
        == 200
    )


def test_paging_next_link_is_absolute_and_maxresults_is_checked(http: httpx.Client, active_hsm: ActiveHsm) -> None:
    for index in range(3):
        http.post(f"/keys/proto-page-{index}/create", params={"api-version": "7.6"}, json={"kty": "oct-HSM"})
    page = http.get("/keys", params={"api-version": "7.6", "maxresults": "1"}).json()
    assert len(page["value"]) == 1
    assert page["nextLink"].startswith(f"{active_hsm.uri}/keys?")
    assert http.get(page["nextLink"]).status_code == 200
    for bad in ("0", "26", "x"):
        response = http.get("/keys", params={"api-version": "7.6", "maxresults": bad})
        assert response.status_code == 400, bad
        assert response.json()["error"]["code"] == "BadParameter"


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("POST", "/keys/bad_name/create", {"kty": "EC"}, 400),
        ("POST", "/keys/x/create", {"kty": "RSA", "key_size": 1000}, 400),
        ("POST", "/keys/x/create", {"kty": "EC", "crv": "P-999"}, 400),
        ("POST", "/keys/x/create", {"kty": "oct", "key_size": 100}, 400),
        ("POST", "/keys/x/create", {"kty": 5}, 400),
        ("POST", "/keys/x/create", {}, 400),
        ("POST", "/keys/x/create", "not json", 400),
        ("POST", "/keys/proto-k/sign", {"alg": "ES256", "value": "!!!"}, 400),
        ("POST", "/keys/proto-k/sign", {"alg": "RS256", "value": "A" * 43}, 400),
        ("POST", "/keys/proto-k/sign", {"alg": "ES256", "value": "AAAA"}, 400),
        ("POST", "/keys/proto-k/sign", {"alg": "ES256", "value": "A" * 200_000}, 400),
        ("POST", "/keys/proto-k/encrypt", {"alg": "RSA-OAEP", "value": "AAAA"}, 403),
        ("POST", "/keys/missing/sign", {"alg": "ES256", "value": "A" * 43}, 404),
        ("POST", "/rng", {"count": 0}, 400),
        ("POST", "/rng", {"count": "5"}, 400),
        ("PUT", "/keys/x", {"key": {"kty": "RSA", "n": "AQAB"}}, 400),
        ("POST", "/keys/restore", {"value": "AAAA"}, 400),
        ("PUT", "/keys/proto-k/rotationpolicy", {"attributes": {"expiryTime": "P1D"}}, 400),
        ("PATCH", "/keys/proto-k", {"tags": {str(i): "v" for i in range(16)}}, 400),
        ("GET", "/keys/unknown-key", None, 404),
        ("DELETE", "/keys", None, 405),
    ],
)
def test_bad_input_gets_a_specific_4xx(http: httpx.Client, method: str, path: str, body: object, status: int) -> None:
    http.post("/keys/proto-k/create", params={"api-version": "7.6"}, json={"kty": "EC-HSM"})
    kwargs: dict[str, object] = {}
    if isinstance(body, str):
        kwargs["content"] = body.encode()
    elif body is not None:
        kwargs["json"] = body
    response = http.request(method, path, params={"api-version": "7.6"}, **kwargs)  # type: ignore[arg-type]
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"]
    assert error["message"]


def test_not_found_uses_the_real_code(http: httpx.Client) -> None:
    response = http.get("/keys/nope", params={"api-version": "7.6"})
    assert response.json()["error"] == {"code": "KeyNotFound", "message": "Key not found: nope"}
    missing = http.get(
        "///providers/Microsoft.Authorization/roleAssignments/00000000-0000-0000-0000-000000000001",
        params={"api-version": "7.6"},
    )
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "RoleAssignmentNotFound"
    assert "(Activity ID: " in missing.json()["error"]["message"]


def test_settings_round_trip(active_hsm: ActiveHsm) -> None:
    from azure.keyvault.administration import KeyVaultSetting, KeyVaultSettingsClient

    client = KeyVaultSettingsClient(
        active_hsm.uri,
        active_hsm.emulator.credential("hsm-admin"),
        verify_challenge_resource=False,
        connection_verify=active_hsm.emulator.ca,
    )
    names = [s.name for s in client.list_settings()]
    assert names == ["AllowKeyManagementOperationsThroughARM"]
    updated = client.update_setting(KeyVaultSetting(name="AllowKeyManagementOperationsThroughARM", value="true"))
    assert updated.getboolean() is True
    assert client.get_setting("AllowKeyManagementOperationsThroughARM").value == "true"
