"""`authenticate()`: every way a token can be wrong is refused, on every surface, in that surface's words."""

from __future__ import annotations

import base64
import json

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from hsm_emulator.identity import directory as directory_store
from hsm_emulator.identity.signing_keys import SigningKeys

from .conftest import HSM, MAIN, InProcess


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


async def _hsm(inproc: InProcess, token: str | None, tenant: str | None = None) -> tuple[int, dict[str, object], str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = await inproc.client.get(
        f"{HSM}/probe/hsm", params={"tenant": tenant or inproc.directory.tenant_id}, headers=headers
    )
    return response.status_code, response.json(), response.headers.get("www-authenticate", "")


async def test_valid_token_yields_the_current_principal(inproc: InProcess) -> None:
    status, body, _ = await _hsm(inproc, await inproc.token("crypto-user"))
    assert status == 200
    sp = inproc.directory.sp("crypto-user")
    assert body == {
        "object_id": sp.object_id,
        "tenant_id": sp.tenant_id,
        "kind": "ServicePrincipal",
        "app_id": sp.app_id,
        "group_ids": [],
        "is_global_admin": False,
    }


async def test_missing_token_gets_the_data_plane_challenge(inproc: InProcess) -> None:
    status, body, challenge = await _hsm(inproc, None)
    assert status == 401
    assert body == {"error": {"code": "Unauthorized", "message": "Request is missing a Bearer or PoP token."}}
    assert challenge == (
        f'Bearer authorization="{MAIN}/{inproc.directory.tenant_id}", resource="https://managedhsm.azure.net"'
    )


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"exp": 1_800_000_000 - 301}, "expiry"),
        ({"nbf": 1_800_000_000 + 301, "iat": 1_800_000_000}, "not valid before"),
        ({"aud": "https://vault.azure.net"}, "aud=https://vault.azure.net"),
        ({"aud": "https://management.azure.com/"}, "aud=https://management.azure.com/"),
        ({"iss": "https://login.microsoftonline.com/x/v2.0"}, "wrong issuer"),
        ({"oid": "00000000-0000-0000-0000-000000000001"}, "does not exist"),
        ({"exp": None}, "exp"),
        ({"tid": None}, "tid"),
    ],
)
async def test_bad_claims_are_refused(inproc: InProcess, overrides: dict[str, object], fragment: str) -> None:
    token = inproc.forge(inproc.claims_for("crypto-user", **overrides))
    status, body, challenge = await _hsm(inproc, token)
    assert status == 401
    assert fragment in str(body["error"]["message"])  # type: ignore[index]
    assert challenge.startswith("Bearer authorization=")


async def test_clock_skew_within_five_minutes_is_tolerated(inproc: InProcess) -> None:
    token = inproc.forge(inproc.claims_for("crypto-user", exp=1_800_000_000 - 299))
    assert (await _hsm(inproc, token))[0] == 200


async def test_token_of_another_tenant_is_refused_for_this_tenants_resource(inproc: InProcess) -> None:
    status, body, _ = await _hsm(inproc, await inproc.token("other-tenant-sp"))
    assert status == 401
    assert "wrong issuer" in str(body["error"])


async def test_tampered_signature_is_refused(inproc: InProcess) -> None:
    token = await inproc.token("crypto-user")
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["oid"] = inproc.directory.sp("hsm-admin").object_id
    status, body, _ = await _hsm(inproc, f"{header}.{_b64(claims)}.{signature}")
    assert status == 401
    assert "signature" in str(body["error"])


async def test_alg_none_is_refused(inproc: InProcess) -> None:
    claims = inproc.claims_for("crypto-user")
    kid = inproc.emulator.require(SigningKeys).active.kid
    token = f"{_b64({'alg': 'none', 'typ': 'JWT', 'kid': kid})}.{_b64(claims)}."
    status, body, _ = await _hsm(inproc, token)
    assert status == 401
    assert "algorithm" in str(body["error"])


async def test_hs256_signed_with_the_public_key_is_refused(inproc: InProcess) -> None:
    key = inproc.emulator.require(SigningKeys).active
    public_pem = key.public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    # PyJWT itself refuses PEM keys as HMAC secrets; build the token by hand like an attacker would.
    import hashlib
    import hmac

    signing_input = f"{_b64({'alg': 'HS256', 'typ': 'JWT', 'kid': key.kid})}.{_b64(inproc.claims_for('crypto-user'))}"
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    token = f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
    status, body, _ = await _hsm(inproc, token)
    assert status == 401
    assert "algorithm" in str(body["error"])


async def test_unknown_kid_is_refused(inproc: InProcess) -> None:
    token = inproc.forge(inproc.claims_for("crypto-user"), kid="not-our-key")
    status, body, _ = await _hsm(inproc, token)
    assert status == 401
    assert "unknown key" in str(body["error"])


async def test_token_signed_by_a_foreign_key_with_our_kid_is_refused(inproc: InProcess) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    foreign = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    kid = inproc.emulator.require(SigningKeys).active.kid
    token = jwt.encode(inproc.claims_for("crypto-user"), foreign, algorithm="RS256", headers={"kid": kid})
    assert (await _hsm(inproc, token))[0] == 401


