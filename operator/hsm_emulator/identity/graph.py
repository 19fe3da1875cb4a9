# ruff: noqa: N815 - field names are the wire/config names (camelCase) on purpose
"""A Graph-style directory API (`/v1.0/...`, audience https://graph.microsoft.com) for Global Administrators.

Covers what tests and operators need to change who may do what at runtime: users, service principals (with
`addPassword` for client secrets), groups and their members. Effects are immediate in every plane because
`authenticate()` reads the directory on every request. Shapes and error codes follow Microsoft Graph v1.0.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from hsm_emulator.app import EmulatorDep
from hsm_emulator.errors import GraphError, read_json_body
from hsm_emulator.identity import directory
from hsm_emulator.identity.auth import graph_principal
from hsm_emulator.identity.directory import DirectoryConflict, DirectoryObject, ObjectKind
from hsm_emulator.identity.principal import Principal
from hsm_emulator.runtime import Emulator
from hsm_emulator.storage import Transaction

router = APIRouter(prefix="/v1.0", tags=["directory"])

_DIRECTORY_OBJECT_REF = re.compile(r"/directoryObjects/([0-9A-Fa-f-]{36})/?$")


def global_administrator(principal: Annotated[Principal, Depends(graph_principal)]) -> Principal:
    if not principal.is_global_admin:
        raise GraphError(
            "Insufficient privileges to complete the operation.", code="Authorization_RequestDenied", status=403
        )
    return principal


Admin = Annotated[Principal, Depends(global_administrator)]


class _GraphBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class PasswordProfile(_GraphBody):
    password: Annotated[str, Field(min_length=1)]
    forceChangePasswordNextSignIn: bool = False


class NewUser(_GraphBody):
    accountEnabled: bool = True
    displayName: Annotated[str, Field(min_length=1, max_length=256)]
    userPrincipalName: Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$")]
    mailNickname: str | None = None
    passwordProfile: PasswordProfile


class UserPatch(_GraphBody):
    accountEnabled: bool | None = None
    displayName: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    passwordProfile: PasswordProfile | None = None


class NewServicePrincipal(_GraphBody):
    appId: Annotated[str, Field(pattern=r"^[0-9A-Fa-f]{8}-([0-9A-Fa-f]{4}-){3}[0-9A-Fa-f]{12}$")]
    displayName: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    accountEnabled: bool = True


class ServicePrincipalPatch(_GraphBody):
    accountEnabled: bool | None = None
    displayName: Annotated[str, Field(min_length=1, max_length=256)] | None = None


class PasswordCredentialRequest(_GraphBody):
    displayName: str | None = None


class AddPassword(_GraphBody):
    passwordCredential: PasswordCredentialRequest = PasswordCredentialRequest()


class NewGroup(_GraphBody):
    displayName: Annotated[str, Field(min_length=1, max_length=256)]
    mailEnabled: bool = False
    mailNickname: str | None = None
    securityEnabled: bool = True
    description: str | None = None


class GroupPatch(_GraphBody):
    displayName: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    description: str | None = None


class MemberReference(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True)
    odata_id: str = Field(alias="@odata.id", min_length=1)


_ODATA_TYPES: dict[ObjectKind, str] = {
    "User": "#microsoft.graph.user",
    "Group": "#microsoft.graph.group",
    "ServicePrincipal": "#microsoft.graph.servicePrincipal",
    "ManagedIdentity": "#microsoft.graph.servicePrincipal",
}


def _graph_json(obj: DirectoryObject) -> dict[str, Any]:
    body: dict[str, Any] = {"@odata.type": _ODATA_TYPES[obj.kind], "id": obj.object_id, "displayName": obj.display_name}
    if obj.kind == "User":
        body.update(userPrincipalName=obj.user_principal_name, accountEnabled=obj.account_enabled)
    elif obj.kind == "Group":
        body.update(securityEnabled=True, mailEnabled=False)
    else:
        body.update(
            appId=obj.app_id,
            accountEnabled=obj.account_enabled,
            servicePrincipalType="ManagedIdentity" if obj.kind == "ManagedIdentity" else "Application",
        )
    return body


def _not_found(object_id: str) -> GraphError:
    return GraphError(
        f"Resource '{object_id}' does not exist or one of its queried reference-property objects are not present.",
        code="Request_ResourceNotFound",
        status=404,
    )


def _lookup(tx: Transaction, admin: Principal, identifier: str, kinds: tuple[ObjectKind, ...]) -> DirectoryObject:
    found = directory.get_object(tx, identifier)
    if found is None and "User" in kinds and "@" in identifier:
        found = directory.find_user(tx, admin.tenant_id, identifier)
    if found is None or found.tenant_id != admin.tenant_id or found.kind not in kinds:
        raise _not_found(identifier)
    return found


def _collection(emulator: Emulator, name: str, objects: list[DirectoryObject]) -> JSONResponse:
    return JSONResponse(
        {
            "@odata.context": f"https://graph.microsoft.com/v1.0/$metadata#{name}",
            "value": [_graph_json(o) for o in objects],
        }
    )


def _created(name: str, obj: DirectoryObject, request: Request) -> JSONResponse:
    body = {"@odata.context": f"https://graph.microsoft.com/v1.0/$metadata#{name}/$entity", **_graph_json(obj)}
    return JSONResponse(body, status_code=201, headers={"Location": f"{request.url}/{obj.object_id}"})


def _conflict(exc: DirectoryConflict) -> GraphError:
    return GraphError(
        f"Another object with the same value for property exists: {exc}", code="Request_BadRequest", status=400
    )


# ---- users -------------------------------------------------------------------------------------------------------


@router.get("/users")
def list_users(admin: Admin, emulator: EmulatorDep) -> JSONResponse:
    with emulator.db.read() as tx:
        return _collection(emulator, "users", directory.list_objects(tx, admin.tenant_id, ("User",)))


@router.post("/users")
async def create_user(request: Request, admin: Admin, emulator: EmulatorDep) -> JSONResponse:
    body = await read_json_body(request, NewUser)
    with emulator.db.transaction() as tx:
        try:
            user = (
                directory.upsert_object(
                    tx,
                    object_id=str(uuid.uuid4()),
                    tenant_id=admin.tenant_id,
                    kind="User",
                    display_name=body.displayName,
                    now=emulator.now(),
                    account_enabled=body.accountEnabled,
                    user_principal_name=body.userPrincipalName,
                )
                if directory.find_user(tx, admin.tenant_id, body.userPrincipalName) is None
                else None
            )
        except DirectoryConflict as exc:
            raise _conflict(exc) from None
        if user is None:
            raise GraphError(
                "Another object with the same value for property userPrincipalName already exists.",
                code="Request_BadRequest",
                status=400,
            )
        directory.set_password(tx, user.object_id, body.passwordProfile.password)
    return _created("users", user, request)


@router.get("/users/{user_id}")
def get_user(user_id: str, admin: Admin, emulator: EmulatorDep) -> JSONResponse:
    with emulator.db.read() as tx:
        return JSONResponse(_graph_json(_lookup(tx, admin, user_id, ("User",))))


@router.patch("/users/{user_id}")
async def update_user(user_id: str, request: Request, admin: Admin, emulator: EmulatorDep) -> Response:
    body = await read_json_body(request, UserPatch)
    with emulator.db.transaction() as tx:
        user = _lookup(tx, admin, user_id, ("User",))
        if body.accountEnabled is not None:
            directory.set_account_enabled(tx, user.object_id, body.accountEnabled)
        if body.displayName is not None:
            directory.set_display_name(tx, user.object_id, body.displayName)
        if body.passwordProfile is not None:
            directory.set_password(tx, user.object_id, body.passwordProfile.password)
    return Response(status_code=204)


@router.delete("/users/{user_id}")
def delete_user(user_id: str, admin: Admin, emulator: EmulatorDep) -> Response:
    return _delete(emulator, admin, user_id, ("User",))


# ---- service principals ------------------------------------------------------------------------------------------


@router.get("/servicePrincipals")
def list_service_principals(admin: Admin, emulator: EmulatorDep) -> JSONResponse:
    with emulator.db.read() as tx:
        objects = directory.list_objects(tx, admin.tenant_id, ("ServicePrincipal", "ManagedIdentity"))
    return _collection(emulator, "servicePrincipals", objects)


@router.post("/servicePrincipals")
async def create_service_principal(request: Request, admin: Admin, emulator: EmulatorDep) -> JSONResponse:
    body = await read_json_body(request, NewServicePrincipal)
    with emulator.db.transaction() as tx:
        if directory.find_client(tx, admin.tenant_id, body.appId) is not None:
            raise GraphError(
                f"A service principal with appId {body.appId} already exists.",
                code="Request_MultipleObjectsWithSameKeyValue",
                status=409,
            )
        try:
            sp = directory.upsert_object(
                tx,
                object_id=str(uuid.uuid4()),
                tenant_id=admin.tenant_id,
                kind="ServicePrincipal",
                display_name=body.displayName or body.appId,
                now=emulator.now(),
                account_enabled=body.accountEnabled,
                app_id=body.appId,
            )
        except DirectoryConflict as exc:
            raise _conflict(exc) from None
    return _created("servicePrincipals", sp, request)


@router.get("/servicePrincipals/{sp_id}")
def get_service_principal(sp_id: str, admin: Admin, emulator: EmulatorDep) -> JSONResponse:
    with emulator.db.read() as tx:
        return JSONResponse(_graph_json(_lookup(tx, admin, sp_id, ("ServicePrincipal", "ManagedIdentity"))))


@router.patch("/servicePrincipals/{sp_id}")
async def update_service_principal(sp_id: str, request: Request, admin: Admin, emulator: EmulatorDep) -> Response:
    body = await read_json_body(request, ServicePrincipalPatch)
    with emulator.db.transaction() as tx:
        sp = _lookup(tx, admin, sp_id, ("ServicePrincipal", "ManagedIdentity"))
        if body.accountEnabled is not None:
            directory.set_account_enabled(tx, sp.object_id, body.accountEnabled)
        if body.displayName is not None:
            directory.set_display_name(tx, sp.object_id, body.displayName)
    return Response(status_code=204)


@router.delete("/servicePrincipals/{sp_id}")
def delete_service_principal(sp_id: str, admin: Admin, emulator: EmulatorDep) -> Response:
    return _delete(emulator, admin, sp_id, ("ServicePrincipal", "ManagedIdentity"))


@router.post("/servicePrincipals/{sp_id}/addPassword")
async def add_password(sp_id: str, request: Request, admin: Admin, emulator: EmulatorDep) -> JSONResponse:
    raw = await request.body()
    body = await read_json_body(request, AddPassword) if raw.strip() else AddPassword()
    secret = secrets.token_urlsafe(30)
    key_id = str(uuid.uuid4())
    now = emulator.now()
    with emulator.db.transaction() as tx:
        sp = _lookup(tx, admin, sp_id, ("ServicePrincipal",))
        directory.set_client_secret(tx, sp.object_id, key_id, secret, now, body.passwordCredential.displayName)
    start = dt.datetime.fromtimestamp(now, dt.UTC)
    return JSONResponse(
        {
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#microsoft.graph.passwordCredential",
            "customKeyIdentifier": None,
            "displayName": body.passwordCredential.displayName,
            "keyId": key_id,
            "hint": secret[:3],
            "secretText": secret,
            "startDateTime": start.isoformat().replace("+00:00", "Z"),
            "endDateTime": (start + dt.timedelta(days=730)).isoformat().replace("+00:00", "Z"),
        }
    )


# ---- groups ------------------------------------------------------------------------------------------------------


@router.get("/groups")
def list_groups(admin: Admin, emulator: EmulatorDep) -> JSONResponse:
    with emulator.db.read() as tx:
        return _collection(emulator, "groups", directory.list_objects(tx, admin.tenant_id, ("Group",)))


@router.post("/groups")
async def create_group(request: Request, admin: Admin, emulator: EmulatorDep) -> JSONResponse:
    body = await read_json_body(request, NewGroup)
    with emulator.db.transaction() as tx:
        group = directory.upsert_object(
            tx,
            object_id=str(uuid.uuid4()),
            tenant_id=admin.tenant_id,
            kind="Group",
            display_name=body.displayName,
            now=emulator.now(),
        )
    return _created("groups", group, request)


@router.get("/groups/{group_id}")
def get_group(group_id: str, admin: Admin, emulator: EmulatorDep) -> JSONResponse:
    with emulator.db.read() as tx:
        return JSONResponse(_graph_json(_lookup(tx, admin, group_id, ("Group",))))


@router.patch("/groups/{group_id}")
async def update_group(group_id: str, request: Request, admin: Admin, emulator: EmulatorDep) -> Response:
    body = await read_json_body(request, GroupPatch)
    with emulator.db.transaction() as tx:
        group = _lookup(tx, admin, group_id, ("Group",))
        if body.displayName is not None:
            directory.set_display_name(tx, group.object_id, body.displayName)
    return Response(status_code=204)


@router.delete("/groups/{group_id}")
def delete_group(group_id: str, admin: Admin, emulator: EmulatorDep) -> Response:
    return _delete(emulator, admin, group_id, ("Group",))


@router.get("/groups/{group_id}/members")
def list_members(group_id: str, admin: Admin, emulator: EmulatorDep) -> JSONResponse:
    with emulator.db.read() as tx:
        group = _lookup(tx, admin, group_id, ("Group",))
        return _collection(emulator, "directoryObjects", directory.group_members(tx, group.object_id))


@router.post("/groups/{group_id}/members/$ref")
async def add_group_member(group_id: str, request: Request, admin: Admin, emulator: EmulatorDep) -> Response:
    reference = await read_json_body(request, MemberReference)
    match = _DIRECTORY_OBJECT_REF.search(reference.odata_id)
    if match is None:
        raise GraphError(
            f"Invalid object identifier '{reference.odata_id}': expected "
            "'https://graph.microsoft.com/v1.0/directoryObjects/{id}'.",
            code="Request_BadRequest",
            status=400,
        )
    with emulator.db.transaction() as tx:
        group = _lookup(tx, admin, group_id, ("Group",))
        member = _lookup(tx, admin, match.group(1), ("User", "Group", "ServicePrincipal", "ManagedIdentity"))
        if member.object_id == group.object_id:
            raise GraphError("A group cannot be a member of itself.", code="Request_BadRequest", status=400)
        if not directory.add_member(tx, group.object_id, member.object_id):
            raise GraphError(
                "One or more added object references already exist for the following modified properties: 'members'.",
                code="Request_BadRequest",
                status=400,
            )
    return Response(status_code=204)


@router.delete("/groups/{group_id}/members/{member_id}/$ref")
def remove_group_member(group_id: str, member_id: str, admin: Admin, emulator: EmulatorDep) -> Response:
    with emulator.db.transaction() as tx:
        group = _lookup(tx, admin, group_id, ("Group",))
        if not directory.remove_member(tx, group.object_id, member_id.lower()):
            raise _not_found(member_id)
    return Response(status_code=204)


def _delete(emulator: Emulator, admin: Principal, identifier: str, kinds: tuple[ObjectKind, ...]) -> Response:
    with emulator.db.transaction() as tx:
        found = _lookup(tx, admin, identifier, kinds)
        directory.delete_object(tx, found.object_id)
    return Response(status_code=204)
