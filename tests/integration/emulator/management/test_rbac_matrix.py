"""Azure RBAC through the official SDK: role x assignment level x operation, each allowed or denied as Azure says.

The expectations below are written from the role definitions and the ARM scope of each operation, independently
of the emulator's code: an operation is allowed when the role's Actions (minus NotActions) contain its action AND
the assignment sits at or above the operation's scope. Allowed calls on `matrix-ghost` (which never exists) prove
authorization passed without changing anything (204 for delete, 404 for purge).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.keyvault.aio import KeyVaultManagementClient

from tests.integration.emulator.management.conftest import (
    GHOST_HSM,
    LEVELS,
    MATRIX_GROUP,
    MATRIX_HSM,
    ROLES,
    ArmEmulator,
    matrix_principal,
)

pytestmark = pytest.mark.integration

# Which operations each role's actions cover (Reader: */read only; the other three cover all of these).
ROLE_GRANTS = {
    "Owner": {"get", "create_update", "tag_update", "delete", "list", "purge", "list_deleted"},
    "Contributor": {"get", "create_update", "tag_update", "delete", "list", "purge", "list_deleted"},
    "Reader": {"get", "list", "list_deleted"},
    "Managed HSM contributor": {"get", "create_update", "tag_update", "delete", "list", "purge", "list_deleted"},
    None: set(),
}
# The ARM scope each operation is authorized at.
OPERATION_SCOPE = {
    "get": "resource",
    "create_update": "resource",
    "tag_update": "resource",
    "delete": "resource",
    "list": "resourceGroup",  # list by resource group
    "purge": "subscription",  # /subscriptions/s/providers/Microsoft.KeyVault/locations/l/deletedManagedHSMs/n
    "list_deleted": "subscription",
}
LEVEL_COVERS = {
    "managementGroup": {"resource", "resourceGroup", "subscription"},
    "subscription": {"resource", "resourceGroup", "subscription"},
    "resourceGroup": {"resource", "resourceGroup"},
    "resource": {"resource"},
}

HSM_BODY = {"tags": {"matrix": "yes"}}


def expected_allowed(role: str | None, level: str, operation: str) -> bool:
    return operation in ROLE_GRANTS[role] and OPERATION_SCOPE[operation] in LEVEL_COVERS[level]


def hsm_body(arm: ArmEmulator) -> dict[str, object]:
    return {
        "location": arm.directory.location,
        "sku": {"family": "B", "name": "Standard_B1"},
        "tags": {"matrix": "yes"},
        "properties": {
            "tenantId": arm.directory.tenant_id,
            "initialAdminObjectIds": [arm.directory.sp("hsm-admin").object_id],
            "softDeleteRetentionInDays": 7,
            "enablePurgeProtection": False,
        },
    }


async def _get(client: KeyVaultManagementClient, arm: ArmEmulator) -> None:
    hsm = await client.managed_hsms.get(MATRIX_GROUP, MATRIX_HSM)
    assert hsm is not None
    assert hsm.name == MATRIX_HSM


async def _create_update(client: KeyVaultManagementClient, arm: ArmEmulator) -> None:
    await client.managed_hsms.begin_create_or_update(MATRIX_GROUP, MATRIX_HSM, hsm_body(arm), polling=False)


async def _tag_update(client: KeyVaultManagementClient, arm: ArmEmulator) -> None:
    await client.managed_hsms.begin_update(MATRIX_GROUP, MATRIX_HSM, HSM_BODY, polling=False)


async def _delete(client: KeyVaultManagementClient, arm: ArmEmulator) -> None:
    poller = await client.managed_hsms.begin_delete(MATRIX_GROUP, GHOST_HSM)
    await poller.result()  # 204: nothing to delete, but the caller was allowed to try


async def _list(client: KeyVaultManagementClient, arm: ArmEmulator) -> None:
    names = [hsm.name async for hsm in client.managed_hsms.list_by_resource_group(MATRIX_GROUP)]
    assert MATRIX_HSM in names


async def _purge(client: KeyVaultManagementClient, arm: ArmEmulator) -> None:
    with pytest.raises(ResourceNotFoundError):
        await client.managed_hsms.begin_purge_deleted(GHOST_HSM, arm.directory.location, polling=False)


async def _list_deleted(client: KeyVaultManagementClient, arm: ArmEmulator) -> None:
    deleted = [hsm.name async for hsm in client.managed_hsms.list_deleted()]
    assert all(isinstance(name, str) for name in deleted)


OPERATIONS: dict[str, Callable[[KeyVaultManagementClient, ArmEmulator], Awaitable[None]]] = {
    "get": _get,
    "create_update": _create_update,
    "tag_update": _tag_update,
    "delete": _delete,
    "list": _list,
    "purge": _purge,
    "list_deleted": _list_deleted,
}

CASES = [
    pytest.param(role, level, operation, id=f"{role or 'no-role'}-{level}-{operation}")
    for role in (*ROLES, None)
    for level in LEVELS
    for operation in OPERATIONS
]


@pytest.fixture(scope="module")
def matrix_hsm(arm: ArmEmulator) -> str:
    async def create() -> str:
        credential = arm.credential(arm.standard("sub-owner"))
        async with credential, arm.keyvault(credential) as client:
            poller = await client.managed_hsms.begin_create_or_update(MATRIX_GROUP, MATRIX_HSM, hsm_body(arm))
            hsm = await poller.result()
        return str(hsm.id)

    return asyncio.run(create())


@pytest.mark.parametrize(("role", "level", "operation"), CASES)
async def test_matrix(arm: ArmEmulator, matrix_hsm: str, role: str | None, level: str, operation: str) -> None:
    principal = matrix_principal(role, level)
    credential = arm.credential(principal)
    async with credential, arm.keyvault(credential) as client:
        if expected_allowed(role, level, operation):
            await OPERATIONS[operation](client, arm)
        else:
            with pytest.raises(HttpResponseError) as denied:
                await OPERATIONS[operation](client, arm)
            assert denied.value.status_code == 403
            assert denied.value.error is not None
            assert denied.value.error.code == "AuthorizationFailed"
            assert f"with object id '{principal.object_id}' does not have authorization" in str(denied.value)


def test_matrix_is_large_enough() -> None:
    assert len(CASES) >= 80
    assert any(expected_allowed(*case.values) for case in CASES)
    assert not all(expected_allowed(*case.values) for case in CASES)
