"""Every built-in role x every data action x every scope pair: the decision equals the role definition.

The expected grants are written out here from the role lists recorded against the real service (AZURE-API.md §4),
independently of ``roles.py``, so a typo in either place fails the table.
"""

from __future__ import annotations

import itertools

import pytest

from hsm_emulator.dataplane import rbac, roles, scopes

P = roles.DATA_ACTION_PREFIX
RBAC_ALL = {
    "roleAssignments/read/action",
    "roleAssignments/write/action",
    "roleAssignments/delete/action",
    "roleDefinitions/read/action",
    "roleDefinitions/write/action",
    "roleDefinitions/delete/action",
}
EXPECTED_GRANTS: dict[str, set[str]] = {
    "Managed HSM Administrator": RBAC_ALL
    | {
        "securitydomain/download/action",
        "securitydomain/download/read",
        "securitydomain/upload/action",
        "securitydomain/upload/read",
        "securitydomain/transferkey/read",
        "backup/start/action",
        "backup/status/action",
        "restore/start/action",
        "restore/status/action",
        "settings/read/action",
        "settings/write/action",
    },
    "Managed HSM Crypto Officer": RBAC_ALL
    | {
        "keys/deletedKeys/read/action",
        "keys/deletedKeys/delete",
        "keys/deletedKeys/recover/action",
        "keys/export/action",
    },
    "Managed HSM Crypto User": {
        "roleDefinitions/read/action",
        "roleAssignments/read/action",
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
        "rng/action",
    },
    "Managed HSM Policy Administrator": set(RBAC_ALL),
    "Managed HSM Crypto Auditor": {
        "roleAssignments/read/action",
        "roleDefinitions/read/action",
        "keys/read/action",
        "keys/deletedKeys/read/action",
    },
    "Managed HSM Crypto Service Encryption User": {"keys/read/action", "keys/wrap/action", "keys/unwrap/action"},
    "Managed HSM Crypto Service Release User": {"keys/release/action"},
    "Managed HSM Backup User": {"backup/start/action", "backup/status/action", "keys/backup/action"},
    "Managed HSM Restore User": {"restore/start/action", "restore/status/action", "keys/restore/action"},
    "Managed HSM ARM User": set(),
}
EXPECTED_IDS = {
    "Managed HSM Administrator": "a290e904-7015-4bba-90c8-60543313cdb4",
    "Managed HSM Crypto Officer": "515eb02d-2335-4d2d-92f2-b1cbdf9c3778",
    "Managed HSM Crypto User": "21dbd100-6940-42c2-9190-5d6cb909625b",
    "Managed HSM Policy Administrator": "4bd23610-cdcf-4971-bdee-bdc562cc28e4",
    "Managed HSM Crypto Auditor": "2c18b078-7c48-4d3a-af88-5a3a1b3f82b3",
    "Managed HSM Crypto Service Encryption User": "33413926-3206-4cdd-b39a-83574fe37a17",
    "Managed HSM Crypto Service Release User": "21dbd100-6940-42c2-9190-5d6cb909625c",
    "Managed HSM Backup User": "7b127d3c-77bd-4e3e-bbe0-dbb8971fa7f8",
    "Managed HSM Restore User": "6efe6056-5259-49d2-8b3d-d3d73544b20b",
    "Managed HSM ARM User": "770fd66c-6266-4643-9d4e-b616870898d5",
}
# (assignment scope, call scope) -> does the assignment apply?
SCOPE_APPLIES = {
    ("/", "/"): True,
    ("/", "/keys"): True,
    ("/", "/keys/k1"): True,
    ("/", "/keys/other"): True,
    ("/keys", "/"): True,
    ("/keys", "/keys"): True,
    ("/keys", "/keys/k1"): True,
    ("/keys", "/keys/other"): True,
    ("/keys/k1", "/"): False,
    ("/keys/k1", "/keys"): False,
    ("/keys/k1", "/keys/k1"): True,
    ("/keys/k1", "/keys/K1"): True,
    ("/keys/k1", "/keys/other"): False,
}


