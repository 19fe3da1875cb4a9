"""The managed HSM lifecycle through the official SDKs only: create, get, tag, list with paging, move, delete,
deleted list/get, purge, recover; plus resource groups, a group-based assignment and a custom role with NotActions.
"""

from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.authorization.aio import AuthorizationManagementClient
from azure.mgmt.resource.resources.aio import ResourceManagementClient

from tests.integration.emulator.management.conftest import (
    ARM_SCOPE,
    CUSTOM_ROLE_ID,
    ArmEmulator,
    extra_principal,
)

pytestmark = pytest.mark.integration


def body(arm: ArmEmulator, *, purge_protection: bool = False, **extra: object) -> dict[str, object]:
    return {
        "location": arm.directory.location,
        "sku": {"family": "B", "name": "Standard_B1"},
        "properties": {
            "tenantId": arm.directory.tenant_id,
            "initialAdminObjectIds": [arm.directory.sp("hsm-admin").object_id],
            "softDeleteRetentionInDays": 7,
            "enablePurgeProtection": purge_protection,
        },
        **extra,
    }


def resources_client(arm: ArmEmulator, credential: object) -> ResourceManagementClient:
    return ResourceManagementClient(
        credential,  # type: ignore[arg-type]
        arm.directory.subscription_id,
        base_url=arm.url,
        credential_scopes=[ARM_SCOPE],
        connection_verify=str(arm.process.ca_file),
        polling_interval=0.1,
    )


def authorization_client(arm: ArmEmulator, credential: object) -> AuthorizationManagementClient:
    return AuthorizationManagementClient(
        credential,  # type: ignore[arg-type]
        arm.directory.subscription_id,
        base_url=arm.url,
        credential_scopes=[ARM_SCOPE],
        connection_verify=str(arm.process.ca_file),
    )


async def test_full_lifecycle(arm: ArmEmulator) -> None:
    credential = arm.credential(arm.standard("mgmt-operator"))
    reader_credential = arm.credential(arm.standard("sub-reader"))  # name checks are */read, not in HSM contributor
    async with (
        credential,
        arm.keyvault(credential) as client,
        reader_credential,
        arm.keyvault(reader_credential) as reader,
    ):
        poller = await client.managed_hsms.begin_create_or_update("rg-one", "life-a", body(arm, tags={"env": "t"}))
        created = await poller.result()
        assert created.properties.provisioning_state == "Succeeded"
        assert created.properties.hsm_uri.startswith("https://127.0.0.1:")
        assert created.properties.security_domain_properties.activation_status == "NotActivated"
        assert created.properties.initial_admin_object_ids == [arm.directory.sp("hsm-admin").object_id]
        port = int(created.properties.hsm_uri.rstrip("/").rsplit(":", 1)[1])
        assert port in arm.process.hsm_ports

        fetched = await client.managed_hsms.get("rg-one", "life-a")
        assert fetched.id == created.id
        assert fetched.tags == {"env": "t"}

        updated = await (await client.managed_hsms.begin_update("rg-one", "life-a", {"tags": {"env": "u"}})).result()
        assert updated.tags == {"env": "u"}
        assert updated.properties.hsm_uri == created.properties.hsm_uri

        for name in ("life-b", "life-c"):
            await (await client.managed_hsms.begin_create_or_update("rg-one", name, body(arm))).result()
        in_group = client.managed_hsms.list_by_resource_group("rg-one", top=1).by_page()
        pages = [[hsm.name async for hsm in page] async for page in in_group]
        assert len(pages) >= 3
        assert all(len(page) == 1 for page in pages)
        assert {"life-a", "life-b", "life-c"} <= {name for page in pages for name in page}
        in_subscription = {hsm.name async for hsm in client.managed_hsms.list_by_subscription(top=2)}
        assert {"life-a", "life-b", "life-c"} <= in_subscription

        availability = await reader.managed_hsms.check_mhsm_name_availability({"name": "life-a"})
        assert availability.name_available is False
        assert availability.reason == "AlreadyExists"

        await (await client.managed_hsms.begin_delete("rg-one", "life-b")).result()
        with pytest.raises(ResourceNotFoundError):
            await client.managed_hsms.get("rg-one", "life-b")
        deleted = [hsm async for hsm in client.managed_hsms.list_deleted()]
        assert "life-b" in [hsm.name for hsm in deleted]
        soft = await client.managed_hsms.get_deleted("life-b", arm.directory.location)
        assert soft.properties.mhsm_id.endswith("/managedHSMs/life-b")
        assert soft.properties.scheduled_purge_date > soft.properties.deletion_date
        taken = await reader.managed_hsms.check_mhsm_name_availability({"name": "life-b"})
        assert taken.name_available is False  # soft-deleted names stay reserved
        await (await client.managed_hsms.begin_purge_deleted("life-b", arm.directory.location)).result()
        with pytest.raises(ResourceNotFoundError):
            await client.managed_hsms.get_deleted("life-b", arm.directory.location)
        assert (await reader.managed_hsms.check_mhsm_name_availability({"name": "life-b"})).name_available


