"""The management plane's tables and typed rows: hierarchy, resource groups, HSMs, Azure RBAC, operations.

All functions take an open `Transaction` (the caller decides the transaction boundary, so a request that touches
several tables commits all of it or nothing). Names are case-insensitive like ARM (`COLLATE NOCASE`). List-valued
columns hold JSON.

An HSM has two identities: `hsm_id`, a UUID that never changes (the data plane keys its own tables on it), and its
ARM resource id, which changes when the HSM moves to another resource group.
"""

# S608: the f-strings below splice only constant column lists and "?" placeholders; values are always parameters.
# ruff: noqa: S608

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from hsm_emulator.storage import Migration, Transaction

DOMAIN = "management"

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        DOMAIN,
        1,
        (
            """CREATE TABLE IF NOT EXISTS arm_management_groups (
                id TEXT PRIMARY KEY COLLATE NOCASE,
                tenant_id TEXT NOT NULL,
                parent_id TEXT COLLATE NOCASE
            )""",
            """CREATE TABLE IF NOT EXISTS arm_subscriptions (
                id TEXT PRIMARY KEY COLLATE NOCASE,
                tenant_id TEXT NOT NULL,
                management_group TEXT COLLATE NOCASE
            )""",
            """CREATE TABLE IF NOT EXISTS arm_resource_groups (
                subscription_id TEXT NOT NULL COLLATE NOCASE,
                name TEXT NOT NULL COLLATE NOCASE,
                location TEXT NOT NULL,
                tags TEXT NOT NULL DEFAULT '{}',
                PRIMARY KEY (subscription_id, name)
            )""",
            """CREATE TABLE IF NOT EXISTS arm_managed_hsms (
                hsm_id TEXT PRIMARY KEY,
                name TEXT NOT NULL UNIQUE COLLATE NOCASE,
                subscription_id TEXT NOT NULL COLLATE NOCASE,
                resource_group TEXT NOT NULL COLLATE NOCASE,
                location TEXT NOT NULL,
                tenant_id TEXT NOT NULL,
                sku_family TEXT NOT NULL,
                sku_name TEXT NOT NULL,
                tags TEXT NOT NULL,
                initial_admin_object_ids TEXT NOT NULL,
                soft_delete_retention_days INTEGER NOT NULL,
                purge_protection INTEGER NOT NULL,
                public_network_access TEXT NOT NULL,
                network_acls TEXT,
                hsm_port INTEGER NOT NULL UNIQUE,
                activation_status TEXT NOT NULL,
                pending_state TEXT NOT NULL,
                ready_at REAL NOT NULL,
                created_at REAL NOT NULL,
                created_by TEXT NOT NULL,
                updated_at REAL NOT NULL,
                updated_by TEXT NOT NULL,
                deleted_at REAL,
                scheduled_purge_at REAL
            )""",
            "CREATE INDEX IF NOT EXISTS arm_hsms_by_group ON arm_managed_hsms (subscription_id, resource_group)",
            """CREATE TABLE IF NOT EXISTS arm_role_definitions (
                guid TEXT PRIMARY KEY COLLATE NOCASE,
                scope TEXT NOT NULL,
                role_name TEXT NOT NULL,
                description TEXT NOT NULL,
                permissions TEXT NOT NULL,
                assignable_scopes TEXT NOT NULL,
                created_at REAL NOT NULL,
                created_by TEXT NOT NULL,
                updated_at REAL NOT NULL
            )""",
            """CREATE TABLE IF NOT EXISTS arm_role_assignments (
                name TEXT PRIMARY KEY COLLATE NOCASE,
                scope TEXT NOT NULL,
                scope_key TEXT NOT NULL,
                role_definition_guid TEXT NOT NULL COLLATE NOCASE,
                principal_id TEXT NOT NULL COLLATE NOCASE,
                principal_type TEXT NOT NULL,
                description TEXT,
                created_at REAL NOT NULL,
                created_by TEXT NOT NULL
            )""",
            "CREATE INDEX IF NOT EXISTS arm_role_assignments_by_principal ON arm_role_assignments (principal_id)",
            """CREATE TABLE IF NOT EXISTS arm_operations (
                id TEXT PRIMARY KEY,
                subscription_id TEXT NOT NULL COLLATE NOCASE,
                location TEXT NOT NULL,
                target_scope TEXT NOT NULL,
                initiator_object_id TEXT NOT NULL,
                started_at REAL NOT NULL,
                completes_at REAL NOT NULL
            )""",
        ),
    ),
)