async def test_malformed_token_is_refused(inproc: InProcess) -> None:
    status, body, _ = await _hsm(inproc, "not.a.jwt")
    assert status == 401
    assert "malformed" in str(body["error"])


async def test_disabled_and_deleted_principals_lose_access_immediately(inproc: InProcess) -> None:
    token = await inproc.token("crypto-officer")
    object_id = inproc.directory.sp("crypto-officer").object_id
    assert (await _hsm(inproc, token))[0] == 200
    with inproc.emulator.db.transaction() as tx:
        directory_store.set_account_enabled(tx, object_id, False)
    status, body, _ = await _hsm(inproc, token)
    assert (status, "disabled" in str(body["error"])) == (401, True)
    with inproc.emulator.db.transaction() as tx:
        directory_store.set_account_enabled(tx, object_id, True)
    assert (await _hsm(inproc, token))[0] == 200
    with inproc.emulator.db.transaction() as tx:
        directory_store.delete_object(tx, object_id)
    status, body, _ = await _hsm(inproc, token)
    assert (status, "does not exist" in str(body["error"])) == (401, True)


async def test_groups_come_from_the_current_directory_not_the_token(inproc: InProcess) -> None:
    group = inproc.directory.crypto_group_id
    member = inproc.directory.sp("group-member").object_id
    token = await inproc.token("group-member")
    assert jwt.decode(token, options={"verify_signature": False})["groups"] == [group]
    status, body, _ = await _hsm(inproc, token)
    assert body["group_ids"] == [group]
    with inproc.emulator.db.transaction() as tx:
        directory_store.remove_member(tx, group, member)
    status, body, _ = await _hsm(inproc, token)
    assert (status, body["group_ids"]) == (200, [])


async def test_nested_groups_and_global_admin_through_a_group(inproc: InProcess) -> None:
    outer = "5c1f5a52-0000-4000-8000-000000000001"
    member = inproc.directory.sp("no-role").object_id
    with inproc.emulator.db.transaction() as tx:
        directory_store.upsert_object(
            tx, object_id=outer, tenant_id=inproc.directory.tenant_id, kind="Group", display_name="outer", now=0
        )
        directory_store.add_member(tx, outer, inproc.directory.crypto_group_id)
        directory_store.add_member(tx, inproc.directory.crypto_group_id, member)
        directory_store.add_global_admin(tx, inproc.directory.tenant_id, outer)
    _, body, _ = await _hsm(inproc, await inproc.token("no-role"))
    assert body["group_ids"] == sorted([outer, inproc.directory.crypto_group_id])
    assert body["is_global_admin"] is True


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({}, None),
        ({"exp": 1_800_000_000 - 400}, "ExpiredAuthenticationToken"),
        ({"aud": "https://managedhsm.azure.net"}, "InvalidAuthenticationTokenAudience"),
        ({"iss": "https://elsewhere.test/x/v2.0"}, "InvalidAuthenticationTokenTenant"),
        ({"oid": "00000000-0000-0000-0000-000000000002"}, "InvalidAuthenticationToken"),
    ],
)
async def test_arm_errors_use_arm_codes(inproc: InProcess, overrides: dict[str, object], code: str | None) -> None:
    claims = inproc.claims_for("sub-reader", audience="https://management.azure.com/", **overrides)
    response = await inproc.client.get("/probe/arm", headers={"Authorization": f"Bearer {inproc.forge(claims)}"})
    if code is None:
        assert response.status_code == 200
        return
    assert response.status_code == 401
    assert response.json()["error"]["code"] == code
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


async def test_arm_accepts_each_management_audience_spelling(inproc: InProcess) -> None:
    for audience in (
        "https://management.azure.com/",
        "https://management.azure.com",
        "https://management.core.windows.net/",
    ):
        claims = inproc.claims_for("sub-reader", audience=audience)
        response = await inproc.client.get("/probe/arm", headers={"Authorization": f"Bearer {inproc.forge(claims)}"})
        assert response.status_code == 200, audience


async def test_arm_missing_header_and_wrong_tenant(inproc: InProcess) -> None:
    response = await inproc.client.get("/probe/arm")
    assert response.status_code == 401
    assert response.json()["error"] == {
        "code": "AuthenticationFailed",
        "message": "Authentication failed. The 'Authorization' header is missing.",
    }
    token = await inproc.token("other-tenant-sp", "https://management.azure.com/")
    response = await inproc.client.get(
        "/probe/arm", params={"tenant": inproc.directory.tenant_id}, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.json()["error"]["code"] == "InvalidAuthenticationTokenTenant"


async def test_token_expires_after_one_hour(inproc: InProcess) -> None:
    token = await inproc.token("crypto-user")
    inproc.clock.now += 3600 + 300 + 1
    status, body, _ = await _hsm(inproc, token)
    assert status == 401
    assert "expiry" in str(body["error"])
