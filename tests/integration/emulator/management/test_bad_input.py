"""Bad input on the ARM surface: a specific 4xx in ARM's error shape, never a 500, and nothing half-written.
Also token checks (data-plane audience, foreign tenant) and durability of acknowledged creates across SIGKILL.
"""

from __future__ import annotations

import json
import ssl
from pathlib import Path

import httpx
import pytest

from hsm_devtools.emulator_process import EmulatorProcess, standard_directory
from tests.integration.emulator.management.conftest import ArmEmulator

pytestmark = pytest.mark.integration
API = "api-version=2025-05-01"


def good_body(arm: ArmEmulator) -> dict[str, object]:
    return {
        "location": arm.directory.location,
        "sku": {"family": "B", "name": "Standard_B1"},
        "properties": {
            "tenantId": arm.directory.tenant_id,
            "initialAdminObjectIds": [arm.directory.sp("hsm-admin").object_id],
        },
    }


def hsm_url(arm: ArmEmulator, name: str, group: str = "rg-one", query: str = API) -> str:
    return (
        f"{arm.url}/subscriptions/{arm.directory.subscription_id}/resourceGroups/{group}"
        f"/providers/Microsoft.KeyVault/managedHSMs/{name}?{query}"
    )


def client(arm: ArmEmulator, token: str) -> httpx.Client:
    return httpx.Client(
        verify=ssl.create_default_context(cafile=str(arm.process.ca_file)),
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )


def with_properties(arm: ArmEmulator, **properties: object) -> dict[str, object]:
    body = good_body(arm)
    body["properties"] = {**body["properties"], **properties}  # type: ignore[dict-item]
    return body


BAD_CREATES = [
    ("malformed-json", "hsm-bad1", b'{"location": "westeurope", ', 400, "InvalidRequestContent"),
    ("wrong-type-retention", "hsm-bad2", "retention-string", 400, "InvalidRequestContent"),
    ("wrong-type-tags", "hsm-bad3", "tags-list", 400, "InvalidRequestContent"),
    ("retention-out-of-range", "hsm-bad4", "retention-5", 400, "InvalidRequestContent"),
    ("bad-admin-guid", "hsm-bad5", "admin-not-guid", 400, "InvalidRequestContent"),
    ("no-admins", "hsm-bad6", "admins-empty", 400, "BadRequest"),
    ("foreign-tenant-id", "hsm-bad7", "tenant-other", 400, "BadRequest"),
    ("unknown-sku", "hsm-bad8", "sku-bogus", 400, "InvalidRequestContent"),
    ("name-too-long", "h" * 25, "good", 400, "InvalidResourceName"),
    ("name-starts-with-digit", "1hsm", "good", 400, "InvalidResourceName"),
    ("name-double-hyphen", "hsm--x", "good", 400, "InvalidResourceName"),
    ("name-too-short", "hs", "good", 400, "InvalidResourceName"),
    ("missing-location", "hsm-bad9", "no-location", 400, "BadRequest"),
    ("unknown-group", "hsm-bad10", "good-in-missing-group", 404, "ResourceGroupNotFound"),
]


def _payload(arm: ArmEmulator, kind: object) -> bytes:
    if isinstance(kind, bytes):
        return kind
    variants: dict[str, dict[str, object]] = {
        "good": good_body(arm),
        "good-in-missing-group": good_body(arm),
        "retention-string": with_properties(arm, softDeleteRetentionInDays="90"),
        "retention-5": with_properties(arm, softDeleteRetentionInDays=5),
        "admin-not-guid": with_properties(arm, initialAdminObjectIds=["alice"]),
        "admins-empty": with_properties(arm, initialAdminObjectIds=[]),
        "tenant-other": with_properties(arm, tenantId=arm.directory.other_tenant_id),
        "tags-list": {**good_body(arm), "tags": ["a"]},
        "sku-bogus": {**good_body(arm), "sku": {"family": "B", "name": "Premium"}},
        "no-location": {key: value for key, value in good_body(arm).items() if key != "location"},
    }
    return json.dumps(variants[str(kind)]).encode()


