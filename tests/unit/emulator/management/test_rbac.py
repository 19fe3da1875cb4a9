"""Azure RBAC evaluation: wildcards, NotActions, scope inheritance through management groups, groups."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from hsm_emulator.management import rbac, roles, scopes, store
from hsm_emulator.storage import Database, Transaction

TENANT = "11111111-1111-1111-1111-111111111111"
SUB = "22222222-2222-2222-2222-222222222222"
OTHER_SUB = "33333333-3333-3333-3333-333333333333"
ALICE = "aaaaaaaa-0000-0000-0000-000000000001"
GROUP = "99999999-0000-0000-0000-000000000001"
HSM_SCOPE = f"/subscriptions/{SUB}/resourceGroups/rg1/providers/Microsoft.KeyVault/managedHSMs/hsm1"
OTHER_HSM_SCOPE = f"/subscriptions/{SUB}/resourceGroups/rg2/providers/Microsoft.KeyVault/managedHSMs/hsm2"


@dataclass(frozen=True)
class FakeCaller:
    object_id: str = ALICE
    tenant_id: str = TENANT
    group_ids: frozenset[str] = field(default_factory=frozenset)


@pytest.fixture
def tx(tmp_path: Path) -> Iterator[Transaction]:
    db = Database.open(tmp_path)
    db.migrate(store.MIGRATIONS)
    with db.transaction() as transaction:
        store.upsert_management_group(transaction, TENANT, TENANT, None)  # tenant root group
        store.upsert_management_group(transaction, "platform", TENANT, TENANT)
        store.upsert_management_group(transaction, "crypto", TENANT, "platform")
        store.upsert_subscription(transaction, SUB, TENANT, "crypto")
        store.upsert_subscription(transaction, OTHER_SUB, TENANT, TENANT)
        yield transaction
    db.close()


def assign(tx: Transaction, scope: str, role: roles.RoleDefinition, principal: str = ALICE) -> None:
    row = store.RoleAssignmentRow(
        name=f"{len(store.all_role_assignments(tx)):08d}-0000-0000-0000-000000000000",
        scope=scope,
        role_definition_guid=role.guid,
        principal_id=principal,
        principal_type="User",
        description=None,
        created_at=time.time(),
        created_by="test",
    )
    store.insert_role_assignment(tx, row, scopes.normalize(scope))


@pytest.mark.parametrize(
    ("pattern", "action", "expected"),
    [
        ("*", "Microsoft.KeyVault/managedHSMs/read", True),
        ("*/read", "Microsoft.KeyVault/managedHSMs/read", True),
        ("*/read", "Microsoft.KeyVault/managedHSMs/write", False),
        ("Microsoft.KeyVault/managedHSMs/*", "microsoft.keyvault/MANAGEDHSMS/delete", True),
        ("Microsoft.KeyVault/managedHSMs/*", "Microsoft.KeyVault/deletedManagedHsms/read", False),
        ("Microsoft.Authorization/*/Write", "Microsoft.Authorization/roleAssignments/write", True),
        ("Microsoft.Authorization/*/Write", "Microsoft.Authorization/roleAssignments/read", False),
        ("Microsoft.Key.ault/*", "Microsoft.KeyVault/x", False),  # '.' is literal, not a regex wildcard
    ],
)
def test_action_wildcards(pattern: str, action: str, expected: bool) -> None:
    assert roles.matches(pattern, action) is expected


@pytest.mark.parametrize(
    ("role", "action", "expected"),
    [
        (roles.OWNER, "Microsoft.Authorization/roleAssignments/write", True),
        (roles.CONTRIBUTOR, "Microsoft.Authorization/roleAssignments/write", False),
        (roles.CONTRIBUTOR, "Microsoft.Authorization/roleAssignments/delete", False),
        (roles.CONTRIBUTOR, "Microsoft.Authorization/roleAssignments/read", True),
        (roles.CONTRIBUTOR, "Microsoft.Authorization/elevateAccess/Action", False),
        (roles.CONTRIBUTOR, "Microsoft.KeyVault/managedHSMs/delete", True),
        (roles.READER, "Microsoft.KeyVault/managedHSMs/read", True),
        (roles.READER, "Microsoft.KeyVault/managedHSMs/write", False),
        (roles.MANAGED_HSM_CONTRIBUTOR, "Microsoft.KeyVault/managedHSMs/write", True),
        (roles.MANAGED_HSM_CONTRIBUTOR, "Microsoft.KeyVault/locations/deletedManagedHsms/purge/action", True),
        (roles.MANAGED_HSM_CONTRIBUTOR, "Microsoft.Resources/subscriptions/resourceGroups/read", False),
        (roles.MANAGED_HSM_CONTRIBUTOR, "Microsoft.Authorization/roleAssignments/write", False),
    ],
)
def test_built_in_roles(role: roles.RoleDefinition, action: str, expected: bool) -> None:
    assert role.grants(action) is expected


def test_built_in_roles_carry_no_data_actions() -> None:
    for role in roles.BUILT_IN_ROLES:
        for permission in role.permissions:
            assert permission.data_actions == ()


def test_parse_scopes() -> None:
    assert scopes.parse("/").level is scopes.ScopeLevel.ROOT
    assert scopes.parse("//subscriptions/x//").level is scopes.ScopeLevel.SUBSCRIPTION
    assert scopes.parse("subscriptions/x/resourceGroups/rg").resource_group == "rg"
    assert scopes.parse(HSM_SCOPE).level is scopes.ScopeLevel.RESOURCE
    group = scopes.parse("/providers/Microsoft.Management/managementGroups/platform")
    assert group.management_group == "platform"
    for bad in ("/foo", "/subscriptions", "/subscriptions/x/resourceGroups/rg/providers/Microsoft.KeyVault"):
        with pytest.raises(scopes.InvalidScope):
            scopes.parse(bad)


def test_chain_walks_up_through_management_groups(tx: Transaction) -> None:
    assert rbac.scope_chain(tx, HSM_SCOPE) == [
        scopes.normalize(HSM_SCOPE),
        f"/subscriptions/{SUB}/resourcegroups/rg1",
        f"/subscriptions/{SUB}",
        "/providers/microsoft.management/managementgroups/crypto",
        "/providers/microsoft.management/managementgroups/platform",
        f"/providers/microsoft.management/managementgroups/{TENANT}",
        "/",
    ]


@pytest.mark.parametrize(
    ("assigned_at", "covers_hsm1", "covers_hsm2"),
    [
        ("/providers/Microsoft.Management/managementGroups/platform", True, True),
        (f"/subscriptions/{SUB}", True, True),
        (f"/subscriptions/{SUB}/resourceGroups/RG1", True, False),
        (HSM_SCOPE.upper().replace("SUBSCRIPTIONS", "subscriptions"), True, False),
        (f"/subscriptions/{OTHER_SUB}", False, False),
        (f"{HSM_SCOPE}/keys/k1", False, False),  # below the target: does not flow upwards
    ],
)
def test_inheritance_flows_downwards_only(
    tx: Transaction, assigned_at: str, covers_hsm1: bool, covers_hsm2: bool
) -> None:
    assign(tx, assigned_at, roles.READER)
    caller = FakeCaller()
    assert rbac.is_allowed(tx, caller, "Microsoft.KeyVault/managedHSMs/read", HSM_SCOPE) is covers_hsm1
    assert rbac.is_allowed(tx, caller, "Microsoft.KeyVault/managedHSMs/read", OTHER_HSM_SCOPE) is covers_hsm2


def test_group_assignment_applies_only_while_member(tx: Transaction) -> None:
    assign(tx, f"/subscriptions/{SUB}", roles.MANAGED_HSM_CONTRIBUTOR, principal=GROUP)
    assert rbac.is_allowed(
        tx, FakeCaller(group_ids=frozenset({GROUP})), "Microsoft.KeyVault/managedHSMs/delete", HSM_SCOPE
    )
    assert not rbac.is_allowed(tx, FakeCaller(), "Microsoft.KeyVault/managedHSMs/delete", HSM_SCOPE)


def test_custom_role_not_actions(tx: Transaction) -> None:
    now = time.time()
    store.put_role_definition(
        tx,
        store.RoleDefinitionRow(
            guid="44444444-4444-4444-4444-444444444444",
            scope=f"/subscriptions/{SUB}",
            role_name="HSM operator without delete",
            description="",
            permissions=[
                {"actions": ["Microsoft.KeyVault/*"], "notActions": ["Microsoft.KeyVault/managedHSMs/delete"]}
            ],
            assignable_scopes=[f"/subscriptions/{SUB}"],
            created_at=now,
            created_by="test",
            updated_at=now,
        ),
    )
    row = store.RoleAssignmentRow(
        "55555555-5555-5555-5555-555555555555",
        f"/subscriptions/{SUB}",
        "44444444-4444-4444-4444-444444444444",
        ALICE,
        "User",
        None,
        now,
        "test",
    )
    store.insert_role_assignment(tx, row, scopes.normalize(row.scope))
    caller = FakeCaller()
    assert rbac.is_allowed(tx, caller, "Microsoft.KeyVault/managedHSMs/write", HSM_SCOPE)
    assert not rbac.is_allowed(tx, caller, "Microsoft.KeyVault/managedHSMs/delete", HSM_SCOPE)


def test_denial_message_is_the_arm_one(tx: Transaction) -> None:
    with pytest.raises(rbac.AuthorizationFailed) as caught:
        rbac.authorize(tx, FakeCaller(), "Microsoft.KeyVault/managedHSMs/read", HSM_SCOPE)
    assert caught.value.status == 403
    assert caught.value.code == "AuthorizationFailed"
    assert caught.value.message == (
        f"The client '{ALICE}' with object id '{ALICE}' does not have authorization to perform action "
        f"'Microsoft.KeyVault/managedHSMs/read' over scope '{HSM_SCOPE}' or the scope is invalid. If access was "
        "recently granted, please refresh your credentials."
    )


def test_wrong_tenant_is_refused(tx: Transaction) -> None:
    stranger = FakeCaller(tenant_id="77777777-7777-7777-7777-777777777777")
    with pytest.raises(rbac.InvalidAuthenticationTokenTenant):
        rbac.require_subscription_tenant(tx, stranger, SUB, "https://127.0.0.1:8443")
    rbac.require_subscription_tenant(tx, FakeCaller(), SUB, "https://127.0.0.1:8443")
