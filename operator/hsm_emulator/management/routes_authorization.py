"""`Microsoft.Authorization` role assignments and role definitions at any ARM scope.

Paths are `{scope}/providers/Microsoft.Authorization/roleAssignments[/{name}]` (and `roleDefinitions`), with
`{scope}` = `/`, a management group, a subscription, a resource group or a resource. Writes are authorized with
`Microsoft.Authorization/roleAssignments/write` (so Owner can, Contributor cannot) at the target scope. Role
definitions are readable by every principal of the tenant, as in Azure. Assignments are management-plane only:
the data plane never reads them.
"""

from __future__ import annotations

import json
import re

from fastapi import Response

from hsm_emulator.errors import AzureError, BadRequest, Conflict, NotFound
from hsm_emulator.management import models, rbac, roles, scopes, service, store, wire
from hsm_emulator.management.dispatch import ApiVersions, ArmCall, RouteTable
from hsm_emulator.management.routes_hsm import begin
from hsm_emulator.storage import Transaction

AUTHORIZATION_VERSIONS = ApiVersions(
    resource_type="roleAssignments",
    supported=("2015-07-01", "2018-01-01-preview", "2020-04-01-preview", "2022-04-01"),
    provider_registered=False,
)

ASSIGNMENT_READ = "Microsoft.Authorization/roleAssignments/read"
ASSIGNMENT_WRITE = "Microsoft.Authorization/roleAssignments/write"
ASSIGNMENT_DELETE = "Microsoft.Authorization/roleAssignments/delete"
DEFINITION_WRITE = "Microsoft.Authorization/roleDefinitions/write"
DEFINITION_DELETE = "Microsoft.Authorization/roleDefinitions/delete"

_PRINCIPAL_FILTER = re.compile(r"^\s*principalId\s+eq\s+'(?P<id>[^']+)'\s*$", re.IGNORECASE)
_AT_SCOPE = re.compile(r"^\s*atScope\(\)\s*$", re.IGNORECASE)
_AT_SCOPE_AND_PRINCIPAL = re.compile(r"^\s*atScope\(\)\s+and\s+principalId\s+eq\s+'(?P<id>[^']+)'\s*$", re.IGNORECASE)
_ROLE_NAME_FILTER = re.compile(r"^\s*roleName\s+eq\s+'(?P<name>[^']*)'\s*$", re.IGNORECASE)
_TYPE_FILTER = re.compile(r"^\s*type\s+eq\s+'(?P<type>[^']*)'\s*$", re.IGNORECASE)


def _json(body: object, status: int = 200) -> Response:
    return Response(json.dumps(body), status_code=status, media_type="application/json")


def _scope(call: ArmCall) -> scopes.Scope:
    text = call.params.get("scope") or "/"
    try:
        return scopes.parse(text)
    except scopes.InvalidScope as exc:
        raise BadRequest(str(exc), code="InvalidScope") from None


def _check_scope_exists(tx: Transaction, call: ArmCall, scope: scopes.Scope) -> None:
    """Assignments hang on real things: the subscription, group or managed HSM of the scope must exist."""
    if scope.subscription is not None:
        call.params.setdefault("subscription", scope.subscription)
        begin(tx, call)
    if scope.level is scopes.ScopeLevel.MANAGEMENT_GROUP and scope.management_group is not None:
        tenant = store.management_group_tenant(tx, scope.management_group)
        if tenant is None:
            raise NotFound(f"The management group '{scope.management_group}' was not found.", code="NotFound")
        if tenant.lower() != call.principal.tenant_id.lower():
            raise rbac.InvalidAuthenticationTokenTenant(call.principal.tenant_id, tenant)
    if scope.resource_group is not None and scope.subscription is not None:
        service.require_resource_group(tx, scope.subscription, scope.resource_group)
    if scope.level is scopes.ScopeLevel.RESOURCE and scope.subscription and scope.resource_group:
        parts = scope.text.strip("/").split("/")
        if f"{parts[5]}/{parts[6]}".lower() == service.HSM_TYPE.lower():
            service.get_live(tx, scope.subscription, scope.resource_group, parts[7])


def _subscription_hint(scope: scopes.Scope) -> str | None:
    return scope.subscription


def _assignment_not_found(name: str) -> AzureError:
    return NotFound(f"The role assignment '{name}' is not found.", code="RoleAssignmentNotFound")


async def get_assignment(call: ArmCall) -> Response:
    scope = _scope(call)
    with call.emulator.db.read() as tx:
        _check_scope_exists(tx, call, scope)
        rbac.authorize(tx, call.principal, ASSIGNMENT_READ, scope.text)
        row = store.role_assignment_by_name(tx, call.params["name"])
        if row is None or scopes.normalize(row.scope) != scope.key:
            raise _assignment_not_found(call.params["name"])
    return _json(wire.role_assignment(row, _subscription_hint(scope)))


