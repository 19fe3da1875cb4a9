"""Session fixtures of the backup/restore/recovery tests: an emulator process of their own, Azurite, HSMs, roles.

Everything goes through the official SDKs (KeyVaultBackupClient, SecurityDomainClient, KeyClient...) and Azurite
through azure-storage-blob, as a customer would. The emulator is this package's own process (not the shared
`emulator` fixture) because a test restarts it and the HSMs created here must not eat other tests' port pool.

Who holds which role on every HSM created here (standard directory principals):
    hsm-admin        Managed HSM Administrator (initial admin)
    crypto-user      Managed HSM Crypto User           -- creates and uses keys
    crypto-officer   Managed HSM Crypto Officer        -- purges deleted keys
    rg-contributor   Managed HSM Backup                -- only backup/start + status (+ keys/backup)
    sub-contributor  Managed HSM Restore               -- only restore/start + status (+ keys/restore)
    no-role          nothing
"""

from __future__ import annotations

import base64
import datetime as dt
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from azure.core.rest import HttpRequest
from azure.identity import ClientSecretCredential
from azure.keyvault.administration import (
    KeyVaultAccessControlClient,
    KeyVaultBackupClient,
    KeyVaultRoleScope,
)
from azure.keyvault.keys import KeyClient
from azure.keyvault.securitydomain import SecurityDomainClient
from azure.mgmt.keyvault import KeyVaultManagementClient

from hsm_devtools.azurite import AzuriteProcess
from hsm_devtools.emulator_process import EmulatorProcess, StandardDirectory, standard_directory
from tests.unit.emulator.securitydomain.officers import Holder, certificate_info, make_holder

CRYPTO_USER_ROLE = "21dbd100-6940-42c2-9190-5d6cb909625b"
BACKUP_ROLE = "7b127d3c-77bd-4e3e-bbe0-dbb8971fa7f8"
RESTORE_ROLE = "6efe6056-5259-49d2-8b3d-d3d73544b20b"
CRYPTO_OFFICER_ROLE = "515eb02d-2335-4d2d-92f2-b1cbdf9c3778"
ROLE_HOLDERS = {
    "crypto-officer": CRYPTO_OFFICER_ROLE,
    "crypto-user": CRYPTO_USER_ROLE,
    "rg-contributor": BACKUP_ROLE,
    "sub-contributor": RESTORE_ROLE,
}
CONTAINER = "backups"
POLL = {"_polling_interval": 0}  # the emulator sends Retry-After: 1; tests poll as fast as it allows


