"""The catalogue of Managed HSM local RBAC roles, with the real ids, wire names and data actions.

Role contents are copied from role-definition lists recorded against the real service (Azure/azure-sdk-for-js
keyvault-admin recordings, 2022 wire form): they are the single source for both the role-definition API (the
built-ins must appear in list results, the CLI resolves names by listing) and the authorization decision.
"""

from __future__ import annotations

from dataclasses import dataclass, field

DATA_ACTION_PREFIX = "Microsoft.KeyVault/managedHsm/"
ROLE_DEFINITION_ID_PREFIX = "Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/"
BUILT_IN_ROLE_TYPE = "AKVBuiltInRole"
CUSTOM_ROLE_TYPE = "CustomRole"


def _full(*short_names: str) -> tuple[str, ...]:
    return tuple(DATA_ACTION_PREFIX + name for name in short_names)


class DataAction:
    """Every data action a data-plane call can require (the rbac.json enum plus the ones seen in role data)."""

    KEYS_READ = DATA_ACTION_PREFIX + "keys/read/action"
    KEYS_WRITE = DATA_ACTION_PREFIX + "keys/write/action"
    KEYS_CREATE = DATA_ACTION_PREFIX + "keys/create"
    KEYS_DELETE = DATA_ACTION_PREFIX + "keys/delete"
    KEYS_IMPORT = DATA_ACTION_PREFIX + "keys/import/action"
    KEYS_EXPORT = DATA_ACTION_PREFIX + "keys/export/action"
    KEYS_RELEASE = DATA_ACTION_PREFIX + "keys/release/action"
    KEYS_BACKUP = DATA_ACTION_PREFIX + "keys/backup/action"
    KEYS_RESTORE = DATA_ACTION_PREFIX + "keys/restore/action"
    KEYS_ROTATE = DATA_ACTION_PREFIX + "keys/rotate/action"
    KEYS_DERIVE = DATA_ACTION_PREFIX + "keys/derive/action"
    DELETED_KEYS_READ = DATA_ACTION_PREFIX + "keys/deletedKeys/read/action"
    DELETED_KEYS_RECOVER = DATA_ACTION_PREFIX + "keys/deletedKeys/recover/action"
    DELETED_KEYS_PURGE = DATA_ACTION_PREFIX + "keys/deletedKeys/delete"
    ENCRYPT = DATA_ACTION_PREFIX + "keys/encrypt/action"
    DECRYPT = DATA_ACTION_PREFIX + "keys/decrypt/action"
    WRAP = DATA_ACTION_PREFIX + "keys/wrap/action"
    UNWRAP = DATA_ACTION_PREFIX + "keys/unwrap/action"
    SIGN = DATA_ACTION_PREFIX + "keys/sign/action"
    VERIFY = DATA_ACTION_PREFIX + "keys/verify/action"
    ROLE_ASSIGNMENTS_READ = DATA_ACTION_PREFIX + "roleAssignments/read/action"
    ROLE_ASSIGNMENTS_WRITE = DATA_ACTION_PREFIX + "roleAssignments/write/action"
    ROLE_ASSIGNMENTS_DELETE = DATA_ACTION_PREFIX + "roleAssignments/delete/action"
    ROLE_DEFINITIONS_READ = DATA_ACTION_PREFIX + "roleDefinitions/read/action"
    ROLE_DEFINITIONS_WRITE = DATA_ACTION_PREFIX + "roleDefinitions/write/action"
    ROLE_DEFINITIONS_DELETE = DATA_ACTION_PREFIX + "roleDefinitions/delete/action"
    SD_DOWNLOAD = DATA_ACTION_PREFIX + "securitydomain/download/action"
    SD_DOWNLOAD_READ = DATA_ACTION_PREFIX + "securitydomain/download/read"
    SD_UPLOAD = DATA_ACTION_PREFIX + "securitydomain/upload/action"
    SD_UPLOAD_READ = DATA_ACTION_PREFIX + "securitydomain/upload/read"
    SD_TRANSFER_KEY_READ = DATA_ACTION_PREFIX + "securitydomain/transferkey/read"
    BACKUP_START = DATA_ACTION_PREFIX + "backup/start/action"
    BACKUP_STATUS = DATA_ACTION_PREFIX + "backup/status/action"
    RESTORE_START = DATA_ACTION_PREFIX + "restore/start/action"
    RESTORE_STATUS = DATA_ACTION_PREFIX + "restore/status/action"
    RNG = DATA_ACTION_PREFIX + "rng/action"
    SETTINGS_READ = DATA_ACTION_PREFIX + "settings/read/action"
    SETTINGS_WRITE = DATA_ACTION_PREFIX + "settings/write/action"


ALL_DATA_ACTIONS: tuple[str, ...] = tuple(
    value for name, value in vars(DataAction).items() if name.isupper() and isinstance(value, str)
)


@dataclass(frozen=True)
class Permission:
    """One entry of a role's ``permissions`` list (Azure RBAC shape)."""

    actions: tuple[str, ...] = ()
    not_actions: tuple[str, ...] = ()
    data_actions: tuple[str, ...] = ()
    not_data_actions: tuple[str, ...] = ()


