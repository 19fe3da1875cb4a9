"""Tables of the data plane's keys: one row per key name, one per key version; material only ever sealed.

Key names are case-insensitive in Key Vault (``COLLATE NOCASE``) but keep the spelling of their creation. A deleted
key keeps its rows with ``deleted_date`` set, so recovery restores every version exactly.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, replace
from typing import Any

from hsm_emulator.storage import Migration, Transaction

MIGRATIONS = (
    Migration(
        "dataplane.keys",
        1,
        (
            """CREATE TABLE IF NOT EXISTS dp_keys (
                hsm_id TEXT NOT NULL,
                name TEXT NOT NULL COLLATE NOCASE,
                deleted_date INTEGER,
                scheduled_purge_date INTEGER,
                rotation_policy TEXT,
                next_sequence INTEGER NOT NULL DEFAULT 1,
                PRIMARY KEY (hsm_id, name)
            )""",
            """CREATE TABLE IF NOT EXISTS dp_key_versions (
                hsm_id TEXT NOT NULL,
                name TEXT NOT NULL COLLATE NOCASE,
                version TEXT NOT NULL,
                sequence INTEGER NOT NULL,
                kty TEXT NOT NULL,
                key_ops TEXT NOT NULL,
                enabled INTEGER NOT NULL,
                nbf INTEGER,
                exp INTEGER,
                created INTEGER NOT NULL,
                updated INTEGER NOT NULL,
                exportable INTEGER NOT NULL,
                tags TEXT NOT NULL,
                release_policy TEXT,
                public_jwk TEXT NOT NULL,
                sealed_material BLOB NOT NULL,
                PRIMARY KEY (hsm_id, name, version),
                FOREIGN KEY (hsm_id, name) REFERENCES dp_keys (hsm_id, name) ON DELETE CASCADE ON UPDATE CASCADE
            )""",
            "CREATE INDEX IF NOT EXISTS dp_key_versions_by_sequence ON dp_key_versions (hsm_id, name, sequence)",
        ),
    ),
)


@dataclass(frozen=True)
class KeyRecord:
    """The versionless part of a key."""

    hsm_id: str
    name: str
    deleted_date: int | None
    scheduled_purge_date: int | None
    rotation_policy: dict[str, Any] | None

    @property
    def is_deleted(self) -> bool:
        return self.deleted_date is not None


@dataclass(frozen=True)
class KeyVersionRecord:
    """One key version: attributes, tags, policy, public JWK fields and the sealed private material."""

    name: str
    version: str
    sequence: int
    kty: str
    key_ops: tuple[str, ...]
    enabled: bool
    nbf: int | None
    exp: int | None
    created: int
    updated: int
    exportable: bool
    tags: dict[str, str]
    release_policy: dict[str, Any] | None
    public_jwk: dict[str, Any]
    sealed_material: bytes

    def with_changes(self, **changes: Any) -> KeyVersionRecord:
        return replace(self, **changes)


def _key_from_row(row: sqlite3.Row) -> KeyRecord:
    policy = row["rotation_policy"]
    return KeyRecord(
        hsm_id=row["hsm_id"],
        name=row["name"],
        deleted_date=row["deleted_date"],
        scheduled_purge_date=row["scheduled_purge_date"],
        rotation_policy=json.loads(policy) if policy else None,
    )


def _version_from_row(row: sqlite3.Row) -> KeyVersionRecord:
    release_policy = row["release_policy"]
    return KeyVersionRecord(
        name=row["name"],
        version=row["version"],
        sequence=row["sequence"],
        kty=row["kty"],
        key_ops=tuple(json.loads(row["key_ops"])),
        enabled=bool(row["enabled"]),
        nbf=row["nbf"],
        exp=row["exp"],
        created=row["created"],
        updated=row["updated"],
        exportable=bool(row["exportable"]),
        tags=json.loads(row["tags"]),
        release_policy=json.loads(release_policy) if release_policy else None,
        public_jwk=json.loads(row["public_jwk"]),
        sealed_material=bytes(row["sealed_material"]),
    )


def find_key(tx: Transaction, hsm_id: str, name: str) -> KeyRecord | None:
    row = tx.one("SELECT * FROM dp_keys WHERE hsm_id = ? AND name = ?", (hsm_id, name))
    return _key_from_row(row) if row else None


def count_keys(tx: Transaction, hsm_id: str) -> int:
    row = tx.one("SELECT COUNT(*) AS n FROM dp_keys WHERE hsm_id = ?", (hsm_id,))
    return int(row["n"]) if row else 0


def insert_key(tx: Transaction, hsm_id: str, name: str) -> KeyRecord:
    tx.execute("INSERT INTO dp_keys (hsm_id, name) VALUES (?, ?)", (hsm_id, name))
    return KeyRecord(hsm_id, name, None, None, None)


def next_sequence(tx: Transaction, hsm_id: str, name: str) -> int:
    row = tx.one("SELECT next_sequence FROM dp_keys WHERE hsm_id = ? AND name = ?", (hsm_id, name))
    assert row is not None
    tx.execute("UPDATE dp_keys SET next_sequence = next_sequence + 1 WHERE hsm_id = ? AND name = ?", (hsm_id, name))
    return int(row["next_sequence"])


def count_versions(tx: Transaction, hsm_id: str, name: str) -> int:
    row = tx.one("SELECT COUNT(*) AS n FROM dp_key_versions WHERE hsm_id = ? AND name = ?", (hsm_id, name))
    return int(row["n"]) if row else 0


def insert_version(tx: Transaction, hsm_id: str, record: KeyVersionRecord) -> None:
    tx.execute(
        "INSERT INTO dp_key_versions (hsm_id, name, version, sequence, kty, key_ops, enabled, nbf, exp, created,"
        " updated, exportable, tags, release_policy, public_jwk, sealed_material)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            hsm_id,
            record.name,
            record.version,
            record.sequence,
            record.kty,
            json.dumps(list(record.key_ops)),
            int(record.enabled),
            record.nbf,
            record.exp,
            record.created,
            record.updated,
            int(record.exportable),
            json.dumps(record.tags),
            json.dumps(record.release_policy) if record.release_policy is not None else None,
            json.dumps(record.public_jwk),
            record.sealed_material,
        ),
    )


def update_version(tx: Transaction, hsm_id: str, record: KeyVersionRecord) -> None:
    tx.execute(
        "UPDATE dp_key_versions SET key_ops = ?, enabled = ?, nbf = ?, exp = ?, updated = ?, exportable = ?,"
        " tags = ?, release_policy = ? WHERE hsm_id = ? AND name = ? AND version = ?",
        (
            json.dumps(list(record.key_ops)),
            int(record.enabled),
            record.nbf,
            record.exp,
            record.updated,
            int(record.exportable),
            json.dumps(record.tags),
            json.dumps(record.release_policy) if record.release_policy is not None else None,
            hsm_id,
            record.name,
            record.version,
        ),
    )


def latest_version(tx: Transaction, hsm_id: str, name: str) -> KeyVersionRecord | None:
    row = tx.one(
        "SELECT * FROM dp_key_versions WHERE hsm_id = ? AND name = ? ORDER BY sequence DESC LIMIT 1", (hsm_id, name)
    )
    return _version_from_row(row) if row else None


def find_version(tx: Transaction, hsm_id: str, name: str, version: str) -> KeyVersionRecord | None:
    row = tx.one(
        "SELECT * FROM dp_key_versions WHERE hsm_id = ? AND name = ? AND version = ?", (hsm_id, name, version.lower())
    )
    return _version_from_row(row) if row else None


def all_versions(tx: Transaction, hsm_id: str, name: str) -> list[KeyVersionRecord]:
    rows = tx.all("SELECT * FROM dp_key_versions WHERE hsm_id = ? AND name = ? ORDER BY sequence", (hsm_id, name))
    return [_version_from_row(row) for row in rows]


def list_latest(
    tx: Transaction, hsm_id: str, *, deleted: bool, offset: int, limit: int
) -> list[tuple[KeyRecord, KeyVersionRecord]]:
    """A page of keys (active or deleted) with their latest version, ordered by name."""
    rows = tx.all(
        "SELECT k.hsm_id, k.name AS key_name, k.deleted_date, k.scheduled_purge_date, k.rotation_policy, v.*"
        " FROM dp_keys k JOIN dp_key_versions v ON v.hsm_id = k.hsm_id AND v.name = k.name"
        " WHERE k.hsm_id = ? AND (k.deleted_date IS NOT NULL) = ?"
        " AND v.sequence = (SELECT MAX(sequence) FROM dp_key_versions w WHERE w.hsm_id = k.hsm_id AND w.name = k.name)"
        " ORDER BY k.name LIMIT ? OFFSET ?",
        (hsm_id, int(deleted), limit, offset),
    )
    return [(_key_from_row(row), _version_from_row(row)) for row in rows]


def list_versions_page(tx: Transaction, hsm_id: str, name: str, *, offset: int, limit: int) -> list[KeyVersionRecord]:
    rows = tx.all(
        "SELECT * FROM dp_key_versions WHERE hsm_id = ? AND name = ? ORDER BY sequence LIMIT ? OFFSET ?",
        (hsm_id, name, limit, offset),
    )
    return [_version_from_row(row) for row in rows]


def mark_deleted(tx: Transaction, hsm_id: str, name: str, deleted_date: int | None, purge_date: int | None) -> None:
    tx.execute(
        "UPDATE dp_keys SET deleted_date = ?, scheduled_purge_date = ? WHERE hsm_id = ? AND name = ?",
        (deleted_date, purge_date, hsm_id, name),
    )


def set_rotation_policy(tx: Transaction, hsm_id: str, name: str, policy: dict[str, Any]) -> None:
    tx.execute(
        "UPDATE dp_keys SET rotation_policy = ? WHERE hsm_id = ? AND name = ?", (json.dumps(policy), hsm_id, name)
    )


def purge(tx: Transaction, hsm_id: str, name: str) -> None:
    tx.execute("DELETE FROM dp_key_versions WHERE hsm_id = ? AND name = ?", (hsm_id, name))
    tx.execute("DELETE FROM dp_keys WHERE hsm_id = ? AND name = ?", (hsm_id, name))
