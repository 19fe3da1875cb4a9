"""Fixtures of the hostile-input suite: one emulator process for the package, two activated HSMs in two tenants.

`hostile` (package scope) runs `hsm-emulator serve` with the standard directory plus a subscription of the second
tenant (owned by `other-tenant-sp`), creates `fuzz-hsm` in tenant A (administrator `hsm-admin`, who also gets
Crypto User and Crypto Officer so one token can read every piece of state) and `foreign-hsm` in tenant B
(administrator `other-tenant-sp`), and activates both through the official SDKs. Tests then talk raw HTTPS with
real tokens (`hostile.http(...)`), because the SDKs validate inputs client-side.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from azure.identity import ClientSecretCredential
from azure.keyvault.administration import KeyVaultAccessControlClient, KeyVaultRoleScope
from azure.keyvault.securitydomain import SecurityDomainClient
from azure.mgmt.keyvault import KeyVaultManagementClient

from hsm_devtools.emulator_process import EmulatorProcess, ServicePrincipal, StandardDirectory, standard_directory
from tests.integration.emulator.dataplane.conftest import certificate_jwk, make_certificate

DATA_PLANE = "https://managedhsm.azure.net"
ARM = "https://management.azure.com/"
GRAPH = "https://graph.microsoft.com"
CRYPTO_USER = "21dbd100-6940-42c2-9190-5d6cb909625b"
CRYPTO_OFFICER = "515eb02d-2335-4d2d-92f2-b1cbdf9c3778"
OTHER_SUBSCRIPTION = "7d5b3a4e-1c2f-4e6a-9b8d-0f1e2d3c4b5a"
OTHER_GROUP = "rg-foreign"
FUZZ_GROUP = "rg-one"


@dataclass
class Hostile:
    process: EmulatorProcess
    directory: StandardDirectory
    fuzz_hsm_uri: str
    foreign_hsm_uri: str

    @property
    def url(self) -> str:
        return self.process.url

    def sp(self, name: str) -> ServicePrincipal:
        return self.directory.sp(name)

    def credential(self, name: str) -> ClientSecretCredential:
        sp = self.sp(name)
        return ClientSecretCredential(
            sp.tenant_id,
            sp.app_id,
            sp.secret,
            authority=self.url,
            disable_instance_discovery=True,
            connection_verify=str(self.process.ca_file),
        )

    def token(self, name: str, audience: str) -> str:
        return self.process.client_credentials_token(self.sp(name), audience)

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.process.ca_file))

    def http(self, base_url: str, token: str | None, *, timeout: float = 20.0) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=base_url, verify=self.ssl_context(), headers=headers, timeout=timeout)

    def hsm_arm_path(self, name: str, group: str = FUZZ_GROUP) -> str:
        return (
            f"/subscriptions/{self.directory.subscription_id}/resourceGroups/{group}"
            f"/providers/Microsoft.KeyVault/managedHSMs/{name}"
        )


def hostile_config(directory: StandardDirectory) -> dict[str, Any]:
    config = directory.config()
    other = directory.sp("other-tenant-sp")
    config["subscriptions"].append(
        {
            "id": OTHER_SUBSCRIPTION,
            "tenantId": directory.other_tenant_id,
            "resourceGroups": [{"name": OTHER_GROUP, "location": directory.location}],
        }
    )
    config["roleAssignments"].append(
        {"scope": f"/subscriptions/{OTHER_SUBSCRIPTION}", "roleDefinitionName": "Owner", "principalId": other.object_id}
    )
    return config


def create_hsm(
    hostile: Hostile, *, owner: str, subscription: str, group: str, name: str, tenant: str, admin: str
) -> str:
    """Create an HSM through ARM (not yet activated); returns its URI."""
    management = KeyVaultManagementClient(
        hostile.credential(owner),
        subscription,
        base_url=hostile.url,
        credential_scopes=[f"{ARM}.default"],
        connection_verify=str(hostile.process.ca_file),
        polling_interval=0.05,
    )
    hsm = management.managed_hsms.begin_create_or_update(
        group,
        name,
        {
            "location": hostile.directory.location,
            "sku": {"family": "B", "name": "Standard_B1"},
            "properties": {
                "tenantId": tenant,
                "initialAdminObjectIds": [hostile.sp(admin).object_id],
                "softDeleteRetentionInDays": 7,
            },
        },
    ).result()
    return str(hsm.properties.hsm_uri).rstrip("/")


def create_unactivated_hsm(hostile: Hostile, name: str) -> str:
    """An HSM of tenant A (group rg-two, administrator hsm-admin) left waiting for its security-domain download."""
    directory = hostile.directory
    return create_hsm(
        hostile,
        owner="sub-owner",
        subscription=directory.subscription_id,
        group="rg-two",
        name=name,
        tenant=directory.tenant_id,
        admin="hsm-admin",
    )


def create_active_hsm(
    hostile: Hostile, *, owner: str, subscription: str, group: str, name: str, tenant: str, admin: str
) -> str:
    """Create an HSM through ARM and activate it with a security-domain download; returns its URI."""
    uri = create_hsm(
        hostile, owner=owner, subscription=subscription, group=group, name=name, tenant=tenant, admin=admin
    )
    certificates = [make_certificate(f"{name}-sd-{index}")[1] for index in range(3)]
    domain = SecurityDomainClient(
        uri, hostile.credential(admin), verify_challenge_resource=False, connection_verify=str(hostile.process.ca_file)
    )
    domain.begin_download(
        {"certificates": [certificate_jwk(c) for c in certificates], "required": 2}, polling_interval=0.05
    ).result()
    return uri


@pytest.fixture(scope="package")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hostile]:
    directory = standard_directory()
    previous = os.environ.get("HSM_EMULATOR_ARM_RETRY_AFTER")
    os.environ["HSM_EMULATOR_ARM_RETRY_AFTER"] = "0"
    process = EmulatorProcess(tmp_path_factory.mktemp("hostile"), hostile_config(directory), hsm_port_count=6)
    try:
        with process:
            handle = Hostile(process, directory, "", "")
            handle.fuzz_hsm_uri = create_active_hsm(
                handle,
                owner="sub-owner",
                subscription=directory.subscription_id,
                group=FUZZ_GROUP,
                name="fuzz-hsm",
                tenant=directory.tenant_id,
                admin="hsm-admin",
            )
            handle.foreign_hsm_uri = create_active_hsm(
                handle,
                owner="other-tenant-sp",
                subscription=OTHER_SUBSCRIPTION,
                group=OTHER_GROUP,
                name="foreign-hsm",
                tenant=directory.other_tenant_id,
                admin="other-tenant-sp",
            )
            access = KeyVaultAccessControlClient(
                handle.fuzz_hsm_uri,
                handle.credential("hsm-admin"),
                verify_challenge_resource=False,
                connection_verify=str(process.ca_file),
            )
            admin_oid = directory.sp("hsm-admin").object_id
            for role in (CRYPTO_USER, CRYPTO_OFFICER):
                access.create_role_assignment(KeyVaultRoleScope.GLOBAL, role, admin_oid)
            yield handle
    finally:
        if previous is None:
            os.environ.pop("HSM_EMULATOR_ARM_RETRY_AFTER", None)
        else:
            os.environ["HSM_EMULATOR_ARM_RETRY_AFTER"] = previous
