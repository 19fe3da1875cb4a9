"""Request bodies of the management plane, validated at the edge (pydantic), in ARM's camelCase wire form.

Types are strict (`"true"` is not a bool, `"90"` not an int) because ARM's deserializer refuses those too; unknown
properties are ignored because clients echo read-only fields (`id`, `hsmUri`, `provisioningState`) back in PUTs.
A failure becomes 400 `InvalidRequestContent` naming the field (see `hsm_emulator.errors.read_json_body`).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr


def _uuid(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise ValueError(f"'{value}' is not a valid GUID") from None


Guid = Annotated[StrictStr, AfterValidator(_uuid)]
Tags = dict[Annotated[StrictStr, Field(min_length=1, max_length=512)], Annotated[StrictStr, Field(max_length=256)]]


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class Sku(_Wire):
    family: Literal["B", "C"] = "B"
    name: Literal["Standard_B1", "Custom_B32", "Custom_B6", "Custom_C42", "Custom_C10"]


class IpRule(_Wire):
    value: StrictStr


class VirtualNetworkRule(_Wire):
    id: StrictStr


class ServiceTagRule(_Wire):
    tag: StrictStr


class NetworkAcls(_Wire):
    bypass: Literal["AzureServices", "None"] | None = None
    default_action: Literal["Allow", "Deny"] | None = Field(default=None, alias="defaultAction")
    ip_rules: list[IpRule] | None = Field(default=None, alias="ipRules")
    virtual_network_rules: list[VirtualNetworkRule] | None = Field(default=None, alias="virtualNetworkRules")
    service_tags: list[ServiceTagRule] | None = Field(default=None, alias="serviceTags")

    def wire(self) -> dict[str, object]:
        return self.model_dump(by_alias=True, exclude_none=True)


class ManagedHsmProperties(_Wire):
    tenant_id: Guid | None = Field(default=None, alias="tenantId")
    initial_admin_object_ids: list[Guid] | None = Field(default=None, alias="initialAdminObjectIds")
    enable_soft_delete: StrictBool | None = Field(default=None, alias="enableSoftDelete")
    soft_delete_retention_in_days: StrictInt | None = Field(
        default=None, alias="softDeleteRetentionInDays", ge=7, le=90
    )
    enable_purge_protection: StrictBool | None = Field(default=None, alias="enablePurgeProtection")
    create_mode: Literal["recover", "default"] | None = Field(default=None, alias="createMode")
    network_acls: NetworkAcls | None = Field(default=None, alias="networkAcls")
    public_network_access: Literal["Enabled", "Disabled"] | None = Field(default=None, alias="publicNetworkAccess")


class ManagedHsmBody(_Wire):
    """PUT and PATCH body of `Microsoft.KeyVault/managedHSMs` (which fields are required depends on the verb)."""

    location: StrictStr | None = None
    sku: Sku | None = None
    tags: Tags | None = None
    properties: ManagedHsmProperties | None = None


class CheckNameBody(_Wire):
    name: StrictStr


class ResourceGroupBody(_Wire):
    location: StrictStr
    tags: Tags | None = None
    managed_by: StrictStr | None = Field(default=None, alias="managedBy")


class ResourceGroupPatchBody(_Wire):
    tags: Tags | None = None


class MoveBody(_Wire):
    resources: list[StrictStr] = Field(min_length=1)
    target_resource_group: StrictStr = Field(alias="targetResourceGroup")


class RoleAssignmentProperties(_Wire):
    role_definition_id: StrictStr = Field(alias="roleDefinitionId")
    principal_id: Guid = Field(alias="principalId")
    principal_type: Literal["User", "Group", "ServicePrincipal", "ForeignGroup", "Device"] | None = Field(
        default=None, alias="principalType"
    )
    description: StrictStr | None = None


class RoleAssignmentBody(_Wire):
    properties: RoleAssignmentProperties


class PermissionBody(_Wire):
    actions: list[StrictStr] = Field(default_factory=list)
    not_actions: list[StrictStr] = Field(default_factory=list, alias="notActions")
    data_actions: list[StrictStr] = Field(default_factory=list, alias="dataActions")
    not_data_actions: list[StrictStr] = Field(default_factory=list, alias="notDataActions")


class RoleDefinitionProperties(_Wire):
    role_name: StrictStr = Field(alias="roleName", min_length=1)
    description: StrictStr | None = None
    type: StrictStr | None = None
    permissions: list[PermissionBody] = Field(min_length=1)
    assignable_scopes: list[StrictStr] = Field(alias="assignableScopes", min_length=1)


class RoleDefinitionBody(_Wire):
    properties: RoleDefinitionProperties
