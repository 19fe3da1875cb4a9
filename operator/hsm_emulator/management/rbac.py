"""Azure RBAC for the management plane: the one decision every ARM call goes through.

`authorize(tx, principal, action, scope)` allows the call when some role assignment held by the caller, or by a
group the caller is a member of *now*, sits at the target scope or above it (resource > resource group >
subscription > management groups > `/`) and its role grants the action (Actions minus NotActions, wildcards,
case-insensitive). Otherwise it raises the 403 `AuthorizationFailed` ARM sends, word for word.

Nothing here is consulted by the data plane, and no role here has data actions: ARM rights never open keys.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Protocol

from hsm_emulator.errors import AzureError, Forbidden
from hsm_emulator.management import roles, scopes, store
from hsm_emulator.storage import Transaction


class Caller(Protocol):
    """What RBAC needs to know about an authenticated caller (satisfied by the identity module's Principal)."""

    @property
    def object_id(self) -> str: ...

    @property
    def tenant_id(self) -> str: ...

    @property
    def group_ids(self) -> Collection[str]: ...


class AuthorizationFailed(Forbidden):
    """ARM's 403 for a call the caller's role assignments do not cover."""

    def __init__(self, object_id: str, action: str, scope: str) -> None:
        super().__init__(
            f"The client '{object_id}' with object id '{object_id}' does not have authorization to perform action "
            f"'{action}' over scope '{scope}' or the scope is invalid. If access was recently granted, please "
            "refresh your credentials.",
            code="AuthorizationFailed",
        )


class InvalidAuthenticationTokenTenant(AzureError):
    """ARM's 401 for a token from another tenant than the subscription's."""

    status = 401
    default_code = "InvalidAuthenticationTokenTenant"

    def __init__(self, token_tenant: str, expected_tenant: str) -> None:
        super().__init__(
            f"The access token is from the wrong issuer '{token_tenant}'. It must match the tenant "
            f"'{expected_tenant}' associated with this subscription. Please use the authority (URL) for tenant "
            f"'{expected_tenant}' to get the token.",
        )


def resolve_role(tx: Transaction, guid: str) -> roles.RoleDefinition | None:
    """A built-in or custom role by its guid."""
    built_in = roles.built_in_by_guid(guid)
    if built_in is not None:
        return built_in
    row = store.custom_role_definition(tx, guid)
    if row is None:
        return None
    return custom_role(row)


def custom_role(row: store.RoleDefinitionRow) -> roles.RoleDefinition:
    return roles.RoleDefinition(
        guid=row.guid,
        role_name=row.role_name,
        description=row.description,
        permissions=tuple(
            roles.Permission(
                actions=tuple(block.get("actions", [])),
                not_actions=tuple(block.get("notActions", [])),
                data_actions=tuple(block.get("dataActions", [])),
                not_data_actions=tuple(block.get("notDataActions", [])),
            )
            for block in row.permissions
        ),
        assignable_scopes=tuple(row.assignable_scopes),
        role_type=roles.CUSTOM_ROLE_TYPE,
        scope=row.scope,
        created_by=row.created_by,
    )


def scope_chain(tx: Transaction, scope: str) -> list[str]:
    """Normalized scopes that an assignment may sit at to cover `scope`, nearest first."""
    parsed = scopes.parse(scope)
    return scopes.chain(
        parsed,
        management_group_of=lambda subscription: store.subscription_management_group(tx, subscription),
        parent_of=lambda group: store.management_group_parent(tx, group),
    )


def is_allowed(tx: Transaction, principal: Caller, action: str, scope: str) -> bool:
    try:
        covering = set(scope_chain(tx, scope))
    except scopes.InvalidScope:
        return False
    principal_ids = [principal.object_id, *principal.group_ids]
    for scope_key, guid in store.role_assignments_for_principals(tx, principal_ids):
        if scope_key not in covering:
            continue
        role = resolve_role(tx, guid)
        if role is not None and role.grants(action):
            return True
    return False


def authorize(tx: Transaction, principal: Caller, action: str, scope: str) -> None:
    """Allow, or raise `AuthorizationFailed` naming the caller, the action and the scope as ARM does."""
    if not is_allowed(tx, principal, action, scope):
        raise AuthorizationFailed(principal.object_id, action, scopes.tidy(scope))


def require_subscription_tenant(tx: Transaction, principal: Caller, subscription_id: str, authority: str) -> None:
    """Only principals of the subscription's tenant may act on it (ARM checks the token's issuer).

    An unknown subscription is not decided here: the caller then fails authorization (no assignment can cover it),
    which is what ARM answers too.
    """
    subscription = store.get_subscription(tx, subscription_id)
    if subscription is not None and subscription.tenant_id.lower() != principal.tenant_id.lower():
        raise InvalidAuthenticationTokenTenant(
            f"{authority}/{principal.tenant_id}/v2.0", f"{authority}/{subscription.tenant_id}/v2.0"
        )
