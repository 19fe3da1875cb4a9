"""The token endpoint and discovery documents, in-process: grants, Entra error bodies, federated assertions."""

from __future__ import annotations

import base64
from typing import Any

import jwt
import pytest

from hsm_emulator.config import parse_config
from hsm_emulator.identity.bootstrap import apply_directory_config
from hsm_emulator.identity.signing_keys import SigningKeys

from .conftest import MAIN, InProcess

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


async def _token(inproc: InProcess, tenant: str, form: dict[str, str], **kwargs: Any) -> tuple[int, dict[str, Any]]:
    response = await inproc.client.post(f"/{tenant}/oauth2/v2.0/token", data=form, **kwargs)
    return response.status_code, response.json()


def _secret_form(inproc: InProcess, name: str, scope: str = "https://managedhsm.azure.net/.default") -> dict[str, str]:
    sp = inproc.directory.sp(name)
    return {"grant_type": "client_credentials", "client_id": sp.app_id, "client_secret": sp.secret, "scope": scope}


@pytest.mark.parametrize(
    ("scope", "audience"),
    [
        ("https://managedhsm.azure.net/.default", "https://managedhsm.azure.net"),
        ("https://management.azure.com/.default", "https://management.azure.com/"),
        ("https://management.azure.com//.default", "https://management.azure.com/"),
        ("https://management.core.windows.net//.default", "https://management.core.windows.net/"),
        ("https://graph.microsoft.com/.default", "https://graph.microsoft.com"),
        ("api://AzureADTokenExchange/.default", "api://AzureADTokenExchange"),
    ],
)
async def test_client_secret_grant_issues_rs256_token_for_the_scope(
    inproc: InProcess, scope: str, audience: str
) -> None:
    sp = inproc.directory.sp("hsm-admin")
    status, body = await _token(inproc, sp.tenant_id, _secret_form(inproc, "hsm-admin", scope))
    assert status == 200, body
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    header = jwt.get_unverified_header(body["access_token"])
    keys = inproc.emulator.require(SigningKeys)
    assert header["alg"] == "RS256"
    claims = jwt.decode(
        body["access_token"],
        keys.public_key(header["kid"]),
        algorithms=["RS256"],
        audience=audience,
        options={"verify_exp": False, "verify_nbf": False, "verify_iat": False},  # the test clock is in the future
    )
    now = int(inproc.clock.now)
    assert claims == {
        "aud": audience,
        "iss": f"{MAIN}/{sp.tenant_id}/v2.0",
        "iat": now,
        "nbf": now,
        "exp": now + 3600,
        "tid": sp.tenant_id,
        "oid": sp.object_id,
        "sub": sp.object_id,
        "appid": sp.app_id,
        "azp": sp.app_id,
        "groups": [],
        "ver": "2.0",
        "uti": claims["uti"],
        "idtyp": "app",
    }


