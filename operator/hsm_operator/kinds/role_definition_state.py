"""Custom role definitions: desired-vs-observed comparison and role-definition id helpers.

Why this module exists: the HSMRoleDefinition client and the HSMRoleAssignment client both need to speak about role
definitions the way the service does (`Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/<guid>`,
with or without a leading slash, GUID in any case), and the role-definition drift check is a pure comparison of
permission sets that deserves table tests of its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from hsm_operator.reconciler.external import FieldDrift

ROLE_DEFINITION_ID_PREFIX = "Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/"
CUSTOM_ROLE = "CustomRole"
BUILT_IN_ROLE = "AKVBuiltInRole"


def role_definition_id(name_or_id: str) -> str:
    """The full id for a role-definition GUID or id (a leading slash, as Terraform sends it, is dropped)."""
    value = name_or_id.strip().lstrip("/")
    if value.lower().startswith(ROLE_DEFINITION_ID_PREFIX.lower()):
        return ROLE_DEFINITION_ID_PREFIX + value[len(ROLE_DEFINITION_ID_PREFIX) :].lower()
    return ROLE_DEFINITION_ID_PREFIX + value.lower()


def role_definition_guid(name_or_id: str) -> str:
    """The GUID part of a role-definition id (or the GUID itself), lower case."""
    return name_or_id.strip().rstrip("/").rsplit("/", 1)[-1].lower()


def same_role(left: str | None, right: str | None) -> bool:
    return left is not None and right is not None and role_definition_guid(left) == role_definition_guid(right)


def _text(value: Any) -> str:
    """SDK values may be str-based enums (`KeyVaultRoleScope.GLOBAL`); their `str()` is not the wire value."""
    return str(getattr(value, "value", value))


@dataclass(frozen=True)
class PermissionState:
    actions: frozenset[str] = frozenset()
    not_actions: frozenset[str] = frozenset()
    data_actions: frozenset[str] = frozenset()
    not_data_actions: frozenset[str] = frozenset()

    @classmethod
    def of(
        cls,
        actions: Iterable[str] | None,
        not_actions: Iterable[str] | None,
        data_actions: Iterable[str] | None,
        not_data_actions: Iterable[str] | None,
    ) -> PermissionState:
        # Action names are case-insensitive in Azure RBAC; compare them folded.
        def fold(values: Iterable[str] | None) -> frozenset[str]:
            return frozenset(_text(v).lower() for v in values or ())

        return cls(fold(actions), fold(not_actions), fold(data_actions), fold(not_data_actions))

    def as_display(self) -> dict[str, list[str]]:
        return {
            "actions": sorted(self.actions),
            "notActions": sorted(self.not_actions),
            "dataActions": sorted(self.data_actions),
            "notDataActions": sorted(self.not_data_actions),
        }


@dataclass(frozen=True)
class RoleDefinitionState:
    role_name: str | None
    description: str | None
    permissions: tuple[PermissionState, ...]
    assignable_scopes: frozenset[str]
    role_type: str | None = None


def _permission_key(permission: PermissionState) -> tuple[tuple[str, ...], ...]:
    return (
        tuple(sorted(permission.actions)),
        tuple(sorted(permission.not_actions)),
        tuple(sorted(permission.data_actions)),
        tuple(sorted(permission.not_data_actions)),
    )


def role_definition_drift(desired: RoleDefinitionState, observed: RoleDefinitionState) -> tuple[FieldDrift, ...]:
    """What differs; a built-in role is never ours to change (immutable drift blocks adoption)."""
    drift: list[FieldDrift] = []
    if observed.role_type is not None and observed.role_type != CUSTOM_ROLE:
        drift.append(FieldDrift("roleDefinitionName", CUSTOM_ROLE, observed.role_type, mutable=False))
        return tuple(drift)
    if desired.role_name is not None and desired.role_name != observed.role_name:
        drift.append(FieldDrift("roleName", desired.role_name, observed.role_name))
    if desired.description is not None and desired.description != (observed.description or ""):
        drift.append(FieldDrift("description", desired.description, observed.description))
    desired_permissions = sorted(map(_permission_key, desired.permissions))
    observed_permissions = sorted(map(_permission_key, observed.permissions))
    if desired_permissions != observed_permissions:
        drift.append(
            FieldDrift(
                "permissions",
                [p.as_display() for p in desired.permissions],
                [p.as_display() for p in observed.permissions],
            )
        )
    if desired.assignable_scopes != observed.assignable_scopes:
        drift.append(
            FieldDrift("assignableScopes", sorted(desired.assignable_scopes), sorted(observed.assignable_scopes))
        )
    return tuple(drift)


def observed_role_definition(definition: Any) -> RoleDefinitionState:
    """Read an SDK `KeyVaultRoleDefinition` into a comparable snapshot."""
    permissions: Sequence[Any] = definition.permissions or ()
    return RoleDefinitionState(
        role_name=definition.role_name,
        description=definition.description,
        permissions=tuple(
            PermissionState.of(p.actions, p.not_actions, p.data_actions, p.not_data_actions) for p in permissions
        ),
        assignable_scopes=frozenset(_text(s) for s in definition.assignable_scopes or ()),
        role_type=definition.role_type,
    )