def _json_list(text: str | None) -> list[Any]:
    value = json.loads(text) if text else []
    return value if isinstance(value, list) else []


def _json_dict(text: str | None) -> dict[str, Any]:
    value = json.loads(text) if text else {}
    return value if isinstance(value, dict) else {}


# --- hierarchy -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Subscription:
    id: str
    tenant_id: str
    management_group: str | None


def upsert_management_group(tx: Transaction, group_id: str, tenant_id: str, parent_id: str | None) -> None:
    tx.execute(
        "INSERT INTO arm_management_groups (id, tenant_id, parent_id) VALUES (?, ?, ?) "
        "ON CONFLICT(id) DO UPDATE SET tenant_id = excluded.tenant_id, parent_id = excluded.parent_id",
        (group_id, tenant_id, parent_id),
    )


def management_group_parent(tx: Transaction, group_id: str) -> str | None:
    row = tx.one("SELECT parent_id FROM arm_management_groups WHERE id = ?", (group_id,))
    return str(row["parent_id"]) if row and row["parent_id"] else None


def management_group_tenant(tx: Transaction, group_id: str) -> str | None:
    row = tx.one("SELECT tenant_id FROM arm_management_groups WHERE id = ?", (group_id,))
    return str(row["tenant_id"]) if row else None


def upsert_subscription(tx: Transaction, subscription_id: str, tenant_id: str, management_group: str | None) -> None:
    tx.execute(
        "INSERT INTO arm_subscriptions (id, tenant_id, management_group) VALUES (?, ?, ?) "
        "ON CONFLICT(id) DO UPDATE SET tenant_id = excluded.tenant_id, management_group = excluded.management_group",
        (subscription_id, tenant_id, management_group),
    )


def get_subscription(tx: Transaction, subscription_id: str) -> Subscription | None:
    row = tx.one("SELECT id, tenant_id, management_group FROM arm_subscriptions WHERE id = ?", (subscription_id,))
    if row is None:
        return None
    return Subscription(str(row["id"]), str(row["tenant_id"]), row["management_group"])


def subscription_management_group(tx: Transaction, subscription_id: str) -> str | None:
    subscription = get_subscription(tx, subscription_id)
    return subscription.management_group if subscription else None


# --- resource groups -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResourceGroup:
    subscription_id: str
    name: str
    location: str
    tags: dict[str, str]


def _resource_group(row: sqlite3.Row) -> ResourceGroup:
    return ResourceGroup(str(row["subscription_id"]), str(row["name"]), str(row["location"]), _json_dict(row["tags"]))


def get_resource_group(tx: Transaction, subscription_id: str, name: str) -> ResourceGroup | None:
    row = tx.one("SELECT * FROM arm_resource_groups WHERE subscription_id = ? AND name = ?", (subscription_id, name))
    return _resource_group(row) if row else None


def list_resource_groups(tx: Transaction, subscription_id: str) -> list[ResourceGroup]:
    rows = tx.all("SELECT * FROM arm_resource_groups WHERE subscription_id = ? ORDER BY name", (subscription_id,))
    return [_resource_group(row) for row in rows]


def put_resource_group(tx: Transaction, group: ResourceGroup) -> None:
    """Insert, or update the tags of an existing group (its location is immutable; the caller checks)."""
    tx.execute(
        "INSERT INTO arm_resource_groups (subscription_id, name, location, tags) VALUES (?, ?, ?, ?) "
        "ON CONFLICT(subscription_id, name) DO UPDATE SET tags = excluded.tags",
        (group.subscription_id, group.name, group.location, json.dumps(group.tags)),
    )


def delete_resource_group(tx: Transaction, subscription_id: str, name: str) -> None:
    tx.execute("DELETE FROM arm_resource_groups WHERE subscription_id = ? AND name = ?", (subscription_id, name))


# --- managed HSMs ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HsmRow:
    """One HSM as stored (soft-deleted ones included, with `deleted_at` set)."""

    hsm_id: str
    name: str
    subscription_id: str
    resource_group: str
    location: str
    tenant_id: str
    sku_family: str
    sku_name: str
    tags: dict[str, str]
    initial_admin_object_ids: tuple[str, ...]
    soft_delete_retention_days: int
    purge_protection: bool
    public_network_access: str
    network_acls: dict[str, Any] | None
    hsm_port: int
    activation_status: str
    pending_state: str
    ready_at: float
    created_at: float
    created_by: str
    updated_at: float
    updated_by: str
    deleted_at: float | None
    scheduled_purge_at: float | None

    @property
    def resource_id(self) -> str:
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.KeyVault/managedHSMs/{self.name}"
        )


