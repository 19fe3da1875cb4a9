"""The access-control proof: the emulator's decision for every built-in role x data action x assignment scope
equals an expected table written from AZURE-API.md section 4 (not from the emulator's role catalogue), and the
committed docs/access-control-matrix.md is what the generator writes today.

Regenerate the document with `python -m hsm_devtools.access_matrix` after a deliberate change.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hsm_devtools import access_matrix

pytestmark = pytest.mark.integration
DOCUMENT = Path(__file__).resolve().parents[3] / "docs" / "access-control-matrix.md"

_RBAC_ALL = (
    "roleAssignments/read/action",
    "roleAssignments/write/action",
    "roleAssignments/delete/action",
    "roleDefinitions/read/action",
    "roleDefinitions/write/action",
    "roleDefinitions/delete/action",
)
_SECURITY_DOMAIN = (
    "securitydomain/download/action",
    "securitydomain/download/read",
    "securitydomain/upload/action",
    "securitydomain/upload/read",
    "securitydomain/transferkey/read",
)
_KEY_OPERATIONS = (
    "keys/read/action",
    "keys/write/action",
    "keys/delete",
    "keys/create",
    "keys/rotate/action",
    "keys/import/action",
    "keys/release/action",
    "keys/backup/action",
    "keys/restore/action",
    "keys/encrypt/action",
    "keys/decrypt/action",
    "keys/wrap/action",
    "keys/unwrap/action",
    "keys/sign/action",
    "keys/verify/action",
    "keys/derive/action",
)

# AZURE-API.md section 4, "Built-in roles" table (2022 wire form, prefix dropped), by role GUID.
EXPECTED_ROLES: dict[str, frozenset[str]] = {
    "a290e904-7015-4bba-90c8-60543313cdb4": frozenset(  # Administrator: no key operations
        (
            *_RBAC_ALL,
            *_SECURITY_DOMAIN,
            "backup/start/action",
            "backup/status/action",
            "restore/start/action",
            "restore/status/action",
        )
    ),
    "515eb02d-2335-4d2d-92f2-b1cbdf9c3778": frozenset(  # Crypto Officer
        (
            *_RBAC_ALL,
            "keys/deletedKeys/read/action",
            "keys/deletedKeys/delete",
            "keys/deletedKeys/recover/action",
            "keys/export/action",
        )
    ),
    "21dbd100-6940-42c2-9190-5d6cb909625b": frozenset(  # Crypto User
        (*_KEY_OPERATIONS, "rng/action", "roleDefinitions/read/action", "roleAssignments/read/action")
    ),
    "4bd23610-cdcf-4971-bdee-bdc562cc28e4": frozenset(_RBAC_ALL),  # Policy Administrator
    "2c18b078-7c48-4d3a-af88-5a3a1b3f82b3": frozenset(  # Crypto Auditor
        (
            "roleAssignments/read/action",
            "roleDefinitions/read/action",
            "keys/read/action",
            "keys/deletedKeys/read/action",
        )
    ),
    "33413926-3206-4cdd-b39a-83574fe37a17": frozenset(("keys/read/action", "keys/wrap/action", "keys/unwrap/action")),
    "21dbd100-6940-42c2-9190-5d6cb909625c": frozenset(("keys/release/action",)),  # Service Release User
    "7b127d3c-77bd-4e3e-bbe0-dbb8971fa7f8": frozenset(  # Backup
        ("backup/start/action", "backup/status/action", "keys/backup/action")
    ),
    "6efe6056-5259-49d2-8b3d-d3d73544b20b": frozenset(  # Restore
        ("restore/start/action", "restore/status/action", "keys/restore/action")
    ),
    "770fd66c-6266-4643-9d4e-b616870898d5": frozenset(),  # ARM User: `actions` only, no data actions
}

# Section 1: operations on a named key are decided at /keys/<name>; everything else (including restoring a key
# backup blob, whose URL names no key) at the HSM, where `/` and `/keys` both mean the whole HSM (section 4 scopes).
KEY_SCOPED = frozenset(
    a
    for a in (
        *_KEY_OPERATIONS,
        "keys/deletedKeys/read/action",
        "keys/deletedKeys/delete",
        "keys/deletedKeys/recover/action",
    )
    if a != "keys/restore/action"
)


def expected(role: str, scope: str, action: str) -> bool:
    if action not in EXPECTED_ROLES[role]:
        return False
    if scope in ("/", "/keys"):
        return True
    return scope == f"/keys/{access_matrix.TARGET}" and action in KEY_SCOPED


@pytest.fixture(scope="module")
def matrix() -> access_matrix.Matrix:
    return access_matrix.generate()


def test_every_built_in_role_of_the_document_is_served_and_no_other(matrix: access_matrix.Matrix) -> None:
    assert sorted(role.guid for role in matrix.roles) == sorted(EXPECTED_ROLES)


def test_decisions_match_the_documented_roles(matrix: access_matrix.Matrix) -> None:
    assert len(matrix.actions) == 34  # all 36 data actions but export and derive (no stable REST operation)
    mismatches = [
        f"{role.name} at {scope}: {action} is {'allowed' if allowed else 'denied'}"
        for (guid, scope, action), allowed in sorted(matrix.decisions.items())
        for role in matrix.roles
        if role.guid == guid and allowed != expected(guid, scope, action)
    ]
    assert mismatches == []
    assert len(matrix.decisions) == len(matrix.roles) * len(access_matrix.SCOPES) * len(matrix.actions)


def test_the_committed_document_is_current(matrix: access_matrix.Matrix) -> None:
    assert DOCUMENT.read_text() == access_matrix.render(matrix), (
        "docs/access-control-matrix.md is stale: run `python -m hsm_devtools.access_matrix`"
    )
