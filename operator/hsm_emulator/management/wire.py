"""Response bodies of the management plane in ARM's wire form (the shapes of the 2025-05-01 spec and examples)."""

from __future__ import annotations

from typing import Any

from hsm_emulator.management import roles, service, store
from hsm_emulator.management.timefmt import timestamp

_STATUS_MESSAGES = {
    service.ProvisioningState.PROVISIONING: "Allocating hardware",
    service.ProvisioningState.UPDATING: "Updating the managed HSM",
    service.ProvisioningState.SUCCEEDED: "The Managed HSM is provisioned and ready to use.",
}
_ACTIVATION_MESSAGES = {
    service.ActivationStatus.NOT_ACTIVATED: (
        "Your HSM has been provisioned, but cannot be used for cryptographic operations until it is activated. To "
        "activate the HSM, download the security domain."
    ),
    service.ActivationStatus.ACTIVE: "Your HSM has been activated and can be used for cryptographic operations.",
}


def managed_hsm(hsm: store.HsmRow, settings: service.ManagementSettings, now: float) -> dict[str, Any]:
    state = service.effective_state(hsm, now)
    acls = hsm.network_acls or {"bypass": "AzureServices", "defaultAction": "Allow"}
    network_acls = {"ipRules": [], "virtualNetworkRules": [], **acls}
    properties: dict[str, Any] = {
        "tenantId": hsm.tenant_id,
        "initialAdminObjectIds": list(hsm.initial_admin_object_ids),
        # Real ARM shows no URI while hardware is being allocated.
        "hsmUri": settings.hsm_uri(hsm.hsm_port) if state != service.ProvisioningState.PROVISIONING else None,
        "enableSoftDelete": True,
        "softDeleteRetentionInDays": hsm.soft_delete_retention_days,
        "enablePurgeProtection": hsm.purge_protection,
        "provisioningState": state,
        "statusMessage": _STATUS_MESSAGES.get(state, state),
        "networkAcls": network_acls,
        "publicNetworkAccess": hsm.public_network_access,
        "regions": [{"name": hsm.location, "isPrimary": True, "provisioningState": "Succeeded"}],
        "privateEndpointConnections": [],
        "securityDomainProperties": {
            "activationStatus": hsm.activation_status,
            "activationStatusMessage": _ACTIVATION_MESSAGES.get(hsm.activation_status, ""),
        },
    }
    return {
        "id": hsm.resource_id,
        "name": hsm.name,
        "type": service.HSM_TYPE,
        "location": hsm.location,
        "sku": {"family": hsm.sku_family, "name": hsm.sku_name},
        "tags": hsm.tags,
        "systemData": {
            "createdBy": hsm.created_by,
            "createdAt": timestamp(hsm.created_at),
            "lastModifiedBy": hsm.updated_by,
            "lastModifiedAt": timestamp(hsm.updated_at),
        },
        "properties": properties,
    }


def deleted_hsm_id(subscription_id: str, location: str, name: str) -> str:
    return (
        f"/subscriptions/{subscription_id}/providers/Microsoft.KeyVault/locations/{location}/deletedManagedHSMs/{name}"
    )


def deleted_managed_hsm(hsm: store.HsmRow) -> dict[str, Any]:
    assert hsm.deleted_at is not None
    assert hsm.scheduled_purge_at is not None
    return {
        "id": deleted_hsm_id(hsm.subscription_id, hsm.location, hsm.name),
        "name": hsm.name,
        "type": service.DELETED_HSM_TYPE,
        "properties": {
            "mhsmId": hsm.resource_id,
            "location": hsm.location,
            "deletionDate": timestamp(hsm.deleted_at),
            "scheduledPurgeDate": timestamp(hsm.scheduled_purge_at),
            "purgeProtectionEnabled": hsm.purge_protection,
            "tags": hsm.tags,
        },
    }


def resource_group(group: store.ResourceGroup) -> dict[str, Any]:
    return {
        "id": f"/subscriptions/{group.subscription_id}/resourceGroups/{group.name}",
        "name": group.name,
        "type": "Microsoft.Resources/resourceGroups",
        "location": group.location,
        "tags": group.tags,
        "properties": {"provisioningState": "Succeeded"},
    }


def role_assignment(row: store.RoleAssignmentRow, subscription_hint: str | None) -> dict[str, Any]:
    definition_prefix = f"/subscriptions/{subscription_hint}" if subscription_hint else ""
    return {
        "id": f"{row.scope.rstrip('/')}/providers/Microsoft.Authorization/roleAssignments/{row.name}",
        "name": row.name,
        "type": "Microsoft.Authorization/roleAssignments",
        "properties": {
            "roleDefinitionId": f"{definition_prefix}{roles.ROLE_DEFINITION_PATH}{row.role_definition_guid}",
            "principalId": row.principal_id,
            "principalType": row.principal_type,
            "scope": row.scope,
            "description": row.description,
            "condition": None,
            "conditionVersion": None,
            "createdOn": timestamp(row.created_at),
            "updatedOn": timestamp(row.created_at),
            "createdBy": row.created_by,
            "updatedBy": row.created_by,
            "delegatedManagedIdentityResourceId": None,
        },
    }


def role_definition(role: roles.RoleDefinition, scope: str, created: float | None = None) -> dict[str, Any]:
    prefix = "" if scope == "/" else scope.rstrip("/")
    body: dict[str, Any] = {
        "id": f"{prefix}{roles.ROLE_DEFINITION_PATH}{role.guid}",
        "name": role.guid,
        "type": "Microsoft.Authorization/roleDefinitions",
        "properties": {
            "roleName": role.role_name,
            "type": role.role_type,
            "description": role.description,
            "assignableScopes": list(role.assignable_scopes),
            "permissions": [
                {
                    "actions": list(permission.actions),
                    "notActions": list(permission.not_actions),
                    "dataActions": list(permission.data_actions),
                    "notDataActions": list(permission.not_data_actions),
                }
                for permission in role.permissions
            ],
        },
    }
    if created is not None:
        body["properties"]["createdOn"] = timestamp(created)
        body["properties"]["updatedOn"] = timestamp(created)
        body["properties"]["createdBy"] = role.created_by
        body["properties"]["updatedBy"] = role.created_by
    return body


def operation_status(operation: store.OperationRow, now: float) -> dict[str, Any]:
    done = now >= operation.completes_at
    body: dict[str, Any] = {
        "id": (
            f"/subscriptions/{operation.subscription_id}/providers/Microsoft.KeyVault/locations/{operation.location}"
            f"/managedHsmOperationResults/{operation.id}"
        ),
        "name": operation.id,
        "status": "Succeeded" if done else "InProgress",
        "startTime": timestamp(operation.started_at),
    }
    if done:
        body["endTime"] = timestamp(operation.completes_at)
    return body
