"""The Graph-style directory API: Global Administrators only, Graph shapes and errors, immediate effects."""

from __future__ import annotations

import pytest

from .conftest import InProcess

GRAPH_REF = "https://graph.microsoft.com/v1.0/directoryObjects/"


async def _admin(inproc: InProcess) -> dict[str, str]:
    return {"Authorization": f"Bearer {await inproc.admin_token()}"}


async def test_non_admin_gets_403_and_wrong_audience_401(inproc: InProcess) -> None:
    token = await inproc.token("sub-owner", "https://graph.microsoft.com")
    response = await inproc.client.get("/v1.0/users", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "Authorization_RequestDenied"
    token = await inproc.token("sub-owner", "https://management.azure.com/")
    response = await inproc.client.get("/v1.0/users", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "InvalidAuthenticationToken"


async def test_user_lifecycle(inproc: InProcess) -> None:
    headers = await _admin(inproc)
    body = {
        "accountEnabled": True,
        "displayName": "Bob",
        "userPrincipalName": "bob@contoso.test",
        "mailNickname": "bob",
        "passwordProfile": {"password": "bob-pw"},
    }
    response = await inproc.client.post("/v1.0/users", json=body, headers=headers)
    assert response.status_code == 201, response.text
    user = response.json()
    assert (user["displayName"], user["userPrincipalName"], user["accountEnabled"]) == ("Bob", "bob@contoso.test", True)
    duplicate = await inproc.client.post("/v1.0/users", json=body, headers=headers)
    assert (duplicate.status_code, duplicate.json()["error"]["code"]) == (400, "Request_BadRequest")
    by_upn = await inproc.client.get("/v1.0/users/bob@contoso.test", headers=headers)
    assert by_upn.json()["id"] == user["id"]
    patch = await inproc.client.patch(f"/v1.0/users/{user['id']}", json={"accountEnabled": False}, headers=headers)
    assert patch.status_code == 204
    assert (await inproc.client.get(f"/v1.0/users/{user['id']}", headers=headers)).json()["accountEnabled"] is False
    form = {
        "grant_type": "password",
        "client_id": "04b07795-8ddb-461a-bbee-02f9e1bf7b46",
        "username": "bob@contoso.test",
        "password": "bob-pw",
        "scope": "https://managedhsm.azure.net/.default",
    }
    refused = await inproc.client.post(f"/{inproc.directory.tenant_id}/oauth2/v2.0/token", data=form)
    assert refused.json()["error_codes"] == [50057]
    assert (await inproc.client.delete(f"/v1.0/users/{user['id']}", headers=headers)).status_code == 204
    missing = await inproc.client.get(f"/v1.0/users/{user['id']}", headers=headers)
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "Request_ResourceNotFound")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"displayName": "x", "userPrincipalName": "x@contoso.test"}, "passwordProfile"),
        (
            {"displayName": "x", "userPrincipalName": "no-at-sign", "passwordProfile": {"password": "p"}},
            "userPrincipalName",
        ),
        (
            {"displayName": "x", "userPrincipalName": "x@c.test", "passwordProfile": {"password": "p"}, "bogus": 1},
            "bogus",
        ),
        (
            {
                "displayName": "x",
                "userPrincipalName": "x@c.test",
                "passwordProfile": {"password": "p"},
                "accountEnabled": "yes",
            },
            "accountEnabled",
        ),
    ],
)
async def test_bad_bodies_are_400_naming_the_field(inproc: InProcess, body: dict[str, object], field: str) -> None:
    response = await inproc.client.post("/v1.0/users", json=body, headers=await _admin(inproc))
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "Request_BadRequest"
    assert field in error["message"]


async def test_malformed_json_is_400_in_graph_shape(inproc: InProcess) -> None:
    headers = {**await _admin(inproc), "Content-Type": "application/json"}
    response = await inproc.client.post("/v1.0/users", content=b"{not json", headers=headers)
    assert (response.status_code, response.json()["error"]["code"]) == (400, "Request_BadRequest")