async def test_http_basic_client_authentication(inproc: InProcess) -> None:
    sp = inproc.directory.sp("crypto-user")
    basic = base64.b64encode(f"{sp.app_id}:{sp.secret}".encode()).decode()
    status, body = await _token(
        inproc,
        sp.tenant_id,
        {"grant_type": "client_credentials", "scope": "https://managedhsm.azure.net/.default"},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert status == 200, body


@pytest.mark.parametrize(
    ("change", "status", "error", "aadsts"),
    [
        ({"client_secret": "wrong"}, 401, "invalid_client", 7000215),
        ({"client_secret": None}, 401, "invalid_client", 7000216),
        ({"client_id": "00000000-0000-0000-0000-00000000abcd"}, 400, "unauthorized_client", 700016),
        ({"client_id": None}, 400, "invalid_request", 900144),
        ({"scope": "https://unknown.example/.default"}, 400, "invalid_resource", 500011),
        ({"scope": "https://managedhsm.azure.net/user_impersonation"}, 400, "invalid_scope", 70011),
        ({"grant_type": "authorization_code"}, 400, "unsupported_grant_type", 70003),
    ],
)
async def test_refusals_use_entra_error_bodies(
    inproc: InProcess, change: dict[str, str | None], status: int, error: str, aadsts: int
) -> None:
    form: dict[str, Any] = {**_secret_form(inproc, "crypto-user"), **change}
    form = {k: v for k, v in form.items() if v is not None}
    got_status, body = await _token(inproc, inproc.directory.tenant_id, form)
    assert (got_status, body["error"], body["error_codes"]) == (status, error, [aadsts])
    assert body["error_description"].startswith(f"AADSTS{aadsts}: ")
    assert {"timestamp", "trace_id", "correlation_id"} <= set(body)


async def test_unknown_tenant_and_secret_of_other_tenant(inproc: InProcess) -> None:
    status, body = await _token(inproc, "00000000-0000-0000-0000-000000000000", _secret_form(inproc, "crypto-user"))
    assert (status, body["error_codes"]) == (400, [90002])
    # a client of tenant B is unknown in tenant A
    status, body = await _token(inproc, inproc.directory.tenant_id, _secret_form(inproc, "other-tenant-sp"))
    assert (status, body["error_codes"]) == (400, [700016])


async def test_disabled_service_principal_gets_no_token(inproc: InProcess) -> None:
    config = inproc.directory.config()
    config["tenants"][0]["servicePrincipals"][0]["accountEnabled"] = False
    with inproc.emulator.db.transaction() as tx:
        apply_directory_config(inproc.emulator, tx, parse_config(config))
    status, body = await _token(inproc, inproc.directory.tenant_id, _secret_form(inproc, "hsm-admin"))
    assert (status, body["error"], body["error_codes"]) == (400, "unauthorized_client", [7000112])


async def test_password_grant_for_users(inproc: InProcess) -> None:
    form = {
        "grant_type": "password",
        "client_id": "04b07795-8ddb-461a-bbee-02f9e1bf7b46",
        "username": inproc.directory.admin_user,
        "password": inproc.directory.admin_password,
        "scope": "https://graph.microsoft.com/.default openid profile offline_access",
    }
    status, body = await _token(inproc, inproc.directory.tenant_id, form)
    assert status == 200, body
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert (claims["oid"], claims["idtyp"], claims["upn"]) == (
        inproc.directory.admin_object_id,
        "user",
        inproc.directory.admin_user,
    )
    assert jwt.decode(body["id_token"], options={"verify_signature": False})["aud"] == form["client_id"]
    status, body = await _token(inproc, inproc.directory.tenant_id, {**form, "password": "nope"})
    assert (status, body["error"], body["error_codes"]) == (400, "invalid_grant", [50126])
    status, body = await _token(inproc, inproc.directory.tenant_id, {**form, "username": "ghost@contoso.test"})
    assert body["error_codes"] == [50034]


async def test_form_encoding_is_required(inproc: InProcess) -> None:
    response = await inproc.client.post(f"/{inproc.directory.tenant_id}/oauth2/v2.0/token", json={"a": 1})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


async def test_openid_configuration_and_jwks(inproc: InProcess) -> None:
    tenant = inproc.directory.tenant_id
    config = (await inproc.client.get(f"/{tenant}/v2.0/.well-known/openid-configuration")).json()
    assert config["issuer"] == f"{MAIN}/{tenant}/v2.0"
    assert config["token_endpoint"] == f"{MAIN}/{tenant}/oauth2/v2.0/token"
    assert config["jwks_uri"] == f"{MAIN}/{tenant}/discovery/v2.0/keys"
    jwks = (await inproc.client.get(f"/{tenant}/discovery/v2.0/keys")).json()
    kid = inproc.emulator.require(SigningKeys).active.kid
    assert [(k["kid"], k["kty"], k["alg"], "d" in k) for k in jwks["keys"]] == [(kid, "RSA", "RS256", False)]
    response = await inproc.client.get("/00000000-0000-0000-0000-000000000000/v2.0/.well-known/openid-configuration")
    assert (response.status_code, response.json()["error_codes"]) == (400, [90002])


# ---- federated credentials ------------------------------------------------------------------------------------


def _with_federation(
    inproc: InProcess, subject: str, audiences: list[str] | None = None, issuer: str | None = None
) -> None:
    """Give 'crypto-officer' a federated credential trusting tokens this emulator issues to `subject`."""
    config = inproc.directory.config()
    tenant = inproc.directory.tenant_id
    entry = next(s for s in config["tenants"][0]["servicePrincipals"] if s["displayName"] == "crypto-officer")
    entry["federatedCredentials"] = [
        {
            "issuer": issuer or f"{MAIN}/{tenant}/v2.0",
            "subject": subject,
            "audiences": audiences or ["api://AzureADTokenExchange"],
        }
    ]
    with inproc.emulator.db.transaction() as tx:
        apply_directory_config(inproc.emulator, tx, parse_config(config))


def _assertion_form(inproc: InProcess, assertion: str) -> dict[str, str]:
    return {
        "grant_type": "client_credentials",
        "client_id": inproc.directory.sp("crypto-officer").app_id,
        "client_assertion_type": JWT_BEARER,
        "client_assertion": assertion,
        "scope": "https://managedhsm.azure.net/.default",
    }


async def test_federated_assertion_minted_by_the_emulator_itself(inproc: InProcess) -> None:
    workload = inproc.directory.sp("no-role")
    _with_federation(inproc, subject=workload.object_id)
    assertion = await inproc.token("no-role", "api://AzureADTokenExchange")
    status, body = await _token(inproc, inproc.directory.tenant_id, _assertion_form(inproc, assertion))
    assert status == 200, body
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["oid"] == inproc.directory.sp("crypto-officer").object_id


@pytest.mark.parametrize(
    ("credential", "aadsts"),
    [
        ({"subject": "someone-else"}, 700213),
        ({"audiences": ["api://other"]}, 700212),
        ({"issuer": "https://issuer.example/"}, 700211),
    ],
)
async def test_federated_assertion_mismatches(inproc: InProcess, credential: dict[str, Any], aadsts: int) -> None:
    workload = inproc.directory.sp("no-role")
    _with_federation(inproc, **{"subject": workload.object_id, **credential})
    assertion = await inproc.token("no-role", "api://AzureADTokenExchange")
    status, body = await _token(inproc, inproc.directory.tenant_id, _assertion_form(inproc, assertion))
    assert (status, body["error"], body["error_codes"]) == (401, "invalid_client", [aadsts])


async def test_forged_or_expired_assertions_are_refused(inproc: InProcess) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    workload = inproc.directory.sp("no-role")
    _with_federation(inproc, subject=workload.object_id)
    claims = inproc.claims_for("no-role", audience="api://AzureADTokenExchange")
    kid = inproc.emulator.require(SigningKeys).active.kid
    forged = jwt.encode(
        claims, rsa.generate_private_key(public_exponent=65537, key_size=2048), algorithm="RS256", headers={"kid": kid}
    )
    status, body = await _token(inproc, inproc.directory.tenant_id, _assertion_form(inproc, forged))
    assert (status, body["error_codes"]) == (401, [700027])
    hs = jwt.encode(claims, "a-shared-secret-of-at-least-32-bytes!", algorithm="HS256", headers={"kid": kid})
    status, body = await _token(inproc, inproc.directory.tenant_id, _assertion_form(inproc, hs))
    assert (status, body["error_codes"]) == (401, [700027])
    expired = inproc.forge({**claims, "exp": int(inproc.clock.now) - 1000})
    status, body = await _token(inproc, inproc.directory.tenant_id, _assertion_form(inproc, expired))
    assert (status, body["error_codes"]) == (400, [700024])
    status, body = await _token(inproc, inproc.directory.tenant_id, _assertion_form(inproc, "garbage"))
    assert (status, body["error_codes"]) == (400, [50027])