@dataclass
class BackupEnv:
    process: EmulatorProcess
    directory: StandardDirectory
    azurite: AzuriteProcess
    sas: str
    _credentials: dict[str, ClientSecretCredential] = field(default_factory=dict)

    @property
    def container_url(self) -> str:
        return self.azurite.container_url(CONTAINER)

    def credential(self, name: str) -> ClientSecretCredential:
        if name not in self._credentials:
            sp = self.directory.sp(name)
            self._credentials[name] = ClientSecretCredential(
                sp.tenant_id,
                sp.app_id,
                sp.secret,
                authority=self.process.url,
                disable_instance_discovery=True,
                connection_verify=str(self.process.ca_file),
            )
        return self._credentials[name]

    def _client_kwargs(self) -> dict[str, Any]:
        return {"verify_challenge_resource": False, "connection_verify": str(self.process.ca_file)}

    def keys(self, uri: str, who: str = "crypto-user") -> KeyClient:
        return KeyClient(uri, self.credential(who), **self._client_kwargs())

    def purge(self, uri: str, name: str) -> None:
        """Delete (soft) and purge a key: it is gone for good."""
        self.keys(uri).begin_delete_key(name, _polling_interval=0).wait()
        self.keys(uri, "crypto-officer").purge_deleted_key(name)

    def backups(self, uri: str, who: str = "hsm-admin") -> KeyVaultBackupClient:
        return KeyVaultBackupClient(uri, self.credential(who), **self._client_kwargs())

    def access(self, uri: str, who: str = "hsm-admin") -> KeyVaultAccessControlClient:
        return KeyVaultAccessControlClient(uri, self.credential(who), **self._client_kwargs())

    def security_domain(self, uri: str, who: str = "hsm-admin") -> SecurityDomainClient:
        return SecurityDomainClient(uri, self.credential(who), **self._client_kwargs())

    def arm(self) -> KeyVaultManagementClient:
        return KeyVaultManagementClient(
            self.credential("mgmt-operator"),
            self.directory.subscription_id,
            base_url=self.process.url,
            credential_scopes=["https://management.azure.com/.default"],
            connection_verify=str(self.process.ca_file),
            polling_interval=0.1,
        )

    def create_hsm(self, name: str) -> str:
        """A new HSM (not activated); returns its hsmUri without the trailing slash."""
        poller = self.arm().managed_hsms.begin_create_or_update(
            self.directory.resource_groups[0],
            name,
            {
                "location": self.directory.location,
                "sku": {"family": "B", "name": "Standard_B1"},
                "properties": {
                    "tenantId": self.directory.tenant_id,
                    "initialAdminObjectIds": [self.directory.sp("hsm-admin").object_id],
                    "softDeleteRetentionInDays": 7,
                    "enablePurgeProtection": False,
                },
            },
        )
        return str(poller.result().properties.hsm_uri).rstrip("/")

    def activation_status(self, name: str) -> str:
        hsm = self.arm().managed_hsms.get(self.directory.resource_groups[0], name)
        status = hsm.properties.security_domain_properties.activation_status
        return str(getattr(status, "value", status))

    def activate(self, uri: str, officers: list[Holder]) -> str:
        """Download the security domain (activates the HSM); returns the SD document (the download `value`)."""
        poller = self.security_domain(uri).begin_download(certificate_info(officers, 2), polling_interval=0)
        return str(poller.result().value)

    def grant_roles(self, uri: str) -> None:
        access = self.access(uri)
        for who, role in ROLE_HOLDERS.items():
            access.create_role_assignment(KeyVaultRoleScope.GLOBAL, role, self.directory.sp(who).object_id)

    def active_hsm(self, name: str, officers: list[Holder]) -> ActiveHsm:
        uri = self.create_hsm(name)
        security_domain = self.activate(uri, officers)
        self.grant_roles(uri)
        return ActiveHsm(name, uri, security_domain, officers)


@dataclass(frozen=True)
class ActiveHsm:
    name: str
    uri: str
    security_domain: str
    officers: list[Holder]


@pytest.fixture(scope="session")
def backup_env(tmp_path_factory: pytest.TempPathFactory, azurite: AzuriteProcess) -> Iterator[BackupEnv]:
    directory = standard_directory()
    process = EmulatorProcess(tmp_path_factory.mktemp("backup-emulator"), directory.config(), hsm_port_count=8)
    azurite.create_container(CONTAINER)
    with process:
        yield BackupEnv(process, directory, azurite, azurite.container_sas(CONTAINER))


@pytest.fixture(scope="session")
def officers() -> list[Holder]:
    return [make_holder(f"backup-officer-{index}") for index in range(3)]


@pytest.fixture(scope="session")
def source_hsm(backup_env: BackupEnv, officers: list[Holder]) -> ActiveHsm:
    return backup_env.active_hsm("bk-source", officers)


@pytest.fixture(scope="session")
def foreign_hsm(backup_env: BackupEnv) -> ActiveHsm:
    """An HSM with a security domain of its own (other officers)."""
    return backup_env.active_hsm("bk-foreign", [make_holder(f"foreign-officer-{index}") for index in range(3)])


def job_status(client: KeyVaultBackupClient, poller: Any) -> dict[str, Any]:
    """The job's status body, read at the URL the poller polls (its continuation token is that URL, base64)."""
    status_url = base64.b64decode(poller.continuation_token()).decode()
    response = client.send_request(HttpRequest("GET", status_url))
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


def wait_for_job(client: KeyVaultBackupClient, poller: Any, timeout: float = 60.0) -> dict[str, Any]:
    """Poll a job (without the poller) until it leaves InProgress; returns its status body."""
    deadline = time.monotonic() + timeout
    while True:
        body = job_status(client, poller)
        if body["status"] != "InProgress":
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"job {body['jobId']} still InProgress after {timeout}s")
        time.sleep(0.1)


def expect_failed(poller: Any) -> HttpResponseError:
    with pytest.raises(HttpResponseError) as failure:
        poller.result()
    return failure.value


def expired_sas(azurite: AzuriteProcess, container: str = CONTAINER) -> str:
    return azurite.container_sas(container, expires_in=-dt.timedelta(hours=1))
