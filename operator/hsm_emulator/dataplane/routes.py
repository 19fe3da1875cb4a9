"""The HTTP surface of an HSM port: one catch-all route that normalises the path and dispatches by table.

A table instead of FastAPI path templates because the SDKs send paths no template matches (``///providers/...``,
``/keys/n//sign``); matching after collapsing slashes keeps every variant on one handler. Every handler starts with
``call.authorize(...)`` (the one RBAC decision), then reads its body, then does its work in one transaction.
Full backup/restore and security-domain upload (a later issue) plug in with :func:`register`.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from hsm_emulator.crypto import operations
from hsm_emulator.crypto.errors import CryptoError
from hsm_emulator.dataplane import (
    activation,
    b64,
    crypto_service,
    key_release,
    keys_service,
    models,
    protocol,
    rbac_service,
    scopes,
    settings_service,
)
from hsm_emulator.dataplane.call import Call, not_activated, open_call
from hsm_emulator.dataplane.roles import DataAction
from hsm_emulator.errors import AzureError, MethodNotAllowed, NotFound
from hsm_emulator.identity.federation import JwksCache

Handler = Callable[[Call, dict[str, str]], Awaitable[Response]]
_ROUTES: list[tuple[str, re.Pattern[str], Handler, bool]] = []

NAME = r"(?P<name>[^/]+)"
VERSION = r"(?P<version>[0-9a-fA-F]{32})"
PROVIDERS = "/providers/Microsoft.Authorization"


def register(method: str, pattern: str, *, before_activation: bool = False) -> Callable[[Handler], Handler]:
    """Add a route; ``pattern`` is matched (case-insensitively) against the normalised path."""

    def decorate(handler: Handler) -> Handler:
        _ROUTES.append((method, re.compile(f"^{pattern}$", re.IGNORECASE), handler, before_activation))
        return handler

    return decorate


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=headers)


def _page(call: Call, page: keys_service.Page) -> JSONResponse:
    link = protocol.next_link(call.hsm.base_url, call.path, call.api_version, page.limit, page.next_skip_token)
    return _json({"value": page.items, "nextLink": link})


router = APIRouter()


@router.api_route("/{path:path}", methods=["GET", "PUT", "POST", "PATCH", "DELETE"], include_in_schema=False)
async def dispatch(request: Request, path: str) -> Response:
    normalized = protocol.normalize_path("/" + path)
    method = request.method
    matches = [(route, route[1].match(normalized)) for route in _ROUTES]
    candidates = [(route, match) for route, match in matches if match is not None]
    if not candidates:
        raise NotFound(f"The requested path {request.url.path} was not found.", code="NotFound")
    for (route_method, _, handler, before_activation), match in candidates:
        if route_method != method:
            continue
        call = open_call(request, request.app.state.emulator, normalized)
        if not call.activated and not before_activation:
            raise not_activated(call.hsm.name)
        return await handler(call, {k: v for k, v in match.groupdict().items() if v is not None})
    raise MethodNotAllowed(f"The HTTP method {method} is not supported for {request.url.path}.")


# ------------------------------------------------------------------------------------------------ keys


def _key_scope(name: str) -> str:
    keys_service.validate_name(name)
    return scopes.key_scope(name)


@register("POST", f"/keys/{NAME}/create")
async def create_key(call: Call, m: dict[str, str]) -> Response:
    call.authorize(DataAction.KEYS_CREATE, _key_scope(m["name"]))
    body = await call.body(models.KeyCreateParameters)
    with call.db.transaction() as tx:
        return _json(keys_service.create_key(tx, call.hsm, m["name"], body, call.now()))


@register("PUT", f"/keys/{NAME}")
async def import_key(call: Call, m: dict[str, str]) -> Response:
    call.authorize(DataAction.KEYS_IMPORT, _key_scope(m["name"]))
    body = await call.body(models.KeyImportParameters)
    with call.db.transaction() as tx:
        return _json(keys_service.import_key(tx, call.hsm, m["name"], body, call.now()))


def _key_list_page(call: Call, *, deleted: bool) -> Response:
    """One page of the key list or the deleted-key list (the same paging, different rows)."""
    with call.db.transaction() as tx:
        page = keys_service.list_keys(
            tx,
            call.hsm,
            deleted=deleted,
            maxresults=call.maxresults(),
            skip_token=call.query("$skiptoken"),
            now=call.now(),
        )
    return _page(call, page)


@register("GET", "/keys")
async def list_keys(call: Call, m: dict[str, str]) -> Response:
    call.authorize(DataAction.KEYS_READ, scopes.KEYS_SCOPE)
    return _key_list_page(call, deleted=False)


@register("GET", f"/keys/{NAME}/versions")
async def list_versions(call: Call, m: dict[str, str]) -> Response:
    call.authorize(DataAction.KEYS_READ, _key_scope(m["name"]))
    with call.db.read() as tx:
        page = keys_service.list_versions(
            tx, call.hsm, m["name"], maxresults=call.maxresults(), skip_token=call.query("$skiptoken")
        )
    return _page(call, page)


@register("GET", f"/keys/{NAME}(?:/{VERSION})?")
async def get_key(call: Call, m: dict[str, str]) -> Response:
    call.authorize(DataAction.KEYS_READ, _key_scope(m["name"]))
    with call.db.read() as tx:
        return _json(keys_service.get_key(tx, call.hsm, m["name"], m.get("version")))


@register("PATCH", f"/keys/{NAME}(?:/{VERSION})?")
async def update_key(call: Call, m: dict[str, str]) -> Response:
    call.authorize(DataAction.KEYS_WRITE, _key_scope(m["name"]))
    body = await call.body(models.KeyUpdateParameters)
    with call.db.transaction() as tx:
        return _json(keys_service.update_key(tx, call.hsm, m["name"], m.get("version"), body, call.now()))


@register("DELETE", f"/keys/{NAME}")
async def delete_key(call: Call, m: dict[str, str]) -> Response:
    call.authorize(DataAction.KEYS_DELETE, _key_scope(m["name"]))
    with call.db.transaction() as tx:
        return _json(keys_service.delete_key(tx, call.hsm, m["name"], call.now()))


@register("GET", "/deletedkeys")
async def list_deleted_keys(call: Call, m: dict[str, str]) -> Response:
    call.authorize(DataAction.DELETED_KEYS_READ, scopes.KEYS_SCOPE)
    return _key_list_page(call, deleted=True)


@register("GET", f"/deletedkeys/{NAME}")
async def get_deleted_key(call: Call, m: dict[str, str]) -> Response:
    call.authorize(DataAction.DELETED_KEYS_READ, _key_scope(m["name"]))
    with call.db.transaction() as tx:
        return _json(keys_service.get_deleted_key(tx, call.hsm, m["name"], call.now()))


@register("DELETE", f"/deletedkeys/{NAME}")
async def purge_deleted_key(call: Call, m: dict[str, str]) -> Response:
    call.authorize(DataAction.DELETED_KEYS_PURGE, _key_scope(m["name"]))
    with call.db.transaction() as tx:
        keys_service.purge_deleted_key(tx, call.hsm, m["name"], call.now())
    return Response(status_code=204)


@register("POST", f"/deletedkeys/{NAME}/recover")
async def recover_deleted_key(call: Call, m: dict[str, str]) -> Response:
    call.authorize(DataAction.DELETED_KEYS_RECOVER, _key_scope(m["name"]))
    with call.db.transaction() as tx:
        return _json(keys_service.recover_deleted_key(tx, call.hsm, m["name"], call.now()))


@register("POST", f"/keys/{NAME}/backup")
async def backup_key(call: Call, m: dict[str, str]) -> Response:
    call.authorize(DataAction.KEYS_BACKUP, _key_scope(m["name"]))
    with call.db.read() as tx:
        return _json(keys_service.backup_key(tx, call.hsm, m["name"]))


@register("POST", "/keys/restore")
async def restore_key(call: Call, m: dict[str, str]) -> Response:
    call.authorize(DataAction.KEYS_RESTORE, scopes.KEYS_SCOPE)
    body = await call.body(models.KeyRestoreParameters)
    with call.db.transaction() as tx:
        return _json(keys_service.restore_key(tx, call.hsm, body, call.now()))


@register("POST", f"/keys/{NAME}/rotate")
async def rotate_key(call: Call, m: dict[str, str]) -> Response:
    call.authorize(DataAction.KEYS_ROTATE, _key_scope(m["name"]))
    with call.db.transaction() as tx:
        return _json(keys_service.rotate_key(tx, call.hsm, m["name"], call.now()))


@register("GET", f"/keys/{NAME}/rotationpolicy")
async def get_rotation_policy(call: Call, m: dict[str, str]) -> Response:
    call.authorize(DataAction.KEYS_READ, _key_scope(m["name"]))
    with call.db.read() as tx:
        return _json(keys_service.get_rotation_policy(tx, call.hsm, m["name"]))


@register("PUT", f"/keys/{NAME}/rotationpolicy")
async def set_rotation_policy(call: Call, m: dict[str, str]) -> Response:
    call.authorize(DataAction.KEYS_WRITE, _key_scope(m["name"]))
    body = await call.body(models.RotationPolicyIn)
    with call.db.transaction() as tx:
        return _json(keys_service.set_rotation_policy(tx, call.hsm, m["name"], body, call.now()))


_CRYPTO_BODY: dict[str, type[models.KeyOperationParameters | models.KeySignParameters | models.KeyVerifyParameters]] = {
    "sign": models.KeySignParameters,
    "verify": models.KeyVerifyParameters,
}
_CRYPTO_ACTION = {
    "encrypt": DataAction.ENCRYPT,
    "decrypt": DataAction.DECRYPT,
    "wrapKey": DataAction.WRAP,
    "unwrapKey": DataAction.UNWRAP,
    "sign": DataAction.SIGN,
    "verify": DataAction.VERIFY,
}


@register("POST", f"/keys/{NAME}(?:/{VERSION})?/(?P<op>encrypt|decrypt|wrapkey|unwrapkey|sign|verify)")
async def crypto_operation(call: Call, m: dict[str, str]) -> Response:
    operation = crypto_service.OPERATION_BY_SEGMENT[m["op"].lower()]
    call.authorize(_CRYPTO_ACTION[operation], _key_scope(m["name"]))
    body = await call.body(_CRYPTO_BODY.get(operation, models.KeyOperationParameters))
    with call.db.read() as tx:
        kid, material = keys_service.key_for_operation(tx, call.hsm, m["name"], m.get("version"), operation, call.now())
    return _json(crypto_service.run(operation, kid, material, body))


@register("POST", f"/keys/{NAME}(?:/{VERSION})?/release")
async def release_key(call: Call, m: dict[str, str]) -> Response:
    call.authorize(DataAction.KEYS_RELEASE, _key_scope(m["name"]))
    body = await call.body(models.KeyReleaseParameters)
    enc = key_release.check_encryption_algorithm(body.enc)
    with call.db.read() as tx:
        releasable = key_release.releasable_version(tx, call.hsm, m["name"], m.get("version"))
    settings = call.emulator.settings
    target = await key_release.verify_target(
        body.target,
        releasable.policy,
        call.emulator.require(JwksCache),
        now=call.now(),
        skew=settings.clock_skew_seconds,
    )
    with call.db.transaction() as tx:
        identity = key_release.signing_identity(tx, call.emulator.hardware_root_key, call.hsm, call.now())
    return _json(
        key_release.release_response(
            releasable, target, identity, enc=enc, nonce=body.nonce, api_version=call.api_version
        )
    )


@register("POST", "/rng")
async def random_bytes(call: Call, m: dict[str, str]) -> Response:
    call.authorize(DataAction.RNG, scopes.HSM_SCOPE)
    body = await call.body(models.RandomBytesRequest)
    try:
        return _json({"value": b64.encode(operations.random_bytes(body.count))})
    except CryptoError as exc:
        raise AzureError(exc.message, code=exc.code, status=400) from None


# ------------------------------------------------------------------------------------------------ local RBAC


def _rbac_scope(raw: str) -> str:
    try:
        return scopes.normalize_scope(raw)
    except scopes.InvalidScope as exc:
        raise AzureError(str(exc), code="BadParameter", status=400) from None


SCOPE = r"(?P<scope>(?:/keys(?:/[^/]+)?)?)"


@register("GET", f"{SCOPE}{PROVIDERS}/roleAssignments")
async def list_role_assignments(call: Call, m: dict[str, str]) -> Response:
    scope = _rbac_scope(m.get("scope", ""))
    call.authorize(DataAction.ROLE_ASSIGNMENTS_READ, scope)
    with call.db.read() as tx:
        return _json(
            {"value": rbac_service.list_assignments(tx, call.hsm, scope, call.query("$filter")), "nextLink": None}
        )


@register("GET", f"{SCOPE}{PROVIDERS}/roleAssignments/{NAME}")
async def get_role_assignment(call: Call, m: dict[str, str]) -> Response:
    _rbac_scope(m.get("scope", ""))
    with call.db.read() as tx:
        stored = rbac_service.existing_assignment(tx, call.hsm, m["name"])
        rbac_service.authorize(tx, call.hsm, call.principal, DataAction.ROLE_ASSIGNMENTS_READ, stored.scope)
        return _json(rbac_service.render_assignment(stored))


@register("PUT", f"{SCOPE}{PROVIDERS}/roleAssignments/{NAME}")
async def create_role_assignment(call: Call, m: dict[str, str]) -> Response:
    scope = _rbac_scope(m.get("scope", ""))
    call.authorize(DataAction.ROLE_ASSIGNMENTS_WRITE, scope)
    body = await call.body(models.RoleAssignmentCreateParameters)
    with call.db.transaction() as tx:
        return _json(rbac_service.create_assignment(tx, call.hsm, scope, m["name"], body), status=201)


@register("DELETE", f"{SCOPE}{PROVIDERS}/roleAssignments/{NAME}")
async def delete_role_assignment(call: Call, m: dict[str, str]) -> Response:
    _rbac_scope(m.get("scope", ""))
    with call.db.transaction() as tx:
        stored = rbac_service.existing_assignment(tx, call.hsm, m["name"])
        rbac_service.authorize(tx, call.hsm, call.principal, DataAction.ROLE_ASSIGNMENTS_DELETE, stored.scope)
        return _json(rbac_service.delete_assignment(tx, call.hsm, m["name"]))


@register("GET", f"{SCOPE}{PROVIDERS}/roleDefinitions")
async def list_role_definitions(call: Call, m: dict[str, str]) -> Response:
    scope = _rbac_scope(m.get("scope", ""))
    call.authorize(DataAction.ROLE_DEFINITIONS_READ, scopes.HSM_SCOPE)
    with call.db.read() as tx:
        return _json(
            {"value": rbac_service.list_definitions(tx, call.hsm, scope, call.query("$filter")), "nextLink": None}
        )


@register("GET", f"{SCOPE}{PROVIDERS}/roleDefinitions/{NAME}")
async def get_role_definition(call: Call, m: dict[str, str]) -> Response:
    scope = _rbac_scope(m.get("scope", ""))
    call.authorize(DataAction.ROLE_DEFINITIONS_READ, scopes.HSM_SCOPE)
    with call.db.read() as tx:
        return _json(rbac_service.get_definition(tx, call.hsm, scope, m["name"]))


@register("PUT", f"{SCOPE}{PROVIDERS}/roleDefinitions/{NAME}")
async def set_role_definition(call: Call, m: dict[str, str]) -> Response:
    scope = _rbac_scope(m.get("scope", ""))
    call.authorize(DataAction.ROLE_DEFINITIONS_WRITE, scopes.HSM_SCOPE)
    body = await call.body(models.RoleDefinitionCreateParameters)
    with call.db.transaction() as tx:
        return _json(rbac_service.set_definition(tx, call.hsm, scope, m["name"], body), status=201)


@register("DELETE", f"{SCOPE}{PROVIDERS}/roleDefinitions/{NAME}")
async def delete_role_definition(call: Call, m: dict[str, str]) -> Response:
    scope = _rbac_scope(m.get("scope", ""))
    call.authorize(DataAction.ROLE_DEFINITIONS_DELETE, scopes.HSM_SCOPE)
    with call.db.transaction() as tx:
        return _json(rbac_service.delete_definition(tx, call.hsm, scope, m["name"]))


# ------------------------------------------------------------------------------------------------ settings


@register("GET", "/settings")
async def list_settings(call: Call, m: dict[str, str]) -> Response:
    call.authorize(DataAction.SETTINGS_READ, scopes.HSM_SCOPE)
    with call.db.read() as tx:
        return _json(settings_service.list_settings(tx, call.hsm.id))


@register("GET", f"/settings/{NAME}")
async def get_setting(call: Call, m: dict[str, str]) -> Response:
    call.authorize(DataAction.SETTINGS_READ, scopes.HSM_SCOPE)
    with call.db.read() as tx:
        return _json(settings_service.get_setting(tx, call.hsm.id, m["name"]))


@register("PATCH", f"/settings/{NAME}")
async def update_setting(call: Call, m: dict[str, str]) -> Response:
    call.authorize(DataAction.SETTINGS_WRITE, scopes.HSM_SCOPE)
    body = await call.body(models.SettingUpdateParameters)
    with call.db.transaction() as tx:
        return _json(settings_service.update_setting(tx, call.hsm.id, m["name"], body.value))


# ------------------------------------------------------------------------------------------------ activation


@register("POST", "/securitydomain/download", before_activation=True)
async def download_security_domain(call: Call, m: dict[str, str]) -> Response:
    call.authorize(DataAction.SD_DOWNLOAD, scopes.HSM_SCOPE)
    body = activation.parse_json(await call.request.body())
    value = activation.download(call.db, call.hsm, body, call.activated, call.now())
    polling_url = f"{call.hsm.base_url}/securitydomain/download/pending?api-version={call.api_version}"
    return _json({"value": value}, status=202, headers={"Azure-AsyncOperation": polling_url, "Retry-After": "1"})


@register("GET", "/securitydomain/download/pending", before_activation=True)
async def download_status(call: Call, m: dict[str, str]) -> Response:
    call.authorize(DataAction.SD_DOWNLOAD_READ, scopes.HSM_SCOPE)
    return _json(activation.status(call.activated))
