"""The directory's data access: tenants, users, groups, service principals, managed identities, credentials.

Plain functions over a `Transaction` so callers choose the transaction boundary (a Graph request, the config
bootstrap, a token request). Every read reflects the current state: there is no cache, which is what makes a
disabled principal or a removed group member lose access at once.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from hsm_emulator.identity import credential_hashes
from hsm_emulator.storage import Transaction

ObjectKind = Literal["User", "Group", "ServicePrincipal", "ManagedIdentity"]


@dataclass(frozen=True)
class DirectoryObject:
    object_id: str
    tenant_id: str
    kind: ObjectKind
    display_name: str
    account_enabled: bool
    user_principal_name: str | None
    app_id: str | None  # service principal appId / managed identity clientId
    created: int


@dataclass(frozen=True)
class FederatedCredential:
    name: str
    issuer: str
    subject: str
    audiences: tuple[str, ...]


class DirectoryConflict(ValueError):
    """A create or update would break a uniqueness rule (object id, userPrincipalName, appId)."""


def _object(row: sqlite3.Row) -> DirectoryObject:
    return DirectoryObject(
        object_id=row["object_id"],
        tenant_id=row["tenant_id"],
        kind=row["kind"],
        display_name=row["display_name"],
        account_enabled=bool(row["account_enabled"]),
        user_principal_name=row["user_principal_name"],
        app_id=row["app_id"],
        created=row["created"],
    )


_OBJECT_COLUMNS = "object_id, tenant_id, kind, display_name, account_enabled, user_principal_name, app_id, created"


# ---- reads -------------------------------------------------------------------------------------------------------


def tenant_exists(tx: Transaction, tenant_id: str) -> bool:
    return tx.one("SELECT 1 FROM identity_tenants WHERE id = ?", (tenant_id,)) is not None


def get_object(tx: Transaction, object_id: str) -> DirectoryObject | None:
    row = tx.one(f"SELECT {_OBJECT_COLUMNS} FROM identity_objects WHERE object_id = ?", (_canonical(object_id),))  # noqa: S608 - only column lists and '?' marks are interpolated
    return _object(row) if row else None


def list_objects(tx: Transaction, tenant_id: str, kinds: Sequence[ObjectKind]) -> list[DirectoryObject]:
    marks = ",".join("?" * len(kinds))
    rows = tx.all(
        f"SELECT {_OBJECT_COLUMNS} FROM identity_objects WHERE tenant_id = ? AND kind IN ({marks}) ORDER BY created, "  # noqa: S608 - only column lists and '?' marks are interpolated
        "object_id",
        (tenant_id, *kinds),
    )
    return [_object(r) for r in rows]


def find_client(tx: Transaction, tenant_id: str, client_id: str) -> DirectoryObject | None:
    """The service principal (by appId) or managed identity (by clientId) a token request names."""
    row = tx.one(
        f"SELECT {_OBJECT_COLUMNS} FROM identity_objects WHERE tenant_id = ? AND app_id = ? "  # noqa: S608 - only column lists and '?' marks are interpolated
        "AND kind IN ('ServicePrincipal', 'ManagedIdentity')",
        (tenant_id, _canonical(client_id)),
    )
    return _object(row) if row else None


def find_user(tx: Transaction, tenant_id: str, user_principal_name: str) -> DirectoryObject | None:
    row = tx.one(
        f"SELECT {_OBJECT_COLUMNS} FROM identity_objects WHERE tenant_id = ? AND kind = 'User' "  # noqa: S608 - only column lists and '?' marks are interpolated
        "AND lower(user_principal_name) = lower(?)",
        (tenant_id, user_principal_name),
    )
    return _object(row) if row else None


def group_ids_of(tx: Transaction, object_id: str) -> frozenset[str]:
    """Every group containing `object_id`, directly or through nested groups (cycles are harmless)."""
    rows = tx.all(
        """WITH RECURSIVE containing(group_id) AS (
               SELECT group_id FROM identity_group_members WHERE member_id = ?
               UNION
               SELECT m.group_id FROM identity_group_members m JOIN containing c ON m.member_id = c.group_id
           )
           SELECT group_id FROM containing""",
        (object_id,),
    )
    return frozenset(r["group_id"] for r in rows)


def is_global_admin(tx: Transaction, tenant_id: str, object_ids: frozenset[str]) -> bool:
    if not object_ids:
        return False
    marks = ",".join("?" * len(object_ids))
    row = tx.one(
        f"SELECT 1 FROM identity_global_admins WHERE tenant_id = ? AND object_id IN ({marks}) LIMIT 1",  # noqa: S608 - only column lists and '?' marks are interpolated
        (tenant_id, *sorted(object_ids)),
    )
    return row is not None


def group_members(tx: Transaction, group_id: str) -> list[DirectoryObject]:
    rows = tx.all(
        f"SELECT {', '.join('o.' + c.strip() for c in _OBJECT_COLUMNS.split(','))} FROM identity_group_members m "  # noqa: S608 - only column lists and '?' marks are interpolated
        "JOIN identity_objects o ON o.object_id = m.member_id WHERE m.group_id = ? ORDER BY o.created, o.object_id",
        (group_id,),
    )
    return [_object(r) for r in rows]


def verify_password(tx: Transaction, object_id: str, password: str) -> bool:
    row = tx.one("SELECT password_hash FROM identity_objects WHERE object_id = ?", (object_id,))
    return bool(row and row["password_hash"] and credential_hashes.verify(password, row["password_hash"]))


def verify_client_secret(tx: Transaction, object_id: str, secret: str) -> bool:
    rows = tx.all("SELECT secret_hash FROM identity_client_secrets WHERE object_id = ?", (object_id,))
    # Check every stored secret (no early exit) so timing does not reveal which one matched.
    results = [credential_hashes.verify(secret, r["secret_hash"]) for r in rows]
    return any(results)


def federated_credentials(tx: Transaction, object_id: str) -> list[FederatedCredential]:
    rows = tx.all(
        "SELECT name, issuer, subject, audiences FROM identity_federated_credentials WHERE object_id = ? ORDER BY name",
        (object_id,),
    )
    return [FederatedCredential(r["name"], r["issuer"], r["subject"], tuple(json.loads(r["audiences"]))) for r in rows]


# ---- writes ------------------------------------------------------------------------------------------------------


def ensure_tenant(tx: Transaction, tenant_id: str, now: int) -> None:
    tx.execute("INSERT INTO identity_tenants (id, created) VALUES (?, ?) ON CONFLICT(id) DO NOTHING", (tenant_id, now))


def upsert_object(
    tx: Transaction,
    *,
    object_id: str,
    tenant_id: str,
    kind: ObjectKind,
    display_name: str,
    now: int,
    account_enabled: bool = True,
    user_principal_name: str | None = None,
    app_id: str | None = None,
) -> DirectoryObject:
    """Create the object, or update it in place when it exists with the same kind and tenant."""
    object_id = _canonical(object_id)
    existing = get_object(tx, object_id)
    if existing is not None and (existing.kind != kind or existing.tenant_id != tenant_id):
        raise DirectoryConflict(
            f"object {object_id} already exists as a {existing.kind} of tenant {existing.tenant_id}"
        )
    try:
        tx.execute(
            """INSERT INTO identity_objects
                   (object_id, tenant_id, kind, display_name, account_enabled, user_principal_name, app_id, created)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT(object_id) DO UPDATE SET display_name = excluded.display_name,
                   account_enabled = excluded.account_enabled, user_principal_name = excluded.user_principal_name,
                   app_id = excluded.app_id""",
            (
                object_id,
                tenant_id,
                kind,
                display_name,
                int(account_enabled),
                user_principal_name,
                _canonical(app_id) if app_id else None,
                now,
            ),
        )
    except sqlite3.IntegrityError as exc:
        if user_principal_name is not None and find_user(tx, tenant_id, user_principal_name) is not None:
            raise DirectoryConflict(f"userPrincipalName {user_principal_name} is already in use") from exc
        raise DirectoryConflict(f"appId {app_id} is already in use in tenant {tenant_id}") from exc
    result = get_object(tx, object_id)
    assert result is not None
    return result


def set_password(tx: Transaction, object_id: str, password: str) -> None:
    tx.execute(
        "UPDATE identity_objects SET password_hash = ? WHERE object_id = ?",
        (credential_hashes.hash_password(password), object_id),
    )


def set_client_secret(
    tx: Transaction, object_id: str, key_id: str, secret: str, now: int, display_name: str | None = None
) -> None:
    tx.execute(
        """INSERT INTO identity_client_secrets (object_id, key_id, secret_hash, display_name, created)
           VALUES (?, ?, ?, ?, ?)
           ON CONFLICT(object_id, key_id) DO UPDATE SET secret_hash = excluded.secret_hash""",
        (object_id, key_id, credential_hashes.hash_secret(secret), display_name, now),
    )


def replace_federated_credentials(tx: Transaction, object_id: str, credentials: Sequence[FederatedCredential]) -> None:
    tx.execute("DELETE FROM identity_federated_credentials WHERE object_id = ?", (object_id,))
    tx.executemany(
        "INSERT INTO identity_federated_credentials (object_id, name, issuer, subject, audiences) "
        "VALUES (?, ?, ?, ?, ?)",
        [(object_id, c.name, c.issuer, c.subject, json.dumps(list(c.audiences))) for c in credentials],
    )


def set_account_enabled(tx: Transaction, object_id: str, enabled: bool) -> None:
    tx.execute("UPDATE identity_objects SET account_enabled = ? WHERE object_id = ?", (int(enabled), object_id))


def set_display_name(tx: Transaction, object_id: str, display_name: str) -> None:
    tx.execute("UPDATE identity_objects SET display_name = ? WHERE object_id = ?", (display_name, object_id))


def delete_object(tx: Transaction, object_id: str) -> bool:
    return tx.execute("DELETE FROM identity_objects WHERE object_id = ?", (object_id,)).rowcount > 0


def add_member(tx: Transaction, group_id: str, member_id: str) -> bool:
    """Returns False when the member was already there."""
    cursor = tx.execute(
        "INSERT INTO identity_group_members (group_id, member_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
        (group_id, member_id),
    )
    return cursor.rowcount > 0


def remove_member(tx: Transaction, group_id: str, member_id: str) -> bool:
    cursor = tx.execute(
        "DELETE FROM identity_group_members WHERE group_id = ? AND member_id = ?", (group_id, member_id)
    )
    return cursor.rowcount > 0


def add_global_admin(tx: Transaction, tenant_id: str, object_id: str) -> None:
    tx.execute(
        "INSERT INTO identity_global_admins (tenant_id, object_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
        (tenant_id, object_id),
    )


def _canonical(identifier: str) -> str:
    """GUIDs compare case-insensitively in Entra; store and look them up in canonical lower-case form."""
    try:
        return str(uuid.UUID(identifier))
    except ValueError:
        return identifier