async def test_service_principal_lifecycle_with_added_password(inproc: InProcess) -> None:
    headers = await _admin(inproc)
    app_id = "7d6c7a57-0000-4000-8000-000000000042"
    created = await inproc.client.post(
        "/v1.0/servicePrincipals", json={"appId": app_id, "displayName": "svc"}, headers=headers
    )
    assert created.status_code == 201, created.text
    sp = created.json()
    again = await inproc.client.post("/v1.0/servicePrincipals", json={"appId": app_id}, headers=headers)
    assert again.status_code == 409
    secret = (
        await inproc.client.post(
            f"/v1.0/servicePrincipals/{sp['id']}/addPassword",
            json={"passwordCredential": {"displayName": "ci"}},
            headers=headers,
        )
    ).json()
    form = {
        "grant_type": "client_credentials",
        "client_id": app_id,
        "client_secret": secret["secretText"],
        "scope": "https://managedhsm.azure.net/.default",
    }
    token_url = f"/{inproc.directory.tenant_id}/oauth2/v2.0/token"
    issued = await inproc.client.post(token_url, data=form)
    assert issued.status_code == 200
    token = issued.json()["access_token"]
    await inproc.client.patch(f"/v1.0/servicePrincipals/{sp['id']}", json={"accountEnabled": False}, headers=headers)
    assert (await inproc.client.post(token_url, data=form)).json()["error_codes"] == [7000112]
    hsm = await inproc.client.get(
        "https://127.0.0.1:8444/probe/hsm",
        params={"tenant": inproc.directory.tenant_id},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert hsm.status_code == 401  # the token issued before disabling stops working at once
    assert (await inproc.client.delete(f"/v1.0/servicePrincipals/{sp['id']}", headers=headers)).status_code == 204


async def test_group_membership_changes_are_immediate(inproc: InProcess) -> None:
    headers = await _admin(inproc)
    group = (
        await inproc.client.post(
            "/v1.0/groups",
            json={"displayName": "ops", "mailEnabled": False, "mailNickname": "ops", "securityEnabled": True},
            headers=headers,
        )
    ).json()
    member = inproc.directory.sp("auditor").object_id
    token = await inproc.token("auditor")
    ref = {"@odata.id": GRAPH_REF + member}
    added = await inproc.client.post(f"/v1.0/groups/{group['id']}/members/$ref", json=ref, headers=headers)
    assert added.status_code == 204
    again = await inproc.client.post(f"/v1.0/groups/{group['id']}/members/$ref", json=ref, headers=headers)
    assert again.status_code == 400
    members = (await inproc.client.get(f"/v1.0/groups/{group['id']}/members", headers=headers)).json()["value"]
    assert [m["id"] for m in members] == [member]

    async def groups_seen() -> list[str]:
        response = await inproc.client.get(
            "https://127.0.0.1:8444/probe/hsm",
            params={"tenant": inproc.directory.tenant_id},
            headers={"Authorization": f"Bearer {token}"},
        )
        return list(response.json()["group_ids"])

    assert await groups_seen() == [group["id"]]
    removed = await inproc.client.delete(f"/v1.0/groups/{group['id']}/members/{member}/$ref", headers=headers)
    assert removed.status_code == 204
    assert await groups_seen() == []
    gone = await inproc.client.delete(f"/v1.0/groups/{group['id']}/members/{member}/$ref", headers=headers)
    assert gone.status_code == 404
    bad_ref = await inproc.client.post(
        f"/v1.0/groups/{group['id']}/members/$ref", json={"@odata.id": "x"}, headers=headers
    )
    assert bad_ref.status_code == 400


async def test_objects_of_another_tenant_are_invisible(inproc: InProcess) -> None:
    other = inproc.directory.sp("other-tenant-sp").object_id
    response = await inproc.client.get(f"/v1.0/servicePrincipals/{other}", headers=await _admin(inproc))
    assert response.status_code == 404
