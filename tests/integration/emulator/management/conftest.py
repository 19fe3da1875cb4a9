"""A management-plane emulator for this package: the standard directory plus the principals of the RBAC matrix.

One process per test module (the matrix needs 17 extra principals and a resource group of its own, which the
session-wide `emulator` of tests/support does not have). Provisioning is shortened so LRO pollers finish fast
while still polling at least once.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from azure.identity.aio import ClientSecretCredential
from azure.mgmt.keyvault.aio import KeyVaultManagementClient

from hsm_devtools.emulator_process import EmulatorProcess, StandardDirectory, stable_id, standard_directory

ROLES = ("Owner", "Contributor", "Reader", "Managed HSM contributor")
LEVELS = ("managementGroup", "subscription", "resourceGroup", "resource")
MATRIX_GROUP = "rg-matrix"
MATRIX_HSM = "matrix-hsm"
GHOST_HSM = "matrix-ghost"  # never exists: allowed deletes/purges of it prove authorization without side effects
ARM_SCOPE = "https://management.azure.com/.default"


@dataclass(frozen=True)
class Principal:
    name: str
    object_id: str
    app_id: str
    secret: str


def matrix_principal(role: str | None, level: str | None) -> Principal:
    name = "matrix-none" if role is None else f"matrix-{role.lower().replace(' ', '-')}-{level}"
    return Principal(name, stable_id(f"sp:{name}:object"), stable_id(f"sp:{name}:app"), f"{name}-secret")


EXTRA_PRINCIPALS = ("custom-role-holder", "group-contributor-member")
CUSTOM_ROLE_ID = stable_id("role:hsm-no-delete")
HSM_GROUP_ID = stable_id("group:arm-hsm-operators")


def extra_principal(name: str) -> Principal:
    return Principal(name, stable_id(f"sp:{name}:object"), stable_id(f"sp:{name}:app"), f"{name}-secret")


def hsm_scope(directory: StandardDirectory, group: str, name: str) -> str:
    return f"{directory.scope(group)}/providers/Microsoft.KeyVault/managedHSMs/{name}"


def level_scopes(directory: StandardDirectory, level: str) -> list[str]:
    if level == "managementGroup":
        return [f"/providers/Microsoft.Management/managementGroups/{directory.management_group}"]
    if level == "subscription":
        return [directory.scope("subscription")]
    if level == "resourceGroup":
        return [directory.scope(MATRIX_GROUP)]
    return [hsm_scope(directory, MATRIX_GROUP, MATRIX_HSM), hsm_scope(directory, MATRIX_GROUP, GHOST_HSM)]


def management_config(directory: StandardDirectory) -> dict[str, Any]:
    config = directory.config()
    tenant = config["tenants"][0]
    principals = [matrix_principal(None, None)] + [matrix_principal(r, lv) for r in ROLES for lv in LEVELS]
    principals += [extra_principal(name) for name in EXTRA_PRINCIPALS]
    for principal in principals:
        tenant["servicePrincipals"].append(
            {
                "objectId": principal.object_id,
                "appId": principal.app_id,
                "displayName": principal.name,
                "clientSecret": principal.secret,
            }
        )
    tenant["groups"].append(
        {
            "objectId": HSM_GROUP_ID,
            "displayName": "arm-hsm-operators",
            "members": [extra_principal("group-contributor-member").object_id],
        }
    )
    config["subscriptions"][0]["resourceGroups"].append({"name": MATRIX_GROUP, "location": directory.location})
    for role in ROLES:
        for level in LEVELS:
            for scope in level_scopes(directory, level):
                config["roleAssignments"].append(
                    {"scope": scope, "roleDefinitionName": role, "principalId": matrix_principal(role, level).object_id}
                )
    config["roleAssignments"].append(
        {
            "scope": directory.scope("rg-two"),
            "roleDefinitionName": "Managed HSM contributor",
            "principalId": HSM_GROUP_ID,
        }
    )
    return config


class ArmEmulator:
    """The running process plus helpers to build official SDK clients for any principal of its directory."""

    def __init__(self, process: EmulatorProcess, directory: StandardDirectory) -> None:
        self.process = process
        self.directory = directory

    @property
    def url(self) -> str:
        return self.process.url

    def credential(self, principal: Principal, tenant_id: str | None = None) -> ClientSecretCredential:
        return ClientSecretCredential(
            tenant_id or self.directory.tenant_id,
            principal.app_id,
            principal.secret,
            authority=self.url,
            disable_instance_discovery=True,
            connection_verify=str(self.process.ca_file),
        )

    def standard(self, name: str) -> Principal:
        sp = self.directory.sp(name)
        return Principal(name, sp.object_id, sp.app_id, sp.secret)

    def keyvault(self, credential: ClientSecretCredential, **kwargs: Any) -> KeyVaultManagementClient:
        return KeyVaultManagementClient(
            credential,
            self.directory.subscription_id,
            base_url=self.url,
            credential_scopes=[ARM_SCOPE],
            connection_verify=str(self.process.ca_file),
            polling_interval=0.1,
            **kwargs,
        )

    def token(self, principal: Principal, audience: str = "https://management.azure.com/") -> str:
        status, body = self.process.request_token(
            self.directory.tenant_id,
            {
                "grant_type": "client_credentials",
                "client_id": principal.app_id,
                "client_secret": principal.secret,
                "scope": f"{audience.rstrip('/')}/.default",
            },
        )
        assert status == 200, body
        return str(body["access_token"])


@pytest.fixture(scope="module")
def arm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ArmEmulator]:
    directory = standard_directory()
    previous = os.environ.get("HSM_EMULATOR_ARM_RETRY_AFTER")
    os.environ["HSM_EMULATOR_ARM_RETRY_AFTER"] = "0"  # pollers then use the client's polling_interval (0.1 s)
    try:
        process = EmulatorProcess(tmp_path_factory.mktemp("arm"), management_config(directory))
        with process:
            yield ArmEmulator(process, directory)
    finally:
        if previous is None:
            os.environ.pop("HSM_EMULATOR_ARM_RETRY_AFTER", None)
        else:
            os.environ["HSM_EMULATOR_ARM_RETRY_AFTER"] = previous