async def put_assignment(call: ArmCall) -> Response:
    scope = _scope(call)
    name = call.params["name"]
    with call.emulator.db.transaction() as tx:
        _check_scope_exists(tx, call, scope)
        rbac.authorize(tx, call.principal, ASSIGNMENT_WRITE, scope.text)
        body = call.body(models.RoleAssignmentBody).properties
        if not roles.is_guid(name):
            raise BadRequest(
                f"The role assignment ID '{name}' is not valid. The role assignment ID must be a GUID.",
                code="InvalidRoleAssignmentId",
            )
        guid = roles.guid_from_definition_id(body.role_definition_id)
        role = rbac.resolve_role(tx, guid) if guid else None
        if guid is None or role is None:
            raise BadRequest(
                f"The specified role definition with ID '{guid or body.role_definition_id}' does not exist.",
                code="RoleDefinitionDoesNotExist",
            )
        if role.role_type == roles.CUSTOM_ROLE_TYPE and not _assignable(tx, role, scope):
            raise BadRequest(
                f"The role '{role.role_name}' is not available for assignment at the requested scope '{scope.text}'.",
                code="InvalidRoleDefinitionScope",
            )
        principal_id = body.principal_id.lower()
        existing = store.role_assignment_by_name(tx, name)
        if existing is not None:
            same = (
                scopes.normalize(existing.scope) == scope.key
                and existing.role_definition_guid.lower() == guid
                and existing.principal_id.lower() == principal_id
            )
            if not same:
                raise BadRequest(
                    "Tenant ID, application ID, principal ID, and scope are not allowed to be updated.",
                    code="RoleAssignmentUpdateNotPermitted",
                )
            return _json(wire.role_assignment(existing, _subscription_hint(scope)), 201)
        if store.find_role_assignment(tx, scope.key, guid, principal_id) is not None:
            raise Conflict("The role assignment already exists.", code="RoleAssignmentExists")
        row = store.RoleAssignmentRow(
            name=name.lower(),
            scope=scope.text,
            role_definition_guid=guid,
            principal_id=principal_id,
            principal_type=body.principal_type or "User",
            description=body.description,
            created_at=call.now,
            created_by=call.principal.object_id,
        )
        store.insert_role_assignment(tx, row, scope.key)
    return _json(wire.role_assignment(row, _subscription_hint(scope)), 201)


def _assignable(tx: Transaction, role: roles.RoleDefinition, scope: scopes.Scope) -> bool:
    chain = set(rbac.scope_chain(tx, scope.text))
    return any(scopes.normalize(assignable) in chain for assignable in role.assignable_scopes)


async def delete_assignment(call: ArmCall) -> Response:
    scope = _scope(call)
    with call.emulator.db.transaction() as tx:
        _check_scope_exists(tx, call, scope)
        rbac.authorize(tx, call.principal, ASSIGNMENT_DELETE, scope.text)
        row = store.role_assignment_by_name(tx, call.params["name"])
        if row is None or scopes.normalize(row.scope) != scope.key:
            return Response(status_code=204)
        store.delete_role_assignment(tx, row.name)
    return _json(wire.role_assignment(row, _subscription_hint(scope)))


async def list_assignments(call: ArmCall) -> Response:
    """No filter: at, above and below the scope; `atScope()`: at and above; `principalId eq`: also by principal."""
    scope = _scope(call)
    query = call.query("$filter")
    at_scope_only, principal = False, None
    if query:
        if (found := _AT_SCOPE_AND_PRINCIPAL.match(query)) is not None:
            at_scope_only, principal = True, found["id"].lower()
        elif (found := _PRINCIPAL_FILTER.match(query)) is not None:
            principal = found["id"].lower()
        elif _AT_SCOPE.match(query):
            at_scope_only = True
        else:
            raise BadRequest(
                f"The filter '{query}' is not supported. Supported filters: atScope(), principalId eq '{{id}}'.",
                code="UnsupportedQuery",
            )
    with call.emulator.db.read() as tx:
        _check_scope_exists(tx, call, scope)
        rbac.authorize(tx, call.principal, ASSIGNMENT_READ, scope.text)
        above = set(rbac.scope_chain(tx, scope.text))
        rows = []
        for row, key in store.all_role_assignments(tx):
            below = key.startswith(scope.key.rstrip("/") + "/") or scope.key == "/"
            if key not in above and (at_scope_only or not below):
                continue
            if principal is not None and row.principal_id.lower() != principal:
                continue
            rows.append(row)
    return _json({"value": [wire.role_assignment(row, _subscription_hint(scope)) for row in rows]})


async def get_definition(call: ArmCall) -> Response:
    scope = _scope(call)
    guid = call.params["name"].lower()
    with call.emulator.db.read() as tx:
        role = rbac.resolve_role(tx, guid) if roles.is_guid(guid) else None
        custom = store.custom_role_definition(tx, guid)
    if role is None:
        raise NotFound(
            f"The role definition '{call.params['name']}' could not be found.", code="RoleDefinitionDoesNotExist"
        )
    return _json(wire.role_definition(role, scope.text, custom.created_at if custom else None))


