"""Tables of the local RBAC: custom role definitions and role assignments of each HSM.

Assignments are indexed by (hsm, principal), so the authorization decision reads only the caller's own rows and
stays flat however many assignments an HSM holds.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable

from hsm_emulator.dataplane import roles
from hsm_emulator.storage import Migration, Transaction

MIGRATIONS = (
    Migration(
        "dataplane.rbac",
        1,
        (
            """CREATE TABLE IF NOT EXISTS dp_role_definitions (
                hsm_id TEXT NOT NULL,
                name TEXT NOT NULL COLLATE NOCASE,
                role_name TEXT NOT NULL,
                description TEXT NOT NULL,
                permissions TEXT NOT NULL,
                PRIMARY KEY (hsm_id, name)
            )""",
            """CREATE TABLE IF NOT EXISTS dp_role_assignments (
                hsm_id TEXT NOT NULL,
                name TEXT NOT NULL COLLATE NOCASE,
                scope TEXT NOT NULL COLLATE NOCASE,
                role_definition_name TEXT NOT NULL COLLATE NOCASE,
                principal_id TEXT NOT NULL COLLATE NOCASE,
                PRIMARY KEY (hsm_id, name)
            )""",
            "CREATE INDEX IF NOT EXISTS dp_role_assignments_by_principal ON dp_role_assignments (hsm_id, principal_id)",
            "CREATE INDEX IF NOT EXISTS dp_role_assignments_by_scope ON dp_role_assignments (hsm_id, scope)",
        ),
    ),
)

_ASSIGNMENT_COLUMNS = "name, scope, role_definition_name, principal_id"


class StoredAssignment:
    """One role assignment row."""

    __slots__ = ("name", "principal_id", "role_definition_name", "scope")

    def __init__(self, name: str, scope: str, role_definition_name: str, principal_id: str) -> None:
        self.name = name
        self.scope = scope
        self.role_definition_name = role_definition_name
        self.principal_id = principal_id


def _assignment(row: sqlite3.Row) -> StoredAssignment:
    return StoredAssignment(row["name"], row["scope"], row["role_definition_name"], row["principal_id"])


def _permissions_to_json(permissions: Iterable[roles.Permission]) -> str:
    return json.dumps(
        [
            {
                "actions": list(p.actions),
                "notActions": list(p.not_actions),
                "dataActions": list(p.data_actions),
                "notDataActions": list(p.not_data_actions),
            }
            for p in permissions
        ]
    )


def _definition(row: sqlite3.Row) -> roles.RoleDefinition:
    return roles.RoleDefinition(
        name=row["name"],
        role_name=row["role_name"],
        role_type=roles.CUSTOM_ROLE_TYPE,
        description=row["description"],
        permissions=tuple(
            roles.Permission(
                actions=tuple(p["actions"]),
                not_actions=tuple(p["notActions"]),
                data_actions=tuple(p["dataActions"]),
                not_data_actions=tuple(p["notDataActions"]),
            )
            for p in json.loads(row["permissions"])
        ),
    )


def custom_definition(tx: Transaction, hsm_id: str, name: str) -> roles.RoleDefinition | None:
    row = tx.one("SELECT * FROM dp_role_definitions WHERE hsm_id = ? AND name = ?", (hsm_id, name))
    return _definition(row) if row else None


def custom_definitions(tx: Transaction, hsm_id: str) -> list[roles.RoleDefinition]:
    return [
        _definition(row)
        for row in tx.all("SELECT * FROM dp_role_definitions WHERE hsm_id = ? ORDER BY name", (hsm_id,))
    ]


def count_custom_definitions(tx: Transaction, hsm_id: str) -> int:
    row = tx.one("SELECT COUNT(*) AS n FROM dp_role_definitions WHERE hsm_id = ?", (hsm_id,))
    return int(row["n"]) if row else 0


def put_custom_definition(tx: Transaction, hsm_id: str, definition: roles.RoleDefinition) -> None:
    tx.execute(
        "INSERT INTO dp_role_definitions (hsm_id, name, role_name, description, permissions) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT (hsm_id, name) DO UPDATE SET role_name = excluded.role_name,"
        " description = excluded.description, permissions = excluded.permissions",
        (
            hsm_id,
            definition.name,
            definition.role_name,
            definition.description,
            _permissions_to_json(definition.permissions),
        ),
    )


def delete_custom_definition(tx: Transaction, hsm_id: str, name: str) -> None:
    tx.execute("DELETE FROM dp_role_definitions WHERE hsm_id = ? AND name = ?", (hsm_id, name))


def definition_in_use(tx: Transaction, hsm_id: str, name: str) -> bool:
    row = tx.one(
        "SELECT 1 FROM dp_role_assignments WHERE hsm_id = ? AND role_definition_name = ? LIMIT 1", (hsm_id, name)
    )
    return row is not None


def assignment(tx: Transaction, hsm_id: str, name: str) -> StoredAssignment | None:
    row = tx.one(f"SELECT {_ASSIGNMENT_COLUMNS} FROM dp_role_assignments WHERE hsm_id = ? AND name = ?", (hsm_id, name))  # noqa: S608 - constant columns and "?" marks only
    return _assignment(row) if row else None


def assignments_for_principals(tx: Transaction, hsm_id: str, principal_ids: Iterable[str]) -> list[StoredAssignment]:
    ids = list(principal_ids)
    if not ids:
        return []
    marks = ", ".join("?" * len(ids))
    rows = tx.all(
        f"SELECT {_ASSIGNMENT_COLUMNS} FROM dp_role_assignments WHERE hsm_id = ? AND principal_id IN ({marks})",  # noqa: S608 - constant columns and "?" marks only
        (hsm_id, *ids),
    )
    return [_assignment(row) for row in rows]


def all_assignments(tx: Transaction, hsm_id: str) -> list[StoredAssignment]:
    rows = tx.all(f"SELECT {_ASSIGNMENT_COLUMNS} FROM dp_role_assignments WHERE hsm_id = ? ORDER BY name", (hsm_id,))  # noqa: S608 - constant columns and "?" marks only
    return [_assignment(row) for row in rows]


def count_assignments_at(tx: Transaction, hsm_id: str, scopes: Iterable[str]) -> int:
    scope_list = list(scopes)
    marks = ", ".join("?" * len(scope_list))
    row = tx.one(
        f"SELECT COUNT(*) AS n FROM dp_role_assignments WHERE hsm_id = ? AND scope IN ({marks})",  # noqa: S608
        (hsm_id, *scope_list),
    )
    return int(row["n"]) if row else 0


def find_duplicate(tx: Transaction, hsm_id: str, scope: str, role: str, principal_id: str) -> StoredAssignment | None:
    row = tx.one(
        f"SELECT {_ASSIGNMENT_COLUMNS} FROM dp_role_assignments WHERE hsm_id = ? AND scope = ?"  # noqa: S608 - constant columns and "?" marks only
        " AND role_definition_name = ? AND principal_id = ?",
        (hsm_id, scope, role, principal_id),
    )
    return _assignment(row) if row else None


def insert_assignment(tx: Transaction, hsm_id: str, stored: StoredAssignment) -> None:
    tx.execute(
        "INSERT INTO dp_role_assignments (hsm_id, name, scope, role_definition_name, principal_id)"
        " VALUES (?, ?, ?, ?, ?)",
        (hsm_id, stored.name, stored.scope, stored.role_definition_name, stored.principal_id),
    )


def delete_assignment(tx: Transaction, hsm_id: str, name: str) -> None:
    tx.execute("DELETE FROM dp_role_assignments WHERE hsm_id = ? AND name = ?", (hsm_id, name))
