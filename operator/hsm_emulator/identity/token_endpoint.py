"""Entra ID v2.0 endpoints: OIDC discovery, JWKS and `POST /{tenant}/oauth2/v2.0/token`.

Grants: `client_credentials` with a client secret (form field or HTTP Basic) or a federated `client_assertion`;
`password` for users. Managed identities have no secrets: they obtain tokens through a federated credential
(`managedIdentities[].federatedCredentials` in the config), as user-assigned identities do in Azure.
Every refusal uses Entra's body and AADSTS code so azure-identity raises ClientAuthenticationError with the reason.
"""

from __future__ import annotations

import base64
import binascii
import urllib.parse
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from hsm_emulator.app import EmulatorDep
from hsm_emulator.errors import OAuthError
from hsm_emulator.identity import directory, federation, tokens
from hsm_emulator.identity.audiences import ScopeError, audience_for_scope, wants_id_token
from hsm_emulator.identity.directory import DirectoryObject
from hsm_emulator.identity.signing_keys import SigningKeys
from hsm_emulator.runtime import Emulator

router = APIRouter(tags=["identity"])

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
_NO_CACHE = {"Cache-Control": "no-store, no-cache", "Pragma": "no-cache"}


def _tenant_not_found(tenant: str) -> OAuthError:
    return OAuthError(
        400,
        "invalid_request",
        90002,
        f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the "
        "correct cloud.",
    )


def _require_tenant(emulator: Emulator, tenant: str) -> str:
    canonical = tenant.lower()
    with emulator.db.read() as tx:
        if not directory.tenant_exists(tx, canonical):
            raise _tenant_not_found(tenant)
    return canonical


