"""Shared helpers of the reliability suite: real faults (SIGKILL, restarts, a full disk, skewed clocks) against real
processes, observed only through the official Azure SDK clients, kubectl and the emulator's files.

Every test module here sets `pytestmark = [reliability, integration]` (each test runs real processes). Each test
starts its own emulator (`fresh_emulator`), so killing, restarting or starving it never disturbs the rest of the
session, and the HSMs it creates never eat the session emulator's port pool.

The faults (`pytest -m reliability` runs them all; `make test` includes them):
  test_emulator_crash.py     SIGKILL of the emulator under 8 concurrent SDK writers, restart, nothing lost or torn
  test_operator_crash.py     SIGKILL of the operator mid-reconcile of 100 HSMKeys + assignments; emulator SIGKILL too
  test_apiserver_restart.py  kube-apiserver restart under the operator: watches resume
  test_disk_full.py          the emulator's data dir on a full (real, size-limited) filesystem: 503, then recovery
  test_clock_skew.py         token issuer vs HSM clock skew within / beyond the configured tolerance
  Azurite stopped in the middle of a backup job: tests/integration/emulator/backup/test_failures.py
    (`test_azurite_stopped_mid_backup_fails_the_job`, marked `reliability` there; it needs that package's fixtures)

`Azure(handle)` wraps one emulator with the standard directory: ARM client, `active_hsm(name)` (create + activate by
security-domain download + Crypto User/Officer for `crypto-user`), and data-plane clients whose retry policy can be
switched off (`retries=0`), so a client notices a dead server at once instead of retrying for seconds.
`start_operator(...)` runs `hsm-operator run` against any emulator and kubeconfig (the shared `operator_process`
fixture is bound to the session emulator and cluster).
"""

from __future__ import annotations

import hashlib
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.identity import ClientSecretCredential
from azure.keyvault.administration import KeyVaultAccessControlClient, KeyVaultRoleScope
from azure.keyvault.keys import KeyClient
from azure.keyvault.keys.crypto import CryptographyClient, SignatureAlgorithm
from azure.keyvault.securitydomain import SecurityDomainClient
from azure.mgmt.keyvault import KeyVaultManagementClient

from hsm_devtools.processes import ManagedProcess, wait_until
from tests.support.emulator_fixtures import EmulatorHandle
from tests.support.operator_fixtures import READY_MARKERS, OperatorHandle, operator_env
from tests.unit.emulator.securitydomain.officers import certificate_info, make_holder

CRYPTO_USER_ROLE = "21dbd100-6940-42c2-9190-5d6cb909625b"
CRYPTO_OFFICER_ROLE = "515eb02d-2335-4d2d-92f2-b1cbdf9c3778"
AUDITOR_ROLE = "2c18b078-7c48-4d3a-af88-5a3a1b3f82b3"
RESOURCE_GROUP = "rg-one"