def test_built_in_catalogue_has_the_real_ids_and_names() -> None:
    assert {role.role_name: role.name for role in roles.BUILT_IN_ROLES} == EXPECTED_IDS
    assert all(role.role_type == "AKVBuiltInRole" and role.assignable_scopes == ("/",) for role in roles.BUILT_IN_ROLES)


def test_every_role_action_and_scope_combination() -> None:
    checked = 0
    for role, action, (scope_pair, applies) in itertools.product(
        roles.BUILT_IN_ROLES, roles.ALL_DATA_ACTIONS, SCOPE_APPLIES.items()
    ):
        assignment_scope, call_scope = scope_pair
        expected = applies and action.removeprefix(P) in EXPECTED_GRANTS[role.role_name]
        got = rbac.decide([rbac.EffectiveAssignment(assignment_scope, role)], action, call_scope, is_global_admin=False)
        assert got is expected, (role.role_name, action, assignment_scope, call_scope)
        checked += 1
    assert checked == len(roles.BUILT_IN_ROLES) * len(roles.ALL_DATA_ACTIONS) * len(SCOPE_APPLIES)


def test_no_assignment_means_no_access() -> None:
    assert not any(rbac.decide([], action, "/", is_global_admin=False) for action in roles.ALL_DATA_ACTIONS)


def test_global_administrators_are_implicit_hsm_administrators() -> None:
    for action in roles.ALL_DATA_ACTIONS:
        expected = action.removeprefix(P) in EXPECTED_GRANTS["Managed HSM Administrator"]
        assert rbac.decide([], action, "/keys/k1", is_global_admin=True) is expected


def custom(data_actions: tuple[str, ...], not_data_actions: tuple[str, ...] = ()) -> roles.RoleDefinition:
    return roles.RoleDefinition(
        name="11111111-1111-1111-1111-111111111111",
        role_name="custom",
        role_type=roles.CUSTOM_ROLE_TYPE,
        permissions=(roles.Permission(data_actions=data_actions, not_data_actions=not_data_actions),),
    )


def test_not_data_actions_subtract_within_the_permission() -> None:
    role = custom((P + "keys/*",), (P + "keys/sign/action", P + "keys/deletedKeys/*"))
    assert rbac.role_grants(role, roles.DataAction.ENCRYPT)
    assert rbac.role_grants(role, roles.DataAction.KEYS_CREATE)
    assert not rbac.role_grants(role, roles.DataAction.SIGN)
    assert not rbac.role_grants(role, roles.DataAction.DELETED_KEYS_PURGE)
    assert not rbac.role_grants(role, roles.DataAction.ROLE_ASSIGNMENTS_WRITE)


def test_a_not_data_action_in_one_permission_does_not_cancel_another_permission() -> None:
    role = roles.RoleDefinition(
        name="22222222-2222-2222-2222-222222222222",
        role_name="two",
        role_type=roles.CUSTOM_ROLE_TYPE,
        permissions=(
            roles.Permission(data_actions=(roles.DataAction.SIGN,)),
            roles.Permission(not_data_actions=(roles.DataAction.SIGN,)),
        ),
    )
    assert rbac.role_grants(role, roles.DataAction.SIGN)


def test_action_matching_is_case_insensitive() -> None:
    assert rbac.role_grants(custom((roles.DataAction.SIGN.upper(),)), roles.DataAction.SIGN)


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("", "/"),
        ("/", "/"),
        ("//", "/"),
        ("/keys", "/keys"),
        ("//keys", "/keys"),
        ("keys/abc-1", "/keys/abc-1"),
        ("/keys/abc/", "/keys/abc"),
        ("/KEYS", "/keys"),
    ],
)
def test_scopes_normalize(raw: str, canonical: str) -> None:
    assert scopes.normalize_scope(raw) == canonical


@pytest.mark.parametrize("raw", ["/secrets", "/keys/a/b", "/keys/bad_name", "/keys/" + "a" * 128])
def test_invalid_scopes_are_refused(raw: str) -> None:
    with pytest.raises(scopes.InvalidScope):
        scopes.normalize_scope(raw)
