"""`authenticate(request, audience)`: the one token check in front of every protected endpoint of every plane.

Order of checks, each failing with 401 in the surface's own words (data plane: `Unauthorized` + the challenge
header; ARM: `InvalidAuthenticationToken*`; Graph: `InvalidAuthenticationToken`):
1. a Bearer token is present;
2. its header pins `alg` to RS256 and names a `kid` we signed with (no `none`, no HS256-with-the-public-key);
3. the signature verifies;
4. `exp` / `nbf` hold within the configured clock skew (at most 5 minutes);
5. `iss` is this emulator's issuer for the token's `tid`, the tenant exists, and (if the caller knows it) is the
   tenant the resource belongs to;
6. `aud` is one the API accepts;
7. the principal exists NOW and is enabled; its groups are read from the directory now, not from the token.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import jwt
from fastapi import Depends, Request

from hsm_emulator.errors import AzureError, ErrorStyle, GraphError, Unauthenticated
from hsm_emulator.identity import directory
from hsm_emulator.identity.audiences import ARM, DATA_PLANE, GRAPH, MANAGED_HSM_RESOURCE, ApiAudience
from hsm_emulator.identity.principal import Principal
from hsm_emulator.identity.signing_keys import SigningKeys
from hsm_emulator.runtime import Emulator

_REQUIRED_CLAIMS = ("exp", "nbf", "iat", "iss", "aud", "tid", "oid")


class _Rejection(Exception):
    """Why a token was refused; `kind` selects the ARM error code."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


def authenticate(request: Request, audience: ApiAudience, *, tenant_id: str | None = None) -> Principal:
    """Validate the request's Bearer token for `audience`; return the caller or raise a 401 `AzureError`.

    `tenant_id`: the tenant that owns the resource (the HSM's or the subscription's tenant). When given, the data
    plane challenge names it and a token from another tenant is refused.
    """
    emulator: Emulator = request.app.state.emulator
    try:
        token = _bearer_token(request)
        return _principal_for(emulator, token, audience, tenant_id)
    except _Rejection as rejection:
        raise _error(emulator, audience, rejection, tenant_id) from None


def _bearer_token(request: Request) -> str:
    headers = request.headers.getlist("authorization")
    if len(headers) > 1:
        # Which one counts would depend on the proxy or framework reading them: refuse instead of guessing.
        raise _Rejection("invalid", f"The request carries {len(headers)} Authorization headers; send exactly one.")
    header = headers[0] if headers else None
    if not header:
        raise _Rejection("missing", "Request is missing a Bearer or PoP token.")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _Rejection("missing", "The Authorization header must be 'Bearer <token>'.")
    return token.strip()


def _principal_for(emulator: Emulator, token: str, audience: ApiAudience, tenant_id: str | None) -> Principal:
    keys = emulator.require(SigningKeys)
    claims = verified_claims(token, keys)
    now = emulator.now()
    skew = emulator.settings.clock_skew_seconds
    if now > claims["exp"] + skew:
        raise _Rejection(
            "expired",
            f"The access token expiry UTC time '{_utc(claims['exp'])}' is earlier than current UTC time '{_utc(now)}'.",
        )
    if now + skew < claims["nbf"]:
        raise _Rejection("invalid", f"The access token is not valid before '{_utc(claims['nbf'])}'.")
    token_tenant = str(claims["tid"])
    if claims["iss"] != emulator.settings.issuer(token_tenant):
        raise _Rejection("tenant", f"The access token is from the wrong issuer '{claims['iss']}'.")
    if tenant_id is not None and token_tenant != tenant_id:
        raise _Rejection(
            "tenant",
            f"The access token is from the wrong issuer '{claims['iss']}'. It must match the tenant "
            f"'{emulator.settings.issuer(tenant_id)}' associated with this resource.",
        )
    token_audience = claims["aud"]
    if not isinstance(token_audience, str) or token_audience not in audience.accepted:
        raise _Rejection(
            "audience",
            f"Found token with aud={token_audience}, but expected one of {audience.describe_accepted()}.",
        )
    with emulator.db.read() as tx:
        if not directory.tenant_exists(tx, token_tenant):
            raise _Rejection("tenant", f"Tenant '{token_tenant}' not found.")
        subject = directory.get_object(tx, str(claims["oid"]))
        if subject is None or subject.tenant_id != token_tenant or subject.kind == "Group":
            raise _Rejection("invalid", f"The principal {claims['oid']} of the access token does not exist.")
        if not subject.account_enabled:
            raise _Rejection("invalid", f"The principal {subject.object_id} of the access token is disabled.")
        group_ids = directory.group_ids_of(tx, subject.object_id)
        is_admin = directory.is_global_admin(tx, token_tenant, group_ids | {subject.object_id})
    return Principal(
        tenant_id=token_tenant,
        object_id=subject.object_id,
        kind=subject.kind,
        app_id=subject.app_id if subject.kind != "User" else _optional_str(claims.get("appid")),
        display_name=subject.display_name,
        group_ids=group_ids,
        is_global_admin=is_admin,
    )