_HSM_COLUMNS = (
    "hsm_id, name, subscription_id, resource_group, location, tenant_id, sku_family, sku_name, tags, "
    "initial_admin_object_ids, soft_delete_retention_days, purge_protection, public_network_access, network_acls, "
    "hsm_port, activation_status, pending_state, ready_at, created_at, created_by, updated_at, updated_by, "
    "deleted_at, scheduled_purge_at"
)


def _hsm(row: sqlite3.Row) -> HsmRow:
    acls = row["network_acls"]
    return HsmRow(
        hsm_id=str(row["hsm_id"]),
        name=str(row["name"]),
        subscription_id=str(row["subscription_id"]),
        resource_group=str(row["resource_group"]),
        location=str(row["location"]),
        tenant_id=str(row["tenant_id"]),
        sku_family=str(row["sku_family"]),
        sku_name=str(row["sku_name"]),
        tags=_json_dict(row["tags"]),
        initial_admin_object_ids=tuple(str(item) for item in _json_list(row["initial_admin_object_ids"])),
        soft_delete_retention_days=int(row["soft_delete_retention_days"]),
        purge_protection=bool(row["purge_protection"]),
        public_network_access=str(row["public_network_access"]),
        network_acls=_json_dict(acls) if acls else None,
        hsm_port=int(row["hsm_port"]),
        activation_status=str(row["activation_status"]),
        pending_state=str(row["pending_state"]),
        ready_at=float(row["ready_at"]),
        created_at=float(row["created_at"]),
        created_by=str(row["created_by"]),
        updated_at=float(row["updated_at"]),
        updated_by=str(row["updated_by"]),
        deleted_at=row["deleted_at"],
        scheduled_purge_at=row["scheduled_purge_at"],
    )


def insert_hsm(tx: Transaction, hsm: HsmRow) -> None:
    tx.execute(
        f"INSERT INTO arm_managed_hsms ({_HSM_COLUMNS}) VALUES ({', '.join('?' * 24)})",
        _hsm_values(hsm),
    )


def replace_hsm(tx: Transaction, hsm: HsmRow) -> None:
    """Write every column of an existing HSM (matched by `hsm_id`)."""
    columns = [column.strip() for column in _HSM_COLUMNS.split(",")]
    assignments = ", ".join(f"{column} = ?" for column in columns[1:])
    values = _hsm_values(hsm)
    tx.execute(f"UPDATE arm_managed_hsms SET {assignments} WHERE hsm_id = ?", (*values[1:], values[0]))


def _hsm_values(hsm: HsmRow) -> tuple[Any, ...]:
    return (
        hsm.hsm_id,
        hsm.name,
        hsm.subscription_id,
        hsm.resource_group,
        hsm.location,
        hsm.tenant_id,
        hsm.sku_family,
        hsm.sku_name,
        json.dumps(hsm.tags),
        json.dumps(list(hsm.initial_admin_object_ids)),
        hsm.soft_delete_retention_days,
        int(hsm.purge_protection),
        hsm.public_network_access,
        json.dumps(hsm.network_acls) if hsm.network_acls is not None else None,
        hsm.hsm_port,
        hsm.activation_status,
        hsm.pending_state,
        hsm.ready_at,
        hsm.created_at,
        hsm.created_by,
        hsm.updated_at,
        hsm.updated_by,
        hsm.deleted_at,
        hsm.scheduled_purge_at,
    )


def hsm_by_name(tx: Transaction, name: str) -> HsmRow | None:
    """Live or soft-deleted: HSM names are globally unique (they are DNS names in Azure)."""
    row = tx.one(f"SELECT {_HSM_COLUMNS} FROM arm_managed_hsms WHERE name = ?", (name,))
    return _hsm(row) if row else None


def hsm_by_port(tx: Transaction, port: int) -> HsmRow | None:
    row = tx.one(f"SELECT {_HSM_COLUMNS} FROM arm_managed_hsms WHERE hsm_port = ?", (port,))
    return _hsm(row) if row else None


def hsm_by_id(tx: Transaction, hsm_id: str) -> HsmRow | None:
    row = tx.one(f"SELECT {_HSM_COLUMNS} FROM arm_managed_hsms WHERE hsm_id = ?", (hsm_id,))
    return _hsm(row) if row else None


