"""HSM account settings (``GET /settings``, ``GET``/``PATCH /settings/{name}``): typed values stored as strings."""

from __future__ import annotations

from typing import Any

from hsm_emulator.dataplane import errors
from hsm_emulator.errors import AzureError
from hsm_emulator.storage import Migration, Transaction

MIGRATIONS = (
    Migration(
        "dataplane.settings",
        1,
        (
            """CREATE TABLE IF NOT EXISTS dp_settings (
                hsm_id TEXT NOT NULL,
                name TEXT NOT NULL,
                value TEXT NOT NULL,
                PRIMARY KEY (hsm_id, name)
            )""",
        ),
    ),
)

# name -> (type, default); the service knows one setting today.
KNOWN_SETTINGS: dict[str, tuple[str, str]] = {"AllowKeyManagementOperationsThroughARM": ("boolean", "false")}


def _known(name: str) -> tuple[str, str, str]:
    for known, (setting_type, default) in KNOWN_SETTINGS.items():
        if known.lower() == name.lower():
            return known, setting_type, default
    raise AzureError(f"Setting not found: {name}", code="SettingNotFound", status=404)


def _render(name: str, setting_type: str, value: str) -> dict[str, Any]:
    return {"name": name, "value": value, "type": setting_type}


def get_setting(tx: Transaction, hsm_id: str, name: str) -> dict[str, Any]:
    known, setting_type, default = _known(name)
    row = tx.one("SELECT value FROM dp_settings WHERE hsm_id = ? AND name = ?", (hsm_id, known))
    return _render(known, setting_type, row["value"] if row else default)


def list_settings(tx: Transaction, hsm_id: str) -> dict[str, Any]:
    return {"settings": [get_setting(tx, hsm_id, name) for name in KNOWN_SETTINGS]}


def update_setting(tx: Transaction, hsm_id: str, name: str, value: str) -> dict[str, Any]:
    known, setting_type, _ = _known(name)
    if setting_type == "boolean" and value not in ("true", "false"):
        raise errors.bad_parameter(f"The value of setting {known} must be 'true' or 'false'; got '{value}'.")
    tx.execute(
        "INSERT INTO dp_settings (hsm_id, name, value) VALUES (?, ?, ?)"
        " ON CONFLICT (hsm_id, name) DO UPDATE SET value = excluded.value",
        (hsm_id, known, value),
    )
    return _render(known, setting_type, value)