@pytest.mark.parametrize(("case", "name", "kind", "status", "code"), BAD_CREATES, ids=[c[0] for c in BAD_CREATES])
def test_bad_create_is_refused_and_leaves_nothing(
    arm: ArmEmulator, case: str, name: str, kind: object, status: int, code: str
) -> None:
    owner = arm.token(arm.standard("sub-owner"))
    group = "rg-missing" if kind == "good-in-missing-group" else "rg-one"
    with client(arm, owner) as http:
        response = http.put(
            hsm_url(arm, name, group), content=_payload(arm, kind), headers={"Content-Type": "application/json"}
        )
        assert response.status_code == status, response.text
        error = response.json()["error"]
        assert error["code"] == code
        assert error["message"]
        assert http.get(hsm_url(arm, name, group)).status_code == 404
        check = http.post(
            f"{arm.url}/subscriptions/{arm.directory.subscription_id}/providers/Microsoft.KeyVault/"
            f"checkMhsmNameAvailability?{API}",
            json={"name": name},
        ).json()
        assert check.get("reason") != "AlreadyExists"


def test_api_versions_and_location_change(arm: ArmEmulator) -> None:
    owner = arm.token(arm.standard("sub-owner"))
    with client(arm, owner) as http:
        unknown = http.get(hsm_url(arm, "hsm-any", query="api-version=2099-01-01"))
        assert unknown.status_code == 400
        assert unknown.json()["error"]["code"] == "NoRegisteredProviderFound"
        assert (
            "The supported api-versions are '2023-07-01, 2024-11-01, 2025-05-01" in unknown.json()["error"]["message"]
        )
        missing = http.get(hsm_url(arm, "hsm-any", query=""))
        assert missing.json()["error"]["code"] == "MissingApiVersionParameter"
        groups = http.get(
            f"{arm.url}/subscriptions/{arm.directory.subscription_id}/resourcegroups?api-version=1999-01-01"
        )
        assert groups.status_code == 400
        assert groups.json()["error"]["code"] == "InvalidApiVersionParameter"

        created = http.put(hsm_url(arm, "hsm-loc"), json=good_body(arm))
        assert created.status_code == 202
        moved = {**good_body(arm), "location": "eastus"}
        refused = http.put(hsm_url(arm, "hsm-loc"), json=moved)
        assert refused.status_code == 400
        assert refused.json()["error"]["code"] == "InvalidResourceLocation"
        patched = http.patch(hsm_url(arm, "hsm-loc"), json={"location": "eastus"})
        assert patched.json()["error"]["code"] == "InvalidResourceLocation"
        assert http.get(hsm_url(arm, "hsm-loc")).json()["location"] == arm.directory.location


def test_tokens_for_other_audiences_or_tenants_are_refused(arm: ArmEmulator) -> None:
    data_plane = arm.token(arm.standard("sub-owner"), "https://managedhsm.azure.net")
    with client(arm, data_plane) as http:
        response = http.get(hsm_url(arm, "hsm-any"))
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "InvalidAuthenticationTokenAudience"
    stranger = arm.directory.sp("other-tenant-sp")
    status, body = arm.process.request_token(
        stranger.tenant_id,
        {
            "grant_type": "client_credentials",
            "client_id": stranger.app_id,
            "client_secret": stranger.secret,
            "scope": "https://management.azure.com/.default",
        },
    )
    assert status == 200, body
    with client(arm, body["access_token"]) as http:
        response = http.get(hsm_url(arm, "hsm-any"))
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "InvalidAuthenticationTokenTenant"
    with httpx.Client(verify=ssl.create_default_context(cafile=str(arm.process.ca_file))) as anonymous:
        assert anonymous.get(hsm_url(arm, "hsm-any")).status_code == 401


def test_acknowledged_creates_survive_sigkill(tmp_path: Path) -> None:
    directory = standard_directory()
    process = EmulatorProcess(tmp_path / "durable", directory.config())
    process.start()
    try:
        arm = ArmEmulator(process, directory)
        owner = arm.standard("sub-owner")
        names = [f"durable-{index}" for index in range(6)]
        with client(arm, arm.token(owner)) as http:
            for name in names:
                assert http.put(hsm_url(arm, name), json=good_body(arm)).status_code == 202
        process.kill()
        process.restart()
        with client(arm, arm.token(owner)) as http:
            listed = http.get(
                f"{arm.url}/subscriptions/{directory.subscription_id}/resourceGroups/rg-one/providers/"
                f"Microsoft.KeyVault/managedHSMs?{API}"
            ).json()["value"]
        assert sorted(hsm["name"] for hsm in listed) == names
        assert len({hsm["properties"]["hsmUri"] for hsm in listed}) == len(names)
    finally:
        process.stop()
