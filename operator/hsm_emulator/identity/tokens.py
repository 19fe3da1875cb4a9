"""Minting access tokens (and id tokens for user sign-ins) the way Entra ID v2.0 shapes them."""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from typing import Any

import jwt

from hsm_emulator.identity.directory import DirectoryObject
from hsm_emulator.identity.signing_keys import SigningKeys
from hsm_emulator.settings import Settings


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    expires_in: int


def sign(keys: SigningKeys, claims: dict[str, Any]) -> str:
    key = keys.active
    return jwt.encode(claims, key.private_key, algorithm="RS256", headers={"kid": key.kid, "typ": "JWT"})


def access_token(
    *,
    settings: Settings,
    keys: SigningKeys,
    subject: DirectoryObject,
    audience: str,
    client_app_id: str,
    group_ids: frozenset[str],
    now: int,
) -> IssuedToken:
    """An RS256 access token for `subject` (a user, service principal or managed identity)."""
    lifetime = settings.token_lifetime_seconds
    claims: dict[str, Any] = {
        "aud": audience,
        "iss": settings.issuer(subject.tenant_id),
        "iat": now,
        "nbf": now,
        "exp": now + lifetime,
        "tid": subject.tenant_id,
        "oid": subject.object_id,
        "sub": subject.object_id,
        "appid": client_app_id,
        "azp": client_app_id,
        "groups": sorted(group_ids),
        "ver": "2.0",
        "uti": uuid.uuid4().hex,
        "idtyp": "user" if subject.kind == "User" else "app",
    }
    if subject.kind == "User":
        claims["upn"] = subject.user_principal_name
        claims["name"] = subject.display_name
        claims["scp"] = "user_impersonation"
    return IssuedToken(sign(keys, claims), lifetime)


def id_token(*, settings: Settings, keys: SigningKeys, user: DirectoryObject, client_id: str, now: int) -> str:
    """The OIDC id token MSAL wants for a user sign-in (audience = the client application)."""
    return sign(
        keys,
        {
            "aud": client_id,
            "iss": settings.issuer(user.tenant_id),
            "iat": now,
            "nbf": now,
            "exp": now + settings.token_lifetime_seconds,
            "tid": user.tenant_id,
            "oid": user.object_id,
            "sub": user.object_id,
            "preferred_username": user.user_principal_name,
            "name": user.display_name,
            "ver": "2.0",
        },
    )


def client_info(user: DirectoryObject) -> str:
    """MSAL's `client_info`: base64url JSON with the home account's object id and tenant."""
    raw = json.dumps({"uid": user.object_id, "utid": user.tenant_id}).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")
