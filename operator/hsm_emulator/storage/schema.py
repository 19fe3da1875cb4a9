"""Schema registration: each domain module declares ordered migrations; the database applies the missing ones.

A migration is a list of SQL statements identified by (domain, version). The table `schema_versions` remembers the
highest version applied per domain, so a restart applies only what is new and an old data directory is upgraded in
place. Migrations of one domain must not depend on tables of another domain that registers later.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

_VERSION_TABLE_DDL = (
    "CREATE TABLE IF NOT EXISTS schema_versions (domain TEXT PRIMARY KEY, version INTEGER NOT NULL CHECK (version > 0))"
)


@dataclass(frozen=True)
class Migration:
    """One step of a domain's schema: applied once, in version order, inside the start-up transaction."""

    domain: str
    version: int
    statements: Sequence[str]

    def __post_init__(self) -> None:
        if self.version < 1:
            raise ValueError(f"migration {self.domain} version must be >= 1, got {self.version}")
        if not self.domain:
            raise ValueError("migration domain must not be empty")


def apply_migrations(connection: sqlite3.Connection, migrations: Iterable[Migration]) -> list[Migration]:
    """Apply, in the caller's open transaction, every migration newer than the stored version of its domain.

    Returns the migrations that ran. Two migrations with the same (domain, version) are a programming error.
    """
    connection.execute(_VERSION_TABLE_DDL)
    by_domain: dict[str, dict[int, Migration]] = {}
    for migration in migrations:
        versions = by_domain.setdefault(migration.domain, {})
        if migration.version in versions:
            raise ValueError(f"duplicate migration {migration.domain} v{migration.version}")
        versions[migration.version] = migration
    applied: list[Migration] = []
    for domain, versions in by_domain.items():
        row = connection.execute("SELECT version FROM schema_versions WHERE domain = ?", (domain,)).fetchone()
        current = int(row[0]) if row else 0
        for version in sorted(versions):
            if version <= current:
                continue
            for statement in versions[version].statements:
                connection.execute(statement)
            connection.execute(
                "INSERT INTO schema_versions (domain, version) VALUES (?, ?) "
                "ON CONFLICT(domain) DO UPDATE SET version = excluded.version",
                (domain, version),
            )
            applied.append(versions[version])
    return applied


def schema_versions(connection: sqlite3.Connection) -> dict[str, int]:
    """The applied version per domain (empty before the first migration)."""
    connection.execute(_VERSION_TABLE_DDL)
    return {
        str(domain): int(version)
        for domain, version in connection.execute("SELECT domain, version FROM schema_versions")
    }
