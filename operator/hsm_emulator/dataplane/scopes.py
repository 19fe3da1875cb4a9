"""Local RBAC scopes of a Managed HSM: ``/`` (= ``/keys``, the whole HSM) above ``/keys/<name>`` (one key).

Scopes reach us spliced into URLs (``https://h///providers/...``, ``//keys/providers/...``), so parsing collapses
slashes first. Key names are case-insensitive in Key Vault, so comparisons are too.
"""

from __future__ import annotations

import re

KEY_NAME_PATTERN = re.compile(r"^[0-9a-zA-Z-]{1,127}$")
HSM_SCOPE = "/"
KEYS_SCOPE = "/keys"


class InvalidScope(ValueError):
    """The text is not one of the scopes a Managed HSM knows."""


def normalize_scope(raw: str) -> str:
    """Return the canonical spelling of a scope (``/``, ``/keys`` or ``/keys/<name>``) or raise InvalidScope."""
    parts = [part for part in raw.split("/") if part]
    if not parts:
        return HSM_SCOPE
    if parts[0].lower() != "keys" or len(parts) > 2:
        raise InvalidScope(f"The scope '{raw}' is not valid. Valid scopes are '/', '/keys' and '/keys/<key name>'.")
    if len(parts) == 1:
        return KEYS_SCOPE
    if not KEY_NAME_PATTERN.match(parts[1]):
        raise InvalidScope(f"The scope '{raw}' names an invalid key name '{parts[1]}'.")
    return f"{KEYS_SCOPE}/{parts[1]}"


def key_scope(key_name: str) -> str:
    return f"{KEYS_SCOPE}/{key_name}"


def is_hsm_wide(scope: str) -> bool:
    return scope in (HSM_SCOPE, KEYS_SCOPE)


def covers(assignment_scope: str, target_scope: str) -> bool:
    """Whether an assignment made at ``assignment_scope`` applies to a call at ``target_scope``.

    ``/`` and ``/keys`` both mean the whole HSM; a key scope covers only that key (all of its versions).
    """
    if is_hsm_wide(assignment_scope):
        return True
    return assignment_scope.lower() == target_scope.lower()
