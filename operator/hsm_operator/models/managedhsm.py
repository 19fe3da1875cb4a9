"""ManagedHSM: an Azure Key Vault Managed HSM (`Microsoft.KeyVault/managedHSMs`), reconciled on the management plane.

Field names follow the ARM resource's properties (AZURE-API.md §6) in camelCase so Azure docs map one to one.
Everything Azure fixes at creation is immutable here too, so a change is refused at apply time rather than failing
later in the reconcile loop.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, ClassVar, Literal

from pydantic import Field, StringConstraints, field_validator

from hsm_operator.models import base, common
from hsm_operator.models.base import CrdModel

# Azure: 3-24 characters, letters, digits and hyphens, starting with a letter, ending with a letter or digit, no "--".
AzureHsmName = Annotated[
    str, StringConstraints(min_length=3, max_length=24, pattern=r"^[a-zA-Z][a-zA-Z0-9-]{1,22}[a-zA-Z0-9]$")
]
ResourceGroupName = Annotated[
    str, StringConstraints(min_length=1, max_length=90, pattern=r"^[-a-zA-Z0-9_.()]*[-a-zA-Z0-9_()]$")
]
MAX_TAGS = 50
MAX_ADMINS = 100


class SkuName(StrEnum):
    STANDARD_B1 = "Standard_B1"
    CUSTOM_B32 = "Custom_B32"
    CUSTOM_B6 = "Custom_B6"
    CUSTOM_C42 = "Custom_C42"
    CUSTOM_C10 = "Custom_C10"


class CreateMode(StrEnum):
    DEFAULT = "default"
    RECOVER = "recover"


class PublicNetworkAccess(StrEnum):
    ENABLED = "Enabled"
    DISABLED = "Disabled"


class NetworkBypass(StrEnum):
    AZURE_SERVICES = "AzureServices"
    NONE = "None"


class NetworkAction(StrEnum):
    ALLOW = "Allow"
    DENY = "Deny"


class Sku(CrdModel):
    """The pricing tier; the SKU family (B or C) follows from the name."""

    name: SkuName = Field(description="SKU name: Standard_B1, Custom_B32, Custom_B6, Custom_C42 or Custom_C10.")


class IpRule(CrdModel):
    value: Annotated[str, StringConstraints(min_length=1, max_length=64)] = Field(
        description="An IPv4 address or CIDR range allowed to reach the HSM, e.g. 203.0.113.0/24."
    )


class ServiceTagRule(CrdModel):
    tag: Annotated[str, StringConstraints(min_length=1, max_length=128)] = Field(
        description="An Azure service tag allowed to reach the HSM."
    )


class VirtualNetworkRule(CrdModel):
    id: Annotated[str, StringConstraints(min_length=1, max_length=1024)] = Field(
        description="Full ARM resource id of a virtual-network subnet allowed to reach the HSM."
    )


class NetworkAcls(CrdModel):
    """Firewall rules of the HSM (ARM `properties.networkAcls`)."""

    bypass: NetworkBypass | None = Field(
        default=None, description="AzureServices lets trusted Azure services bypass the rules; None does not."
    )
    default_action: NetworkAction | None = Field(
        default=None, description="Allow or Deny traffic that no rule matches."
    )
    ip_rules: Annotated[list[IpRule], Field(max_length=200)] | None = Field(
        default=None, description="IP addresses or ranges allowed through."
    )
    service_tags: Annotated[list[ServiceTagRule], Field(max_length=100)] | None = Field(
        default=None, description="Service tags allowed through."
    )
    virtual_network_rules: Annotated[list[VirtualNetworkRule], Field(max_length=200)] | None = Field(
        default=None, description="Subnets allowed through."
    )


Tags = Annotated[
    dict[str, Annotated[str, StringConstraints(max_length=256)]],
    Field(
        max_length=MAX_TAGS,
        json_schema_extra={
            "x-kubernetes-validations": [
                base.cel("self.all(k, size(k) >= 1 && size(k) <= 512)", "tag names must be 1 to 512 characters")
            ]
        },
    ),
]


IMMUTABLE_FIELDS = (
    "azureName",
    "subscriptionId",
    "location",
    "sku",
    "tenantId",
    "initialAdminObjectIds",
    "softDeleteRetentionInDays",
)


class ManagedHSMSpec(common.ManagedResourceSpec):
    """Desired state of a Managed HSM."""

    cel_rules: ClassVar[tuple[base.CelRule, ...]] = (
        *(base.immutable(name, path="spec") for name in IMMUTABLE_FIELDS),
        base.cel(
            "!has(oldSelf.enablePurgeProtection) || !oldSelf.enablePurgeProtection"
            " || (has(self.enablePurgeProtection) && self.enablePurgeProtection)",
            "spec.enablePurgeProtection cannot be switched off once it is true",
            field_path=".enablePurgeProtection",
            reason="FieldValueForbidden",
        ),
    )

    azure_name: AzureHsmName | None = Field(
        default=None,
        description=(
            "Name of the HSM in Azure (3-24 letters, digits and hyphens; globally unique; the hostname of its URI). "
            "Defaults to metadata.name. Immutable."
        ),
        json_schema_extra={
            "x-kubernetes-validations": [
                base.cel("!self.contains('--')", "spec.azureName must not contain consecutive hyphens")
            ]
        },
    )
    subscription_id: common.Guid = Field(description="Azure subscription (GUID) that holds the HSM. Immutable.")
    resource_group_name: ResourceGroupName = Field(
        description="Resource group that holds the HSM. Changing it moves the HSM to another resource group."
    )
    location: Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[a-zA-Z0-9 ]+$")] = Field(
        description="Azure region, e.g. westeurope. Immutable."
    )
    sku: Sku = Field(description="Pricing tier. Immutable.")
    tenant_id: common.Guid = Field(
        description="Entra ID tenant (GUID) whose identities authenticate to the HSM. Immutable."
    )
    initial_admin_object_ids: Annotated[list[common.Guid], Field(min_length=1, max_length=MAX_ADMINS)] = Field(
        description=(
            "Object ids of the principals that become Managed HSM Administrators at '/' on creation: the only "
            "data-plane administrators of a new HSM. Immutable."
        ),
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    soft_delete_retention_in_days: Annotated[int, Field(ge=7, le=90)] = Field(
        default=90, description="Days a deleted HSM stays recoverable (7-90, default 90). Immutable."
    )
    enable_purge_protection: bool = Field(
        default=True,
        description=(
            "Forbid purging the HSM (and its keys) during the retention period. Default true, as in Azure. "
            "Once true it cannot be switched off."
        ),
    )
    public_network_access: PublicNetworkAccess = Field(
        default=PublicNetworkAccess.ENABLED, description="Enabled (default) or Disabled."
    )
    network_acls: NetworkAcls | None = Field(
        default=None, description="Firewall rules; absent leaves the HSM's network rules unmanaged."
    )
    create_mode: CreateMode = Field(
        default=CreateMode.DEFAULT,
        description="default creates a new HSM; recover recovers a soft-deleted HSM of the same name.",
    )
    tags: Tags | None = Field(default=None, description="Azure resource tags (at most 50).")
    deletion_policy: Literal[common.DeletionPolicy.DELETE, common.DeletionPolicy.ORPHAN] = Field(
        default=common.DeletionPolicy.ORPHAN,
        description=(
            "Orphan (default) keeps the HSM in Azure when this object is deleted; Delete deletes it (soft delete)."
        ),
    )

    @field_validator("azure_name")
    @classmethod
    def _no_double_hyphen(cls, name: str | None) -> str | None:
        if name is not None and "--" in name:
            raise ValueError("spec.azureName must not contain consecutive hyphens")
        return name

    @field_validator("initial_admin_object_ids")
    @classmethod
    def _admins_are_a_set(cls, ids: list[str]) -> list[str]:
        if len(set(ids)) != len(ids):
            raise ValueError("spec.initialAdminObjectIds must not repeat an object id")
        return ids

    @field_validator("tags")
    @classmethod
    def _tag_names(cls, tags: dict[str, str] | None) -> dict[str, str] | None:
        if tags is not None and any(not 1 <= len(k) <= 512 for k in tags):
            raise ValueError("tag names must be 1 to 512 characters")
        return tags


class ManagedHSMStatus(common.ResourceStatus):
    """What the operator last observed of the HSM in Azure."""

    resource_id: str | None = Field(default=None, description="ARM resource id of the HSM.")
    hsm_uri: str | None = Field(default=None, description="Data-plane URI, e.g. https://name.managedhsm.azure.net/.")
    provisioning_state: str | None = Field(
        default=None, description="Azure provisioningState, e.g. Provisioning, Succeeded, Failed."
    )
    status_message: str | None = Field(default=None, description="Azure statusMessage of the HSM.")
    activation_status: str | None = Field(
        default=None, description="Security-domain activation: NotActivated, Active, Failed or Unknown."
    )
    scheduled_purge_date: datetime | None = Field(default=None, description="When a soft-deleted HSM will be purged.")