def live_hsms(tx: Transaction, subscription_id: str, resource_group: str | None = None) -> list[HsmRow]:
    if resource_group is None:
        rows = tx.all(
            f"SELECT {_HSM_COLUMNS} FROM arm_managed_hsms WHERE subscription_id = ? AND deleted_at IS NULL "
            "ORDER BY name COLLATE NOCASE",
            (subscription_id,),
        )
    else:
        rows = tx.all(
            f"SELECT {_HSM_COLUMNS} FROM arm_managed_hsms WHERE subscription_id = ? AND resource_group = ? "
            "AND deleted_at IS NULL ORDER BY name COLLATE NOCASE",
            (subscription_id, resource_group),
        )
    return [_hsm(row) for row in rows]


def deleted_hsms(tx: Transaction, subscription_id: str) -> list[HsmRow]:
    rows = tx.all(
        f"SELECT {_HSM_COLUMNS} FROM arm_managed_hsms WHERE subscription_id = ? AND deleted_at IS NOT NULL "
        "ORDER BY name COLLATE NOCASE",
        (subscription_id,),
    )
    return [_hsm(row) for row in rows]


def used_ports(tx: Transaction) -> set[int]:
    return {int(row[0]) for row in tx.all("SELECT hsm_port FROM arm_managed_hsms")}


def delete_hsm_row(tx: Transaction, hsm_id: str) -> None:
    tx.execute("DELETE FROM arm_managed_hsms WHERE hsm_id = ?", (hsm_id,))


def set_activation_status(tx: Transaction, hsm_id: str, status: str) -> bool:
    cursor = tx.execute("UPDATE arm_managed_hsms SET activation_status = ? WHERE hsm_id = ?", (status, hsm_id))
    return cursor.rowcount > 0


# --- Azure RBAC ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RoleAssignmentRow:
    name: str
    scope: str
    role_definition_guid: str
    principal_id: str
    principal_type: str
    description: str | None
    created_at: float
    created_by: str


def _assignment(row: sqlite3.Row) -> RoleAssignmentRow:
    return RoleAssignmentRow(
        name=str(row["name"]),
        scope=str(row["scope"]),
        role_definition_guid=str(row["role_definition_guid"]),
        principal_id=str(row["principal_id"]),
        principal_type=str(row["principal_type"]),
        description=row["description"],
        created_at=float(row["created_at"]),
        created_by=str(row["created_by"]),
    )


def insert_role_assignment(tx: Transaction, assignment: RoleAssignmentRow, scope_key: str) -> None:
    tx.execute(
        "INSERT INTO arm_role_assignments (name, scope, scope_key, role_definition_guid, principal_id, principal_type,"
        " description, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            assignment.name,
            assignment.scope,
            scope_key,
            assignment.role_definition_guid,
            assignment.principal_id,
            assignment.principal_type,
            assignment.description,
            assignment.created_at,
            assignment.created_by,
        ),
    )


def role_assignment_by_name(tx: Transaction, name: str) -> RoleAssignmentRow | None:
    row = tx.one("SELECT * FROM arm_role_assignments WHERE name = ?", (name,))
    return _assignment(row) if row else None


def find_role_assignment(tx: Transaction, scope_key: str, guid: str, principal_id: str) -> RoleAssignmentRow | None:
    row = tx.one(
        "SELECT * FROM arm_role_assignments WHERE scope_key = ? AND role_definition_guid = ? AND principal_id = ?",
        (scope_key, guid, principal_id),
    )
    return _assignment(row) if row else None


def role_assignments_for_principals(tx: Transaction, principal_ids: list[str]) -> list[tuple[str, str]]:
    """(scope_key, role guid) of every assignment held by one of `principal_ids` (the caller and its groups)."""
    if not principal_ids:
        return []
    placeholders = ", ".join("?" * len(principal_ids))
    rows = tx.all(
        f"SELECT scope_key, role_definition_guid FROM arm_role_assignments WHERE principal_id IN ({placeholders})",
        principal_ids,
    )
    return [(str(row[0]), str(row[1])) for row in rows]


def all_role_assignments(tx: Transaction) -> list[tuple[RoleAssignmentRow, str]]:
    rows = tx.all("SELECT * FROM arm_role_assignments ORDER BY created_at, name")
    return [(_assignment(row), str(row["scope_key"])) for row in rows]


def delete_role_assignment(tx: Transaction, name: str) -> None:
    tx.execute("DELETE FROM arm_role_assignments WHERE name = ?", (name,))


