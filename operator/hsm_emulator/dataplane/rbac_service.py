"""Local RBAC of an HSM: the authorization entry point, role assignments and custom role definitions.

:func:`authorize` is the only door of the data plane: every route calls it with the data action and scope of the
call before doing anything else, and it reads only the caller's own assignments (indexed by principal), so the
decision time does not grow with the number of assignments. Rendering follows the recorded wire form.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from hsm_emulator.dataplane import errors, models, rbac, rbac_store, roles, scopes
from hsm_emulator.dataplane.hsm_context import HsmContext
from hsm_emulator.dataplane.rbac_store import StoredAssignment
from hsm_emulator.identity import Principal
from hsm_emulator.storage import Transaction

MAX_CUSTOM_ROLES = 50
MAX_ASSIGNMENTS_AT_HSM_SCOPE = 50
MAX_ASSIGNMENTS_PER_KEY_SCOPE = 10
ROLE_ASSIGNMENT_TYPE = "Microsoft.Authorization/roleAssignments"
ROLE_DEFINITION_TYPE = "Microsoft.Authorization/roleDefinitions"
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_PRINCIPAL_FILTER = re.compile(r"^principalId eq '([^']*)'$", re.IGNORECASE)
_ROLE_NAME_FILTER = re.compile(r"^roleName eq '([^']*)'$", re.IGNORECASE)


# ------------------------------------------------------------------------------------------------ the decision


def role_definition(tx: Transaction, hsm_id: str, name: str) -> roles.RoleDefinition | None:
    return roles.BUILT_IN_ROLES_BY_NAME.get(name.lower()) or rbac_store.custom_definition(tx, hsm_id, name)


def effective_assignments(tx: Transaction, hsm_id: str, principal: Principal) -> list[rbac.EffectiveAssignment]:
    effective = []
    for stored in rbac_store.assignments_for_principals(tx, hsm_id, principal.object_ids()):
        definition = role_definition(tx, hsm_id, stored.role_definition_name)
        if definition is not None:
            effective.append(rbac.EffectiveAssignment(stored.scope, definition))
    return effective


def is_allowed(tx: Transaction, hsm: HsmContext, principal: Principal, data_action: str, scope: str) -> bool:
    return rbac.decide(
        effective_assignments(tx, hsm.id, principal), data_action, scope, is_global_admin=principal.is_global_admin
    )


def authorize(tx: Transaction, hsm: HsmContext, principal: Principal, data_action: str, scope: str) -> None:
    """Raise 403 AccessDenied unless ``principal`` may perform ``data_action`` at ``scope`` on this HSM."""
    if not is_allowed(tx, hsm, principal, data_action, scope):
        raise errors.access_denied(data_action, scope)


def seed_administrators(tx: Transaction, hsm_id: str, object_ids: tuple[str, ...]) -> None:
    """HSM creation: each initial admin holds Managed HSM Administrator at ``/`` (deterministic assignment names)."""
    for object_id in object_ids:
        name = str(uuid.uuid5(uuid.NAMESPACE_URL, f"mhsm-initial-admin:{hsm_id}:{object_id.lower()}"))
        if rbac_store.assignment(tx, hsm_id, name) is None:
            rbac_store.insert_assignment(
                tx, hsm_id, StoredAssignment(name, scopes.HSM_SCOPE, roles.ADMINISTRATOR_ID, object_id.lower())
            )


# ------------------------------------------------------------------------------------------------ rendering


def _scope_prefix(scope: str) -> str:
    return "" if scope == scopes.HSM_SCOPE else scope


def render_assignment(stored: StoredAssignment) -> dict[str, Any]:
    return {
        "id": f"{_scope_prefix(stored.scope)}/providers/Microsoft.Authorization/roleAssignments/{stored.name}",
        "name": stored.name,
        "type": ROLE_ASSIGNMENT_TYPE,
        "properties": {
            "scope": stored.scope,
            "roleDefinitionId": roles.ROLE_DEFINITION_ID_PREFIX + stored.role_definition_name,
            "principalId": stored.principal_id,
        },
    }


def render_definition(definition: roles.RoleDefinition) -> dict[str, Any]:
    return {
        "id": definition.id,
        "name": definition.name,
        "type": ROLE_DEFINITION_TYPE,
        "properties": {
            "roleName": definition.role_name,
            "description": definition.description,
            "type": definition.role_type,
            "permissions": [
                {
                    "actions": list(p.actions),
                    "notActions": list(p.not_actions),
                    "dataActions": list(p.data_actions),
                    "notDataActions": list(p.not_data_actions),
                }
                for p in definition.permissions
            ],
            "assignableScopes": list(definition.assignable_scopes),
        },
    }


# ------------------------------------------------------------------------------------------------ assignments


def existing_assignment(tx: Transaction, hsm: HsmContext, name: str) -> StoredAssignment:
    stored = rbac_store.assignment(tx, hsm.id, name)
    if stored is None:
        raise errors.role_assignment_not_found()
    return stored


def _role_definition_guid(role_definition_id: str) -> str:
    text = role_definition_id.lstrip("/")
    prefix = roles.ROLE_DEFINITION_ID_PREFIX
    guid = text[len(prefix) :] if text.lower().startswith(prefix.lower()) else text
    if not _GUID.match(guid):
        raise errors.rbac_bad_parameter(
            f"The role definition id '{role_definition_id}' is invalid; expected {prefix}<guid>."
        )
    return guid.lower()


def create_assignment(
    tx: Transaction, hsm: HsmContext, scope: str, name: str, params: models.RoleAssignmentCreateParameters
) -> dict[str, Any]:
    if not _GUID.match(name):
        raise errors.rbac_bad_parameter("Role assignment name must be a GUID")
    principal_id = params.properties.principal_id
    if not _GUID.match(principal_id):
        raise errors.rbac_bad_parameter(f"The principal id '{principal_id}' is not a valid object id (GUID).")
    guid = _role_definition_guid(params.properties.role_definition_id)
    if role_definition(tx, hsm.id, guid) is None:
        raise errors.rbac_bad_parameter(f"The role definition '{guid}' does not exist.")
    wanted = StoredAssignment(name.lower(), scope, guid, principal_id.lower())
    existing = rbac_store.assignment(tx, hsm.id, name)
    if existing is not None:
        same = (existing.scope.lower(), existing.role_definition_name, existing.principal_id) == (
            scope.lower(),
            guid,
            principal_id.lower(),
        )
        if same:
            return render_assignment(existing)
        raise errors.conflict(
            f"The role assignment {name} already exists with a different scope, role or principal; role assignments"
            " cannot be updated."
        )
    duplicate = rbac_store.find_duplicate(tx, hsm.id, scope, guid, principal_id.lower())
    if duplicate is not None:
        raise errors.conflict(
            f"The role assignment already exists (name {duplicate.name}).", inner_code="RoleAssignmentExists"
        )
    if scopes.is_hsm_wide(scope):
        limit, counted = MAX_ASSIGNMENTS_AT_HSM_SCOPE, [scopes.HSM_SCOPE, scopes.KEYS_SCOPE]
    else:
        limit, counted = MAX_ASSIGNMENTS_PER_KEY_SCOPE, [scope]
    if rbac_store.count_assignments_at(tx, hsm.id, counted) >= limit:
        raise errors.rbac_bad_parameter(
            f"The maximum number of role assignments ({limit}) at scope {scope} is reached."
        )
    rbac_store.insert_assignment(tx, hsm.id, wanted)
    return render_assignment(wanted)


def delete_assignment(tx: Transaction, hsm: HsmContext, name: str) -> dict[str, Any]:
    stored = existing_assignment(tx, hsm, name)
    rbac_store.delete_assignment(tx, hsm.id, stored.name)
    return render_assignment(stored)


def _under(scope: str, parent: str) -> bool:
    return scopes.is_hsm_wide(parent) or scope.lower() == parent.lower()


def list_assignments(tx: Transaction, hsm: HsmContext, scope: str, filter_text: str | None) -> list[dict[str, Any]]:
    at_scope_only = False
    principal_id: str | None = None
    for clause in [part.strip() for part in re.split(r"\s+and\s+", filter_text or "", flags=re.IGNORECASE) if part]:
        if clause.lower() == "atscope()":
            at_scope_only = True
            continue
        match = _PRINCIPAL_FILTER.match(clause)
        if match is None:
            raise errors.rbac_bad_parameter(
                f"The filter '{filter_text}' is not supported; use atScope() and/or principalId eq '<id>'."
            )
        principal_id = match.group(1).lower()
    result = []
    for stored in rbac_store.all_assignments(tx, hsm.id):
        applies = scopes.covers(stored.scope, scope)
        if not (applies or (not at_scope_only and _under(stored.scope, scope))):
            continue
        if principal_id is not None and stored.principal_id != principal_id:
            continue
        result.append(render_assignment(stored))
    return result


# ------------------------------------------------------------------------------------------------ definitions


def _check_definition_scope(scope: str) -> None:
    if scope != scopes.HSM_SCOPE:
        raise errors.rbac_bad_parameter(f"Role definitions can only be managed at scope '/'; got '{scope}'.")


def get_definition(tx: Transaction, hsm: HsmContext, scope: str, name: str) -> dict[str, Any]:
    definition = role_definition(tx, hsm.id, name)
    if definition is None:
        raise errors.role_definition_not_found()
    return render_definition(definition)


def _data_actions(values: list[str] | None, field: str) -> tuple[str, ...]:
    actions = tuple(values or ())
    for action in actions:
        known = action in roles.ALL_DATA_ACTIONS or (
            "*" in action and action.lower().startswith(roles.DATA_ACTION_PREFIX.lower())
        )
        if not known and not any(action.lower() == a.lower() for a in roles.ALL_DATA_ACTIONS):
            raise errors.rbac_bad_parameter(f"{field}: '{action}' is not a Managed HSM data action.")
    return actions


def set_definition(
    tx: Transaction, hsm: HsmContext, scope: str, name: str, params: models.RoleDefinitionCreateParameters
) -> dict[str, Any]:
    _check_definition_scope(scope)
    if not _GUID.match(name):
        raise errors.rbac_bad_parameter("Role definition name must be a GUID")
    name = name.lower()
    if name in roles.BUILT_IN_ROLES_BY_NAME:
        raise errors.rbac_bad_parameter(
            "Cannot re-use the name/GUID matching that of a built-in role. Please use a unique role ID."
        )
    properties = params.properties
    if properties.role_type is not None and properties.role_type != roles.CUSTOM_ROLE_TYPE:
        raise errors.rbac_bad_parameter(f"properties.type must be '{roles.CUSTOM_ROLE_TYPE}'.")
    if properties.assignable_scopes is not None and [s.strip() for s in properties.assignable_scopes] != ["/"]:
        raise errors.rbac_bad_parameter("properties.assignableScopes must be ['/'] on a Managed HSM.")
    permissions = tuple(
        roles.Permission(
            actions=tuple(p.actions or ()),
            not_actions=tuple(p.not_actions or ()),
            data_actions=_data_actions(p.data_actions, f"properties.permissions[{i}].dataActions"),
            not_data_actions=_data_actions(p.not_data_actions, f"properties.permissions[{i}].notDataActions"),
        )
        for i, p in enumerate(properties.permissions or [])
    )
    role_name = properties.role_name or name
    for other in [*roles.BUILT_IN_ROLES, *rbac_store.custom_definitions(tx, hsm.id)]:
        if other.role_name.lower() == role_name.lower() and other.name != name:
            raise errors.rbac_bad_parameter(f"A role definition named '{role_name}' already exists.")
    existing = rbac_store.custom_definition(tx, hsm.id, name)
    if existing is None and rbac_store.count_custom_definitions(tx, hsm.id) >= MAX_CUSTOM_ROLES:
        raise errors.rbac_bad_parameter(
            f"The maximum number of custom role definitions ({MAX_CUSTOM_ROLES}) is reached."
        )
    definition = roles.RoleDefinition(
        name=name,
        role_name=role_name,
        role_type=roles.CUSTOM_ROLE_TYPE,
        description=properties.description or "",
        permissions=permissions,
    )
    rbac_store.put_custom_definition(tx, hsm.id, definition)
    return render_definition(definition)


def delete_definition(tx: Transaction, hsm: HsmContext, scope: str, name: str) -> dict[str, Any]:
    _check_definition_scope(scope)
    if name.lower() in roles.BUILT_IN_ROLES_BY_NAME:
        raise errors.rbac_bad_parameter(
            "Cannot re-use the name/GUID matching that of a built-in role. Please use a unique role ID."
        )
    definition = rbac_store.custom_definition(tx, hsm.id, name)
    if definition is None:
        raise errors.role_definition_not_found()
    if rbac_store.definition_in_use(tx, hsm.id, definition.name):
        raise errors.conflict(
            f"The role definition {definition.name} cannot be deleted: role assignments still reference it. Delete "
            "those assignments first.",
            inner_code="RoleDefinitionHasAssignments",
        )
    rbac_store.delete_custom_definition(tx, hsm.id, definition.name)
    return render_definition(definition)


def list_definitions(tx: Transaction, hsm: HsmContext, scope: str, filter_text: str | None) -> list[dict[str, Any]]:
    role_name: str | None = None
    if filter_text and filter_text.strip().lower() not in ("atscopeandbelow()", ""):
        match = _ROLE_NAME_FILTER.match(filter_text.strip())
        if match is None:
            raise errors.rbac_bad_parameter(
                f"The filter '{filter_text}' is not supported; use roleName eq '<name>' or atScopeAndBelow()."
            )
        role_name = match.group(1)
    definitions = [*roles.BUILT_IN_ROLES, *rbac_store.custom_definitions(tx, hsm.id)]
    return [render_definition(d) for d in definitions if role_name is None or d.role_name.lower() == role_name.lower()]
