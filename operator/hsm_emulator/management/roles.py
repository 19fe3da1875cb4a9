"""Azure RBAC role definitions: the built-ins with their real ids and permissions, and action matching.

Only management-plane `actions`/`notActions` are modelled. The four built-ins carry no data actions in Azure
either (their `dataActions` are empty), which is what keeps the planes apart: an ARM Owner is not a key user.
Matching follows Azure: `*` is a wildcard over any characters (slashes included) and comparisons ignore case.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

BUILT_IN_ROLE_TYPE = "BuiltInRole"
CUSTOM_ROLE_TYPE = "CustomRole"
ROLE_DEFINITION_PATH = "/providers/Microsoft.Authorization/roleDefinitions/"


@dataclass(frozen=True)
class Permission:
    actions: tuple[str, ...]
    not_actions: tuple[str, ...] = ()
    data_actions: tuple[str, ...] = ()
    not_data_actions: tuple[str, ...] = ()

    def grants(self, action: str) -> bool:
        return any(matches(pattern, action) for pattern in self.actions) and not any(
            matches(pattern, action) for pattern in self.not_actions
        )


@dataclass(frozen=True)
class RoleDefinition:
    """A role; `guid` is its name on the wire, `scope` where a custom role was defined (built-ins: `/`)."""

    guid: str
    role_name: str
    description: str
    permissions: tuple[Permission, ...]
    assignable_scopes: tuple[str, ...] = ("/",)
    role_type: str = BUILT_IN_ROLE_TYPE
    scope: str = "/"
    created_by: str | None = None
    extra: dict[str, str] = field(default_factory=dict, compare=False)

    def grants(self, action: str) -> bool:
        """Azure unions the permission blocks of a role; within a block notActions subtract from actions."""
        return any(permission.grants(action) for permission in self.permissions)


@lru_cache(maxsize=512)
def _pattern(wildcard: str) -> re.Pattern[str]:
    return re.compile("^" + ".*".join(re.escape(piece) for piece in wildcard.split("*")) + "$", re.IGNORECASE)


def matches(wildcard: str, action: str) -> bool:
    """True when `action` is covered by the Actions/NotActions entry `wildcard` (case-insensitive)."""
    return _pattern(wildcard).match(action) is not None


OWNER = RoleDefinition(
    guid="8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
    role_name="Owner",
    description="Grants full access to manage all resources, including the ability to assign roles in Azure RBAC.",
    permissions=(Permission(actions=("*",)),),
)
CONTRIBUTOR = RoleDefinition(
    guid="b24988ac-6180-42a0-ab88-20f7382dd24c",
    role_name="Contributor",
    description=(
        "Grants full access to manage all resources, but does not allow you to assign roles in Azure RBAC, manage"
        " assignments in Azure Blueprints, or share image galleries."
    ),
    permissions=(
        Permission(
            actions=("*",),
            not_actions=(
                "Microsoft.Authorization/*/Delete",
                "Microsoft.Authorization/*/Write",
                "Microsoft.Authorization/elevateAccess/Action",
                "Microsoft.Blueprint/blueprintAssignments/write",
                "Microsoft.Blueprint/blueprintAssignments/delete",
                "Microsoft.Compute/galleries/share/action",
                "Microsoft.Purview/consents/write",
                "Microsoft.Purview/consents/delete",
            ),
        ),
    ),
)
READER = RoleDefinition(
    guid="acdd72a7-3385-48ef-bd42-f606fba81ae7",
    role_name="Reader",
    description="View all resources, but does not allow you to make any changes.",
    permissions=(Permission(actions=("*/read",)),),
)
MANAGED_HSM_CONTRIBUTOR = RoleDefinition(
    guid="18500a29-7fe2-46b2-a342-b16a415e101d",
    role_name="Managed HSM contributor",
    description="Lets you manage managed HSM pools, but not access to them.",
    permissions=(
        Permission(
            actions=(
                "Microsoft.KeyVault/managedHSMs/*",
                "Microsoft.KeyVault/deletedManagedHsms/read",
                "Microsoft.KeyVault/locations/deletedManagedHsms/read",
                "Microsoft.KeyVault/locations/deletedManagedHsms/purge/action",
                "Microsoft.KeyVault/locations/managedHsmOperationResults/read",
            ),
        ),
    ),
)

BUILT_IN_ROLES: tuple[RoleDefinition, ...] = (OWNER, CONTRIBUTOR, READER, MANAGED_HSM_CONTRIBUTOR)
_BUILT_IN_BY_GUID = {role.guid: role for role in BUILT_IN_ROLES}
_BUILT_IN_BY_NAME = {role.role_name.lower(): role for role in BUILT_IN_ROLES}


def built_in_by_guid(guid: str) -> RoleDefinition | None:
    return _BUILT_IN_BY_GUID.get(guid.lower())


def built_in_by_name(name: str) -> RoleDefinition | None:
    return _BUILT_IN_BY_NAME.get(name.lower())


def guid_from_definition_id(definition_id: str) -> str | None:
    """`.../providers/Microsoft.Authorization/roleDefinitions/<guid>` (any scope prefix) or a bare guid -> guid."""
    marker = ROLE_DEFINITION_PATH.lower()
    lowered = definition_id.strip().lower()
    index = lowered.rfind(marker)
    tail = lowered[index + len(marker) :] if index >= 0 else lowered
    return tail if _GUID.match(tail) else None


_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def is_guid(value: str) -> bool:
    return _GUID.match(value.lower()) is not None