@dataclass(frozen=True)
class RoleDefinition:
    """A role definition as the data plane stores and serves it; ``name`` is the GUID."""

    name: str
    role_name: str
    role_type: str
    permissions: tuple[Permission, ...]
    description: str = ""
    assignable_scopes: tuple[str, ...] = field(default=("/",))

    @property
    def id(self) -> str:
        return ROLE_DEFINITION_ID_PREFIX + self.name

    @property
    def is_built_in(self) -> bool:
        return self.role_type == BUILT_IN_ROLE_TYPE


def _built_in(
    name: str, role_name: str, data_actions: tuple[str, ...], actions: tuple[str, ...] = ()
) -> RoleDefinition:
    return RoleDefinition(
        name=name,
        role_name=role_name,
        role_type=BUILT_IN_ROLE_TYPE,
        permissions=(Permission(actions=actions, data_actions=data_actions),),
    )


ADMINISTRATOR_ID = "a290e904-7015-4bba-90c8-60543313cdb4"

_RBAC_MANAGEMENT = _full(
    "roleAssignments/delete/action",
    "roleAssignments/read/action",
    "roleAssignments/write/action",
    "roleDefinitions/read/action",
    "roleDefinitions/write/action",
    "roleDefinitions/delete/action",
)

BUILT_IN_ROLES: tuple[RoleDefinition, ...] = (
    _built_in(
        "7b127d3c-77bd-4e3e-bbe0-dbb8971fa7f8",
        "Managed HSM Backup User",
        _full("backup/start/action", "backup/status/action", "keys/backup/action"),
    ),
    _built_in(
        "33413926-3206-4cdd-b39a-83574fe37a17",
        "Managed HSM Crypto Service Encryption User",
        _full("keys/read/action", "keys/wrap/action", "keys/unwrap/action"),
    ),
    _built_in(
        "21dbd100-6940-42c2-9190-5d6cb909625c",
        "Managed HSM Crypto Service Release User",
        _full("keys/release/action"),
    ),
    _built_in(
        "2c18b078-7c48-4d3a-af88-5a3a1b3f82b3",
        "Managed HSM Crypto Auditor",
        _full(
            "roleAssignments/read/action",
            "roleDefinitions/read/action",
            "keys/read/action",
            "keys/deletedKeys/read/action",
        ),
    ),
    _built_in(
        "4bd23610-cdcf-4971-bdee-bdc562cc28e4",
        "Managed HSM Policy Administrator",
        _full(
            "roleDefinitions/read/action",
            "roleDefinitions/write/action",
            "roleDefinitions/delete/action",
            "roleAssignments/read/action",
            "roleAssignments/write/action",
            "roleAssignments/delete/action",
        ),
    ),
    _built_in(
        "21dbd100-6940-42c2-9190-5d6cb909625b",
        "Managed HSM Crypto User",
        _full(
            "roleDefinitions/read/action",
            "roleAssignments/read/action",
            "keys/read/action",
            "keys/write/action",
            "keys/delete",
            "keys/create",
            "keys/rotate/action",
            "keys/import/action",
            "keys/release/action",
            "keys/backup/action",
            "keys/restore/action",
            "keys/encrypt/action",
            "keys/decrypt/action",
            "keys/wrap/action",
            "keys/unwrap/action",
            "keys/sign/action",
            "keys/verify/action",
            "keys/derive/action",
            "rng/action",
        ),
    ),
    _built_in(
        "515eb02d-2335-4d2d-92f2-b1cbdf9c3778",
        "Managed HSM Crypto Officer",
        _RBAC_MANAGEMENT
        + _full(
            "keys/deletedKeys/read/action",
            "keys/deletedKeys/delete",
            "keys/deletedKeys/recover/action",
            "keys/export/action",
        ),
    ),
    _built_in(
        ADMINISTRATOR_ID,
        "Managed HSM Administrator",
        _RBAC_MANAGEMENT
        + _full(
            "securitydomain/download/action",
            "securitydomain/download/read",
            "securitydomain/upload/action",
            "securitydomain/upload/read",
            "securitydomain/transferkey/read",
            "backup/start/action",
            "restore/start/action",
            "backup/status/action",
            "restore/status/action",
            "settings/read/action",
            "settings/write/action",
        ),
    ),
    _built_in(
        "6efe6056-5259-49d2-8b3d-d3d73544b20b",
        "Managed HSM Restore User",
        _full("restore/start/action", "restore/status/action", "keys/restore/action"),
    ),
    # The ARM User grants management-plane *actions* (ARM key resources), never data actions.
    _built_in(
        "770fd66c-6266-4643-9d4e-b616870898d5",
        "Managed HSM ARM User",
        (),
        actions=_full("keys/createIfNotExists", "keys/read/action"),
    ),
)

BUILT_IN_ROLES_BY_NAME: dict[str, RoleDefinition] = {role.name: role for role in BUILT_IN_ROLES}