async def test_recover_restores_the_same_hsm_and_purge_protection_blocks_purge(arm: ArmEmulator) -> None:
    credential = arm.credential(arm.standard("mgmt-operator"))
    async with credential, arm.keyvault(credential) as client:
        create = body(arm, purge_protection=True, tags={"keep": "me"})
        original = await (await client.managed_hsms.begin_create_or_update("rg-one", "life-rec", create)).result()
        await (await client.managed_hsms.begin_delete("rg-one", "life-rec")).result()
        with pytest.raises(HttpResponseError) as refused:
            await (await client.managed_hsms.begin_purge_deleted("life-rec", arm.directory.location)).result()
        assert refused.value.status_code == 403
        with pytest.raises(HttpResponseError) as clash:
            await client.managed_hsms.begin_create_or_update("rg-one", "life-rec", body(arm))
        assert clash.value.status_code == 409
        recover = body(arm)
        recover["properties"] = {"createMode": "recover"}
        recovered = await (await client.managed_hsms.begin_create_or_update("rg-one", "life-rec", recover)).result()
        assert recovered.id == original.id
        assert recovered.properties.hsm_uri == original.properties.hsm_uri
        assert recovered.tags == {"keep": "me"}
        assert recovered.properties.enable_purge_protection is True
        with pytest.raises(HttpResponseError) as one_way:
            await client.managed_hsms.begin_update(
                "rg-one", "life-rec", {"properties": {"enablePurgeProtection": False}}
            )
        assert one_way.value.status_code == 400


async def test_resource_groups_and_move(arm: ArmEmulator) -> None:
    owner = arm.credential(arm.standard("sub-owner"))
    async with owner, arm.keyvault(owner) as keyvault, resources_client(arm, owner) as resources:
        group = await resources.resource_groups.create_or_update("rg-moved-to", {"location": arm.directory.location})
        assert group.name == "rg-moved-to"
        assert await resources.resource_groups.check_existence("rg-moved-to")
        assert "rg-moved-to" in [g.name async for g in resources.resource_groups.list()]
        source = await (await keyvault.managed_hsms.begin_create_or_update("rg-two", "life-mv", body(arm))).result()
        poller = await resources.resources.begin_move_resources(
            "rg-two", {"resources": [source.id], "targetResourceGroup": group.id}
        )
        await poller.result()
        with pytest.raises(ResourceNotFoundError):
            await keyvault.managed_hsms.get("rg-two", "life-mv")
        moved = await keyvault.managed_hsms.get("rg-moved-to", "life-mv")
        assert moved.id.lower() == f"{group.id}/providers/Microsoft.KeyVault/managedHSMs/life-mv".lower()
        assert moved.properties.hsm_uri == source.properties.hsm_uri
        with pytest.raises(HttpResponseError) as not_empty:
            await (await resources.resource_groups.begin_delete("rg-moved-to")).result()
        assert not_empty.value.status_code == 409

    contributor = arm.credential(arm.standard("rg-contributor"))  # Contributor on rg-one only
    async with contributor, resources_client(arm, contributor) as resources:
        with pytest.raises(HttpResponseError) as denied:
            await resources.resources.begin_move_resources(
                "rg-one", {"resources": [moved.id], "targetResourceGroup": arm.directory.scope("rg-two")}
            )
        assert denied.value.status_code == 403


async def test_group_assignment_follows_membership(arm: ArmEmulator) -> None:
    member = arm.credential(extra_principal("group-contributor-member"))
    async with member, arm.keyvault(member) as client:
        await (await client.managed_hsms.begin_create_or_update("rg-two", "life-grp", body(arm))).result()
        with pytest.raises(HttpResponseError) as denied:
            await client.managed_hsms.get("rg-one", "life-a")
        assert denied.value.status_code == 403


async def test_custom_role_with_not_actions(arm: ArmEmulator) -> None:
    holder = extra_principal("custom-role-holder")
    owner = arm.credential(arm.standard("sub-owner"))
    subscription_scope = arm.directory.scope("subscription")
    async with owner, authorization_client(arm, owner) as authorization, arm.keyvault(owner) as keyvault:
        definition = await authorization.role_definitions.create_or_update(
            subscription_scope,
            CUSTOM_ROLE_ID,
            {
                "role_name": "HSM operator without delete",
                "description": "All managed HSM actions except delete",
                "role_type": "CustomRole",
                "permissions": [{"actions": ["Microsoft.KeyVault/managedHSMs/*"], "not_actions": ["*/delete"]}],
                "assignable_scopes": [subscription_scope],
            },
        )
        assert definition.role_name == "HSM operator without delete"
        assignment = await authorization.role_assignments.create(
            subscription_scope,
            "6f1d2c3b-0000-4000-8000-00000000c0de",
            {
                "role_definition_id": definition.id,
                "principal_id": holder.object_id,
                "principal_type": "ServicePrincipal",
            },
        )
        assert assignment.principal_id == holder.object_id
        listed = [
            a.name
            async for a in authorization.role_assignments.list_for_scope(
                subscription_scope, filter=f"principalId eq '{holder.object_id}'"
            )
        ]
        assert listed == ["6f1d2c3b-0000-4000-8000-00000000c0de"]
        await (await keyvault.managed_hsms.begin_create_or_update("rg-two", "life-cust", body(arm))).result()

    credential = arm.credential(holder)
    async with credential, arm.keyvault(credential) as client:
        fetched = await client.managed_hsms.get("rg-two", "life-cust")
        assert fetched.name == "life-cust"
        await (await client.managed_hsms.begin_update("rg-two", "life-cust", {"tags": {"by": "custom"}})).result()
        with pytest.raises(HttpResponseError) as denied:
            await client.managed_hsms.begin_delete("rg-two", "life-cust")
        assert denied.value.status_code == 403
        assert "Microsoft.KeyVault/managedHSMs/delete" in str(denied.value)

    contributor = arm.credential(arm.standard("sub-contributor"))
    async with contributor, authorization_client(arm, contributor) as authorization:
        with pytest.raises(HttpResponseError) as cannot_grant:
            await authorization.role_assignments.create(
                subscription_scope,
                "6f1d2c3b-0000-4000-8000-00000000c0df",
                {"role_definition_id": definition.id, "principal_id": holder.object_id},
            )
        assert cannot_grant.value.status_code == 403