def verified_claims(token: str, keys: SigningKeys) -> dict[str, Any]:
    """Signature and shape check only (no time, audience or directory checks): RS256 with one of our keys."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise _Rejection("invalid", f"The access token is malformed: {exc}") from None
    if header.get("alg") != "RS256":
        raise _Rejection("invalid", f"The access token's signing algorithm {header.get('alg')!r} is not allowed.")
    kid = header.get("kid")
    public_key = keys.public_key(kid) if isinstance(kid, str) else None
    if public_key is None:
        raise _Rejection("invalid", "The access token is signed with an unknown key.")
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            public_key,
            algorithms=["RS256"],
            options={
                "require": list(_REQUIRED_CLAIMS),
                "verify_aud": False,  # checked by the caller, for the API's own error message
                "verify_iss": False,
                "verify_exp": False,  # checked against the emulator's clock, with the configured skew
                "verify_nbf": False,
                "verify_iat": False,
            },
        )
    except jwt.InvalidSignatureError:
        raise _Rejection("invalid", "The access token signature is invalid.") from None
    except jwt.PyJWTError as exc:
        raise _Rejection("invalid", f"The access token is invalid: {exc}") from None
    for claim in ("exp", "nbf", "iat"):
        if not isinstance(claims[claim], int) or isinstance(claims[claim], bool):
            raise _Rejection("invalid", f"The access token claim '{claim}' must be an integer.")
    for claim in ("iss", "tid", "oid"):
        if not isinstance(claims[claim], str):
            raise _Rejection("invalid", f"The access token claim '{claim}' must be a string.")
    return claims


_ARM_CODES = {
    "missing": "AuthenticationFailed",
    "invalid": "InvalidAuthenticationToken",
    "expired": "ExpiredAuthenticationToken",
    "audience": "InvalidAuthenticationTokenAudience",
    "tenant": "InvalidAuthenticationTokenTenant",
}


def _error(emulator: Emulator, audience: ApiAudience, rejection: _Rejection, tenant_id: str | None) -> AzureError:
    settings = emulator.settings
    if audience.style is ErrorStyle.DATA_PLANE:
        authority = f"{settings.main_url}/{tenant_id}" if tenant_id else settings.main_url
        challenge = f'Bearer authorization="{authority}", resource="{MANAGED_HSM_RESOURCE}"'
        return Unauthenticated(rejection.message, code="Unauthorized", headers={"WWW-Authenticate": challenge})
    if audience.style is ErrorStyle.GRAPH:
        return GraphError(
            rejection.message,
            code="InvalidAuthenticationToken",
            status=401,
            headers={"WWW-Authenticate": 'Bearer realm="", error="invalid_token"'},
        )
    message = (
        "Authentication failed. The 'Authorization' header is missing."
        if rejection.kind == "missing"
        else rejection.message
    )
    authority = f"{settings.main_url}/{tenant_id}" if tenant_id else f"{settings.main_url}/"
    description = message.replace('"', "'")
    challenge = f'Bearer authorization_uri="{authority}", error="invalid_token", error_description="{description}"'
    return Unauthenticated(message, code=_ARM_CODES[rejection.kind], headers={"WWW-Authenticate": challenge})


def _utc(timestamp: int) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%m/%d/%Y %H:%M:%S")


def _optional_str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def arm_principal(request: Request) -> Principal:
    """FastAPI dependency for ARM routes (tenant not checked here: the management plane checks the subscription's
    tenant itself, or calls `authenticate(request, ARM, tenant_id=...)` directly)."""
    return authenticate(request, ARM)


def graph_principal(request: Request) -> Principal:
    return authenticate(request, GRAPH)


def data_plane_principal(request: Request, tenant_id: str) -> Principal:
    """Convenience for the data plane: `authenticate(request, DATA_PLANE, tenant_id=hsm.tenant_id)`."""
    return authenticate(request, DATA_PLANE, tenant_id=tenant_id)


ArmPrincipal = Annotated[Principal, Depends(arm_principal)]
GraphPrincipal = Annotated[Principal, Depends(graph_principal)]
