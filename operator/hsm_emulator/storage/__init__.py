"""Durable storage of the emulator: one SQLite file, transactions that are on disk before a 2xx, schema versions.

Every domain module (identity, management, data plane) owns its tables and hands its migrations to
`Database.migrate`; nothing else in the emulator opens the database file. `hardware_root_key` stands in for the
HSM hardware: the crypto module seals master keys under it.
"""

from hsm_emulator.storage.database import Database, StorageFull, Transaction
from hsm_emulator.storage.root_key import HARDWARE_ROOT_KEY_FILE, load_or_create_hardware_root_key
from hsm_emulator.storage.schema import Migration

__all__ = [
    "HARDWARE_ROOT_KEY_FILE",
    "Database",
    "Migration",
    "StorageFull",
    "Transaction",
    "load_or_create_hardware_root_key",
]
