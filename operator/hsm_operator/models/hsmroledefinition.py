"""HSMRoleDefinition: a custom role of the HSM's local RBAC.

Custom roles exist because the built-in ones are coarse (e.g. the Crypto User role can delete keys). The data
actions are the ones the service knows (AZURE-API.md §4), so a typo is refused at apply time instead of producing
a role that silently grants nothing.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, ClassVar, Literal

from pydantic import Field, StringConstraints, field_validator

from hsm_operator.models import base, common
from hsm_operator.models.base import CrdModel


class DataAction(StrEnum):
    """Data actions of Managed HSM local RBAC: the service's DataAction enum plus keys/rotate and keys/derive,
    which real role definitions contain."""

    KEYS_READ_ACTION = "Microsoft.KeyVault/managedHsm/keys/read/action"
    KEYS_WRITE_ACTION = "Microsoft.KeyVault/managedHsm/keys/write/action"
    KEYS_CREATE = "Microsoft.KeyVault/managedHsm/keys/create"
    KEYS_DELETE = "Microsoft.KeyVault/managedHsm/keys/delete"
    KEYS_IMPORT_ACTION = "Microsoft.KeyVault/managedHsm/keys/import/action"
    KEYS_EXPORT_ACTION = "Microsoft.KeyVault/managedHsm/keys/export/action"
    KEYS_RELEASE_ACTION = "Microsoft.KeyVault/managedHsm/keys/release/action"
    KEYS_BACKUP_ACTION = "Microsoft.KeyVault/managedHsm/keys/backup/action"
    KEYS_RESTORE_ACTION = "Microsoft.KeyVault/managedHsm/keys/restore/action"
    KEYS_ROTATE_ACTION = "Microsoft.KeyVault/managedHsm/keys/rotate/action"
    KEYS_DERIVE_ACTION = "Microsoft.KeyVault/managedHsm/keys/derive/action"
    KEYS_DELETED_KEYS_READ_ACTION = "Microsoft.KeyVault/managedHsm/keys/deletedKeys/read/action"
    KEYS_DELETED_KEYS_RECOVER_ACTION = "Microsoft.KeyVault/managedHsm/keys/deletedKeys/recover/action"
    KEYS_DELETED_KEYS_DELETE = "Microsoft.KeyVault/managedHsm/keys/deletedKeys/delete"
    KEYS_ENCRYPT_ACTION = "Microsoft.KeyVault/managedHsm/keys/encrypt/action"
    KEYS_DECRYPT_ACTION = "Microsoft.KeyVault/managedHsm/keys/decrypt/action"
    KEYS_WRAP_ACTION = "Microsoft.KeyVault/managedHsm/keys/wrap/action"
    KEYS_UNWRAP_ACTION = "Microsoft.KeyVault/managedHsm/keys/unwrap/action"
    KEYS_SIGN_ACTION = "Microsoft.KeyVault/managedHsm/keys/sign/action"
    KEYS_VERIFY_ACTION = "Microsoft.KeyVault/managedHsm/keys/verify/action"
    ROLE_ASSIGNMENTS_READ_ACTION = "Microsoft.KeyVault/managedHsm/roleAssignments/read/action"
    ROLE_ASSIGNMENTS_WRITE_ACTION = "Microsoft.KeyVault/managedHsm/roleAssignments/write/action"
    ROLE_ASSIGNMENTS_DELETE_ACTION = "Microsoft.KeyVault/managedHsm/roleAssignments/delete/action"
    ROLE_DEFINITIONS_READ_ACTION = "Microsoft.KeyVault/managedHsm/roleDefinitions/read/action"
    ROLE_DEFINITIONS_WRITE_ACTION = "Microsoft.KeyVault/managedHsm/roleDefinitions/write/action"
    ROLE_DEFINITIONS_DELETE_ACTION = "Microsoft.KeyVault/managedHsm/roleDefinitions/delete/action"
    SECURITYDOMAIN_DOWNLOAD_ACTION = "Microsoft.KeyVault/managedHsm/securitydomain/download/action"
    SECURITYDOMAIN_DOWNLOAD_READ = "Microsoft.KeyVault/managedHsm/securitydomain/download/read"
    SECURITYDOMAIN_UPLOAD_ACTION = "Microsoft.KeyVault/managedHsm/securitydomain/upload/action"
    SECURITYDOMAIN_UPLOAD_READ = "Microsoft.KeyVault/managedHsm/securitydomain/upload/read"
    SECURITYDOMAIN_TRANSFERKEY_READ = "Microsoft.KeyVault/managedHsm/securitydomain/transferkey/read"
    BACKUP_START_ACTION = "Microsoft.KeyVault/managedHsm/backup/start/action"
    BACKUP_STATUS_ACTION = "Microsoft.KeyVault/managedHsm/backup/status/action"
    RESTORE_START_ACTION = "Microsoft.KeyVault/managedHsm/restore/start/action"
    RESTORE_STATUS_ACTION = "Microsoft.KeyVault/managedHsm/restore/status/action"
    RNG_ACTION = "Microsoft.KeyVault/managedHsm/rng/action"


MAX_ACTIONS = len(DataAction)

ActionName = Annotated[str, StringConstraints(min_length=1, max_length=256)]


class RoleScope(StrEnum):
    ROOT = "/"
    KEYS = "/keys"


class Permission(CrdModel):
    """One permission block of a role: allowed and excluded (data) actions."""

    actions: Annotated[list[ActionName], Field(max_length=MAX_ACTIONS)] = Field(
        default=[], description="Control-plane actions; Managed HSM roles normally leave this empty."
    )
    not_actions: Annotated[list[ActionName], Field(max_length=MAX_ACTIONS)] = Field(
        default=[], description="Control-plane actions excluded from actions."
    )
    data_actions: Annotated[list[DataAction], Field(max_length=MAX_ACTIONS)] = Field(
        default=[],
        description="Data actions granted, e.g. Microsoft.KeyVault/managedHsm/keys/rotate/action.",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    not_data_actions: Annotated[list[DataAction], Field(max_length=MAX_ACTIONS)] = Field(
        default=[],
        description="Data actions excluded from dataActions.",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )

    @field_validator("data_actions", "not_data_actions")
    @classmethod
    def _actions_are_a_set(cls, actions: list[DataAction]) -> list[DataAction]:
        if len(set(actions)) != len(actions):
            raise ValueError("data actions must not repeat")
        return actions


class HSMRoleDefinitionSpec(common.DataPlaneSpec):
    """Desired custom role."""

    cel_rules: ClassVar[tuple[base.CelRule, ...]] = (base.immutable("roleDefinitionName", path="spec"),)

    role_definition_name: common.Guid | None = Field(
        default=None,
        description="Name (GUID) of the role definition. Defaults to a UUIDv5 of this object's namespace/name. "
        "Immutable.",
    )
    role_name: Annotated[str, StringConstraints(min_length=1, max_length=256)] = Field(
        description="Display name of the role; HSMRoleAssignment.spec.roleName refers to it."
    )
    description: Annotated[str, StringConstraints(max_length=1024)] | None = Field(
        default=None, description="What the role is for."
    )
    permissions: Annotated[list[Permission], Field(min_length=1, max_length=10)] = Field(
        description="What the role allows and excludes."
    )
    assignable_scopes: Annotated[list[RoleScope], Field(min_length=1, max_length=2)] = Field(
        default=[RoleScope.ROOT],
        description="Scopes the role can be assigned at: '/' (default) and/or '/keys'.",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    deletion_policy: Literal[common.DeletionPolicy.DELETE, common.DeletionPolicy.ORPHAN] = Field(
        default=common.DeletionPolicy.DELETE,
        description="Delete (default) removes the role from the HSM when this object is deleted; Orphan keeps it.",
    )

    @field_validator("assignable_scopes")
    @classmethod
    def _scopes_are_a_set(cls, scopes: list[RoleScope]) -> list[RoleScope]:
        if len(set(scopes)) != len(scopes):
            raise ValueError("spec.assignableScopes must not repeat a scope")
        return scopes


class HSMRoleDefinitionStatus(common.ResourceStatus):
    """The role as last observed."""

    role_definition_id: str | None = Field(
        default=None,
        description="Full id, Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/<guid>.",
    )
    role_type: str | None = Field(default=None, description="CustomRole (or AKVBuiltInRole for adopted built-ins).")
