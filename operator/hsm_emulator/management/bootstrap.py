"""Applying the config's `managementGroups`, `subscriptions` and `roleAssignments` (idempotent, at every start).

Every tenant gets its tenant root group (id = tenant id, as in Azure); management groups without a parent and
subscriptions without a management group hang below it, so an assignment at the root group reaches everything of
the tenant. Config role assignments get a deterministic name, so a restart finds them instead of adding copies.
Resource groups are created if missing; an existing group keeps its location and tags (ARM cannot move a group).
"""

from __future__ import annotations

import uuid

from hsm_emulator.config import ConfigError, EmulatorConfig
from hsm_emulator.management import rbac, roles, scopes, store
from hsm_emulator.storage import Transaction

_CONFIG_ASSIGNMENT_NAMESPACE = uuid.UUID("5b0c7f1e-6f7c-4c55-9d8e-6b1c2b7e0a11")


def apply_bootstrap(tx: Transaction, config: EmulatorConfig, now: float) -> None:
    for tenant in config.tenants:
        store.upsert_management_group(tx, tenant.id, tenant.id, None)
    for group in config.managementGroups:
        store.upsert_management_group(tx, group.id, group.tenantId, group.parent or group.tenantId)
    for subscription in config.subscriptions:
        store.upsert_subscription(
            tx, subscription.id, subscription.tenantId, subscription.managementGroup or subscription.tenantId
        )
        for resource_group in subscription.resourceGroups:
            if store.get_resource_group(tx, subscription.id, resource_group.name) is None:
                location = resource_group.location.replace(" ", "").lower()
                store.put_resource_group(tx, store.ResourceGroup(subscription.id, resource_group.name, location, {}))
    principal_types = _principal_types(config)
    for index, assignment in enumerate(config.roleAssignments):
        field = f"roleAssignments[{index}]"
        guid = _role_guid(tx, assignment.roleDefinitionName, assignment.roleDefinitionId, field)
        try:
            scope = scopes.parse(assignment.scope)
        except scopes.InvalidScope as exc:
            raise ConfigError(f"{field}.scope", str(exc)) from None
        if scope.subscription is not None and store.get_subscription(tx, scope.subscription) is None:
            raise ConfigError(f"{field}.scope", f"unknown subscription {scope.subscription}")
        group_id = scope.management_group
        if group_id is not None and store.management_group_tenant(tx, group_id) is None:
            raise ConfigError(f"{field}.scope", f"unknown management group {group_id}")
        principal_id = assignment.principalId.lower()
        if store.find_role_assignment(tx, scope.key, guid, principal_id) is not None:
            continue
        name = str(uuid.uuid5(_CONFIG_ASSIGNMENT_NAMESPACE, f"{scope.key}|{guid}|{principal_id}"))
        store.insert_role_assignment(
            tx,
            store.RoleAssignmentRow(
                name=name,
                scope=scope.text,
                role_definition_guid=guid,
                principal_id=principal_id,
                principal_type=principal_types.get(principal_id, "User"),
                description="Assigned by the emulator configuration file.",
                created_at=now,
                created_by="config",
            ),
            scope.key,
        )


def _role_guid(tx: Transaction, name: str | None, definition_id: str | None, field: str) -> str:
    if name is not None:
        built_in = roles.built_in_by_name(name)
        if built_in is not None:
            return built_in.guid
        custom = store.custom_role_by_name(tx, name)
        if custom is not None:
            return custom.guid
        known = ", ".join(role.role_name for role in roles.BUILT_IN_ROLES)
        raise ConfigError(f"{field}.roleDefinitionName", f"unknown role '{name}' (built-in roles: {known})")
    assert definition_id is not None
    guid = roles.guid_from_definition_id(definition_id)
    if guid is None or rbac.resolve_role(tx, guid) is None:
        raise ConfigError(f"{field}.roleDefinitionId", f"unknown role definition '{definition_id}'")
    return guid


def _principal_types(config: EmulatorConfig) -> dict[str, str]:
    types: dict[str, str] = {}
    for tenant in config.tenants:
        types.update({user.objectId.lower(): "User" for user in tenant.users})
        types.update({group.objectId.lower(): "Group" for group in tenant.groups})
        types.update({sp.objectId.lower(): "ServicePrincipal" for sp in tenant.servicePrincipals})
        types.update({mi.objectId.lower(): "ServicePrincipal" for mi in tenant.managedIdentities})
    return types