async def list_definitions(call: ArmCall) -> Response:
    scope = _scope(call)
    query = call.query("$filter")
    role_name: str | None = None
    role_type: str | None = None
    if query:
        if (found := _ROLE_NAME_FILTER.match(query)) is not None:
            role_name = found["name"]
        elif (found := _TYPE_FILTER.match(query)) is not None:
            role_type = found["type"]
        else:
            raise BadRequest(
                f"The filter '{query}' is not supported. "
                "Supported filters: roleName eq '{name}', type eq '{type}'.",
                code="UnsupportedQuery",
            )
    with call.emulator.db.read() as tx:
        candidates = list(roles.BUILT_IN_ROLES)
        for row in store.custom_role_definitions(tx):
            role = rbac.custom_role(row)
            if scope.key == "/" or _assignable(tx, role, scope):
                candidates.append(role)
    selected = [
        role
        for role in candidates
        if (role_name is None or role.role_name.lower() == role_name.lower())
        and (role_type is None or role.role_type.lower() == role_type.lower())
    ]
    return _json({"value": [wire.role_definition(role, scope.text) for role in selected]})


async def put_definition(call: ArmCall) -> Response:
    scope = _scope(call)
    guid = call.params["name"].lower()
    with call.emulator.db.transaction() as tx:
        _check_scope_exists(tx, call, scope)
        body = call.body(models.RoleDefinitionBody).properties
        assignable = [scopes.tidy(item) for item in body.assignable_scopes]
        for item in assignable:
            rbac.authorize(tx, call.principal, DEFINITION_WRITE, item)
        if not roles.is_guid(guid):
            raise BadRequest(
                f"The role definition ID '{guid}' is not valid: it must be a GUID.", code="InvalidRoleDefinitionId"
            )
        if roles.built_in_by_guid(guid) is not None or roles.built_in_by_name(body.role_name) is not None:
            raise BadRequest("Built-in roles cannot be created or changed.", code="RoleDefinitionIsBuiltIn")
        same_name = store.custom_role_by_name(tx, body.role_name)
        if same_name is not None and same_name.guid.lower() != guid:
            raise Conflict(
                f"A custom role with the same name '{body.role_name}' already exists.",
                code="RoleDefinitionWithSameNameExists",
            )
        for item in assignable:
            try:
                scopes.parse(item)
            except scopes.InvalidScope as exc:
                raise BadRequest(str(exc), code="InvalidAssignableScope") from None
        existing = store.custom_role_definition(tx, guid)
        row = store.RoleDefinitionRow(
            guid=guid,
            scope=scope.text,
            role_name=body.role_name,
            description=body.description or "",
            permissions=[
                {
                    "actions": block.actions,
                    "notActions": block.not_actions,
                    "dataActions": block.data_actions,
                    "notDataActions": block.not_data_actions,
                }
                for block in body.permissions
            ],
            assignable_scopes=assignable,
            created_at=existing.created_at if existing else call.now,
            created_by=existing.created_by if existing else call.principal.object_id,
            updated_at=call.now,
        )
        store.put_role_definition(tx, row)
    return _json(wire.role_definition(rbac.custom_role(row), scope.text, row.created_at), 201)


async def delete_definition(call: ArmCall) -> Response:
    scope = _scope(call)
    guid = call.params["name"].lower()
    with call.emulator.db.transaction() as tx:
        _check_scope_exists(tx, call, scope)
        rbac.authorize(tx, call.principal, DEFINITION_DELETE, scope.text)
        row = store.custom_role_definition(tx, guid)
        if row is None:
            return Response(status_code=204)
        if store.role_definition_in_use(tx, guid):
            raise BadRequest(
                "There are existing role assignments referencing role (code: RoleDefinitionHasAssignments).",
                code="RoleDefinitionHasAssignments",
            )
        store.delete_role_definition(tx, guid)
    return _json(wire.role_definition(rbac.custom_role(row), scope.text, row.created_at))


def register(table: RouteTable) -> None:
    base = r"(?P<scope>.*)/providers/Microsoft\.Authorization/"
    assignment = base + r"roleAssignments/(?P<name>[^/]+)"
    definition = base + r"roleDefinitions/(?P<name>[^/]+)"
    table.add("GET", assignment, AUTHORIZATION_VERSIONS, get_assignment)
    table.add("PUT", assignment, AUTHORIZATION_VERSIONS, put_assignment)
    table.add("DELETE", assignment, AUTHORIZATION_VERSIONS, delete_assignment)
    table.add("GET", base + r"roleAssignments", AUTHORIZATION_VERSIONS, list_assignments)
    table.add("GET", definition, AUTHORIZATION_VERSIONS, get_definition)
    table.add("PUT", definition, AUTHORIZATION_VERSIONS, put_definition)
    table.add("DELETE", definition, AUTHORIZATION_VERSIONS, delete_definition)
    table.add("GET", base + r"roleDefinitions", AUTHORIZATION_VERSIONS, list_definitions)