class Azure:
    """The official SDK clients against one emulator, as the standard directory's principals."""

    def __init__(self, handle: EmulatorHandle) -> None:
        self.handle = handle
        self._credentials: dict[str, ClientSecretCredential] = {}

    def credential(self, who: str) -> ClientSecretCredential:
        """One credential per principal (azure-identity caches its token: no token request per client)."""
        if who not in self._credentials:
            self._credentials[who] = self.handle.credential(who)
        return self._credentials[who]

    def _options(self, retries: int | None) -> dict[str, Any]:
        options: dict[str, Any] = {
            "verify_challenge_resource": False,
            "connection_verify": str(self.handle.ca_file),
        }
        if retries is not None:
            options["retry_total"] = retries
        return options

    def arm(self, who: str = "sub-owner", retries: int | None = None) -> KeyVaultManagementClient:
        extra = {} if retries is None else {"retry_total": retries}
        return KeyVaultManagementClient(
            self.credential(who),
            self.handle.directory.subscription_id,
            base_url=self.handle.url,
            credential_scopes=["https://management.azure.com/.default"],
            connection_verify=str(self.handle.ca_file),
            polling_interval=0.1,
            **extra,
        )

    def keys(self, uri: str, who: str = "crypto-user", retries: int | None = None) -> KeyClient:
        return KeyClient(uri, self.credential(who), **self._options(retries))

    def access(self, uri: str, who: str = "hsm-admin", retries: int | None = None) -> KeyVaultAccessControlClient:
        return KeyVaultAccessControlClient(uri, self.credential(who), **self._options(retries))

    def sign_and_verify(self, uri: str, name: str, who: str = "crypto-user") -> None:
        """The key's private material is there and matches its public key: sign in the HSM (ES256), verify."""
        key = self.keys(uri, who).get_key(name)
        crypto = CryptographyClient(key, self.credential(who), **self._options(None))
        digest = hashlib.sha256(name.encode()).digest()
        signed = crypto.sign(SignatureAlgorithm.es256, digest)
        assert crypto.verify(SignatureAlgorithm.es256, digest, signed.signature).is_valid, name

    def create_hsm(self, name: str) -> str:
        """A new HSM through ARM; returns its hsmUri without the trailing slash."""
        directory = self.handle.directory
        poller = self.arm().managed_hsms.begin_create_or_update(
            RESOURCE_GROUP,
            name,
            {
                "location": directory.location,
                "sku": {"family": "B", "name": "Standard_B1"},
                "properties": {
                    "tenantId": directory.tenant_id,
                    "initialAdminObjectIds": [directory.sp("hsm-admin").object_id],
                    "softDeleteRetentionInDays": 7,
                    "enablePurgeProtection": False,
                },
            },
        )
        return str(poller.result().properties.hsm_uri).rstrip("/")

    def active_hsm(self, name: str) -> str:
        """Create, activate (security-domain download), grant `crypto-user` Crypto User + Officer; returns the URI."""
        uri = self.create_hsm(name)
        domain = SecurityDomainClient(uri, self.credential("hsm-admin"), **self._options(None))
        officers = [make_holder(f"{name}-officer-{index}") for index in range(3)]
        domain.begin_download(certificate_info(officers, 2), polling_interval=0).result()
        access = self.access(uri)
        for role in (CRYPTO_USER_ROLE, CRYPTO_OFFICER_ROLE):
            access.create_role_assignment(KeyVaultRoleScope.GLOBAL, role, self.handle.sp("crypto-user").object_id)
        return uri


def database_integrity(data_dir: Path) -> tuple[str, list[Any]]:
    """SQLite's own verdict on the emulator's database: (`PRAGMA integrity_check`, `PRAGMA foreign_key_check` rows).

    Opens the file like any other SQLite client would (a stopped emulator's WAL is recovered, as at its next start).
    """
    connection = sqlite3.connect(data_dir / "emulator.db", timeout=10)
    try:
        integrity = str(connection.execute("PRAGMA integrity_check").fetchone()[0])
        foreign = list(connection.execute("PRAGMA foreign_key_check").fetchall())
    finally:
        connection.close()
    return integrity, foreign


def start_operator(
    handle: EmulatorHandle,
    kubeconfig: Path,
    namespace: str,
    log_path: Path,
    *,
    plane: str = "all",
    **env: str,
) -> OperatorHandle:
    """`hsm-operator run --plane P --namespace NS` against `handle` and `kubeconfig`; waits until it watches."""
    argv = [sys.executable, "-m", "hsm_operator", "run", "--plane", plane, "--namespace", namespace, "--verbose"]
    process = ManagedProcess(
        f"hsm-operator-{log_path.stem}", argv, log_path, env=operator_env(handle, kubeconfig, **env)
    )
    operator = OperatorHandle(process)
    process.start()
    try:
        wait_until(
            lambda: any(marker in operator.log() for marker in READY_MARKERS),
            timeout=60,
            what="the operator to start",
            watched=[process],
        )
    except BaseException:
        process.stop()
        raise
    return operator


@pytest.fixture
def operators() -> Iterator[list[OperatorHandle]]:
    """Operators a test started (append them): stopped at the end of the test, killed or not."""
    started: list[OperatorHandle] = []
    yield started
    for operator in started:
        operator.stop()


def eventually(check: Callable[[], Any], *, what: str, timeout: float, detail: Callable[[], str] = str) -> Any:
    """Poll `check` until it returns something truthy; fail naming `what` (plus `detail()`) after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}\n{detail()}")
        time.sleep(0.5)