def move_role_assignments(tx: Transaction, old_prefix_key: str, new_prefix: str) -> None:
    """Rewrite assignments at or below a moved resource so they follow it (ARM moves them with the resource)."""
    rows = tx.all(
        "SELECT name, scope, scope_key FROM arm_role_assignments WHERE scope_key = ? OR scope_key LIKE ? ESCAPE '\\'",
        (old_prefix_key, _like_prefix(old_prefix_key) + "/%"),
    )
    for row in rows:
        suffix = str(row["scope"])[len(old_prefix_key) :]
        scope = new_prefix + suffix
        tx.execute(
            "UPDATE arm_role_assignments SET scope = ?, scope_key = ? WHERE name = ?",
            (scope, new_prefix.lower() + suffix.lower(), row["name"]),
        )


def delete_role_assignments_at_or_below(tx: Transaction, prefix_key: str) -> None:
    tx.execute(
        "DELETE FROM arm_role_assignments WHERE scope_key = ? OR scope_key LIKE ? ESCAPE '\\'",
        (prefix_key, _like_prefix(prefix_key) + "/%"),
    )


def _like_prefix(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@dataclass(frozen=True)
class RoleDefinitionRow:
    guid: str
    scope: str
    role_name: str
    description: str
    permissions: list[dict[str, list[str]]]
    assignable_scopes: list[str]
    created_at: float
    created_by: str
    updated_at: float


def _definition(row: sqlite3.Row) -> RoleDefinitionRow:
    return RoleDefinitionRow(
        guid=str(row["guid"]),
        scope=str(row["scope"]),
        role_name=str(row["role_name"]),
        description=str(row["description"]),
        permissions=_json_list(row["permissions"]),
        assignable_scopes=[str(item) for item in _json_list(row["assignable_scopes"])],
        created_at=float(row["created_at"]),
        created_by=str(row["created_by"]),
        updated_at=float(row["updated_at"]),
    )


def custom_role_definition(tx: Transaction, guid: str) -> RoleDefinitionRow | None:
    row = tx.one("SELECT * FROM arm_role_definitions WHERE guid = ?", (guid,))
    return _definition(row) if row else None


def custom_role_definitions(tx: Transaction) -> list[RoleDefinitionRow]:
    return [_definition(row) for row in tx.all("SELECT * FROM arm_role_definitions ORDER BY role_name")]


def custom_role_by_name(tx: Transaction, role_name: str) -> RoleDefinitionRow | None:
    row = tx.one("SELECT * FROM arm_role_definitions WHERE role_name = ? COLLATE NOCASE", (role_name,))
    return _definition(row) if row else None


def put_role_definition(tx: Transaction, definition: RoleDefinitionRow) -> None:
    tx.execute(
        "INSERT INTO arm_role_definitions (guid, scope, role_name, description, permissions, assignable_scopes,"
        " created_at, created_by, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(guid) DO UPDATE SET"
        " role_name = excluded.role_name, description = excluded.description, permissions = excluded.permissions,"
        " assignable_scopes = excluded.assignable_scopes, updated_at = excluded.updated_at",
        (
            definition.guid,
            definition.scope,
            definition.role_name,
            definition.description,
            json.dumps(definition.permissions),
            json.dumps(definition.assignable_scopes),
            definition.created_at,
            definition.created_by,
            definition.updated_at,
        ),
    )


def delete_role_definition(tx: Transaction, guid: str) -> None:
    tx.execute("DELETE FROM arm_role_definitions WHERE guid = ?", (guid,))


def role_definition_in_use(tx: Transaction, guid: str) -> bool:
    return tx.one("SELECT 1 FROM arm_role_assignments WHERE role_definition_guid = ? LIMIT 1", (guid,)) is not None


# --- long-running operations -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class OperationRow:
    id: str
    subscription_id: str
    location: str
    target_scope: str
    initiator_object_id: str
    started_at: float
    completes_at: float


def insert_operation(tx: Transaction, operation: OperationRow) -> None:
    tx.execute(
        "INSERT INTO arm_operations (id, subscription_id, location, target_scope, initiator_object_id, started_at,"
        " completes_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            operation.id,
            operation.subscription_id,
            operation.location,
            operation.target_scope,
            operation.initiator_object_id,
            operation.started_at,
            operation.completes_at,
        ),
    )


def get_operation(tx: Transaction, operation_id: str) -> OperationRow | None:
    row = tx.one("SELECT * FROM arm_operations WHERE id = ?", (operation_id,))
    if row is None:
        return None
    return OperationRow(
        id=str(row["id"]),
        subscription_id=str(row["subscription_id"]),
        location=str(row["location"]),
        target_scope=str(row["target_scope"]),
        initiator_object_id=str(row["initiator_object_id"]),
        started_at=float(row["started_at"]),
        completes_at=float(row["completes_at"]),
    )