@router.get("/{tenant}/v2.0/.well-known/openid-configuration")
def openid_configuration(tenant: str, emulator: EmulatorDep) -> JSONResponse:
    tenant = _require_tenant(emulator, tenant)
    base = f"{emulator.settings.main_url}/{tenant}"
    return JSONResponse(
        {
            "issuer": emulator.settings.issuer(tenant),
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "jwks_uri": f"{base}/discovery/v2.0/keys",
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "grant_types_supported": ["client_credentials", "password"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nbf", "tid", "oid", "appid", "groups", "ver"],
            "tenant_region_scope": None,
            "cloud_instance_name": emulator.settings.advertised_host,
        }
    )


@router.get("/{tenant}/discovery/v2.0/keys")
def jwks(tenant: str, emulator: EmulatorDep) -> JSONResponse:
    _require_tenant(emulator, tenant)
    return JSONResponse(emulator.require(SigningKeys).jwks())


@router.post("/{tenant}/oauth2/v2.0/token")
async def token(tenant: str, request: Request, emulator: EmulatorDep) -> JSONResponse:
    form = await _form(request)
    tenant = _require_tenant(emulator, tenant)
    grant_type = _required(form, "grant_type")
    if grant_type == "client_credentials":
        body = await _client_credentials(emulator, tenant, form, request)
    elif grant_type == "password":
        body = _password(emulator, tenant, form)
    else:
        raise OAuthError(
            400, "unsupported_grant_type", 70003, f"The app requested an unsupported grant type '{grant_type}'."
        )
    return JSONResponse(body, headers=_NO_CACHE)


async def _form(request: Request) -> dict[str, str]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise OAuthError(400, "invalid_request", 900144, "The request body must be application/x-www-form-urlencoded.")
    try:
        pairs = urllib.parse.parse_qsl(
            (await request.body()).decode("utf-8"), keep_blank_values=True, strict_parsing=False
        )
    except UnicodeDecodeError:
        raise OAuthError(400, "invalid_request", 900144, "The request body is not valid UTF-8.") from None
    form: dict[str, str] = {}
    for key, value in pairs:
        if key in form:
            raise OAuthError(
                400,
                "invalid_request",
                90015,
                f"Requested query string is too long or the parameter '{key}' is duplicated.",
            )
        form[key] = value
    return form


def _required(form: dict[str, str], name: str) -> str:
    value = form.get(name, "")
    if not value:
        raise OAuthError(
            400, "invalid_request", 900144, f"The request body must contain the following parameter: '{name}'."
        )
    return value


def _audience(form: dict[str, str]) -> str:
    try:
        return audience_for_scope(_required(form, "scope"))
    except ScopeError as exc:
        if "resource principal" in str(exc):
            raise OAuthError(400, "invalid_resource", 500011, str(exc)) from None
        raise OAuthError(400, "invalid_scope", 70011, str(exc)) from None


def _basic_credentials(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        client_id, _, secret = base64.b64decode(encoded, validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise OAuthError(
            401,
            "invalid_client",
            7000215,
            "Invalid client secret provided: the HTTP Basic credentials are not valid base64.",
        ) from None
    # RFC 6749 section 2.3.1: both parts are form-urlencoded before base64.
    return urllib.parse.unquote_plus(client_id), urllib.parse.unquote_plus(secret)


async def _client_credentials(
    emulator: Emulator, tenant: str, form: dict[str, str], request: Request
) -> dict[str, Any]:
    basic = _basic_credentials(request)
    if basic is not None:
        if form.get("client_id") and form["client_id"] != basic[0]:
            raise OAuthError(
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided: the client id of the Authorization header and the form differ.",
            )
        form = {**form, "client_id": basic[0], "client_secret": basic[1]}
    client_id = _required(form, "client_id")
    audience = _audience(form)
    secret, assertion = form.get("client_secret"), form.get("client_assertion")
    with emulator.db.read() as tx:
        client = directory.find_client(tx, tenant, client_id)
        if client is None:
            raise OAuthError(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the directory '{tenant}'. This can "
                "happen if the application has not been installed by the administrator of the tenant or consented "
                "to by any user in the tenant. You may have sent your authentication request to the wrong tenant.",
            )
        if not client.account_enabled:
            raise OAuthError(
                400,
                "unauthorized_client",
                7000112,
                f"Application '{client.app_id}'({client.display_name}) is disabled.",
            )
        credentials = directory.federated_credentials(tx, client.object_id)
        secret_ok = secret is not None and directory.verify_client_secret(tx, client.object_id, secret)
    if assertion:
        if form.get("client_assertion_type") != JWT_BEARER:
            raise OAuthError(
                400,
                "invalid_request",
                900144,
                f"The request body must contain the parameter 'client_assertion_type' = '{JWT_BEARER}'.",
            )
        if secret:
            raise OAuthError(
                400, "invalid_request", 90014, "Only one of 'client_secret' and 'client_assertion' may be given."
            )

        def tenant_exists(candidate: str) -> bool:
            with emulator.db.read() as read_tx:
                return directory.tenant_exists(read_tx, candidate)

        await federation.verify_assertion(
            assertion,
            credentials,
            settings=emulator.settings,
            own_keys=emulator.require(SigningKeys),
            tenant_exists=tenant_exists,
            jwks_cache=emulator.require(federation.JwksCache),
            now=emulator.now(),
        )
    elif secret:
        if not secret_ok:
            raise OAuthError(
                401,
                "invalid_client",
                7000215,
                f"Invalid client secret provided. Ensure the secret being sent in the request is the client secret "
                f"value, not the client secret ID, for a secret added to app '{client.app_id}'.",
            )
    else:
        raise OAuthError(
            401,
            "invalid_client",
            7000216,
            "'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type.",
        )
    return _token_response(emulator, client, audience, client_app_id=client.app_id or client_id)


def _password(emulator: Emulator, tenant: str, form: dict[str, str]) -> dict[str, Any]:
    client_id = _required(form, "client_id")
    username = _required(form, "username")
    password = _required(form, "password")
    audience = _audience(form)
    with emulator.db.read() as tx:
        user = directory.find_user(tx, tenant, username)
        valid = user is not None and directory.verify_password(tx, user.object_id, password)
    if user is None:
        raise OAuthError(
            400,
            "invalid_grant",
            50034,
            f"The user account {username} does not exist in the {tenant} directory. To sign into this "
            "application, the account must be added to the directory.",
        )
    if not valid:
        raise OAuthError(
            400, "invalid_grant", 50126, "Error validating credentials due to invalid username or password."
        )
    if not user.account_enabled:
        raise OAuthError(400, "invalid_grant", 50057, "The user account is disabled.")
    body = _token_response(emulator, user, audience, client_app_id=client_id)
    if wants_id_token(form.get("scope", "")):
        keys = emulator.require(SigningKeys)
        body["id_token"] = tokens.id_token(
            settings=emulator.settings, keys=keys, user=user, client_id=client_id, now=emulator.now()
        )
        body["client_info"] = tokens.client_info(user)
    return body


def _token_response(
    emulator: Emulator, subject: DirectoryObject, audience: str, *, client_app_id: str
) -> dict[str, Any]:
    with emulator.db.read() as tx:
        groups = directory.group_ids_of(tx, subject.object_id)
    issued = tokens.access_token(
        settings=emulator.settings,
        keys=emulator.require(SigningKeys),
        subject=subject,
        audience=audience,
        client_app_id=client_app_id,
        group_ids=groups,
        now=emulator.now(),
    )
    return {
        "token_type": "Bearer",
        "expires_in": issued.expires_in,
        "ext_expires_in": issued.expires_in,
        "access_token": issued.access_token,
    }
