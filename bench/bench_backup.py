"""Full backup and full restore time of an emulated HSM holding 100 and 1,000 keys, against real Azurite.

Starts its own emulator and Azurite, creates one HSM per size (activated by a security-domain download), fills it
with keys (9 in 10 EC P-256 or AES-256, 1 in 10 RSA-2048; created over the SDK with a few threads), then times
`begin_backup` and `begin_restore` from the start request until the job's status says Succeeded (polled every
20 ms, so the SDK's 1 s Retry-After does not round the figures).

References: the full backup is shown beside backing up the same keys one at a time with `KeyClient.backup_key` (same
run, same HSM); both are shown beside the published single-key Backup/Restore limit (10 ops/s per HSM, so N keys one
by one take N/10 s on the real service; Microsoft publishes no duration for a full backup, only "one at a time").

Run alone: `.venv/bin/python bench/bench_backup.py [--quick] [--sizes 100 1000]`.
"""

from __future__ import annotations

import argparse
import base64
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from azure.core.rest import HttpRequest
from azure.identity import ClientSecretCredential
from azure.keyvault.administration import KeyVaultAccessControlClient, KeyVaultBackupClient, KeyVaultRoleScope
from azure.keyvault.keys import KeyClient
from azure.keyvault.securitydomain import SecurityDomainClient
from azure.mgmt.keyvault import KeyVaultManagementClient

if __package__ in (None, ""):  # run as `python bench/bench_backup.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.unit.emulator.securitydomain.officers import certificate_info, make_holder

from bench.framework import Row, standalone
from hsm_devtools.azurite import AzuriteProcess
from hsm_devtools.emulator_process import EmulatorProcess, StandardDirectory, standard_directory

GROUP = "full backup / restore to Azurite (until the job reports Succeeded)"
PUBLISHED_SINGLE_KEY_RATE = 10.0  # single-key Backup/Restore ops/s per HSM (AZURE-API.md §9)
CRYPTO_USER = "21dbd100-6940-42c2-9190-5d6cb909625b"


class Bench:
    """An emulator with the standard directory: activated HSMs where `crypto-user` holds Crypto User at `/`."""

    def __init__(
        self, process: EmulatorProcess, directory: StandardDirectory, azurite: AzuriteProcess | None = None
    ) -> None:
        self.process = process
        self.directory = directory
        self.azurite = azurite
        self.kwargs: dict[str, Any] = {"verify_challenge_resource": False, "connection_verify": str(process.ca_file)}

    def credential(self, name: str) -> ClientSecretCredential:
        sp = self.directory.sp(name)
        return ClientSecretCredential(
            sp.tenant_id,
            sp.app_id,
            sp.secret,
            authority=self.process.url,
            disable_instance_discovery=True,
            connection_verify=str(self.process.ca_file),
        )

    def create_active_hsm(self, name: str) -> str:
        arm = KeyVaultManagementClient(
            self.credential("mgmt-operator"),
            self.directory.subscription_id,
            base_url=self.process.url,
            credential_scopes=["https://management.azure.com/.default"],
            connection_verify=str(self.process.ca_file),
            polling_interval=0.1,
        )
        hsm = arm.managed_hsms.begin_create_or_update(
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
        ).result()
        uri = str(hsm.properties.hsm_uri).rstrip("/")
        officers = [make_holder(f"bench-officer-{i}") for i in range(3)]
        admin = self.credential("hsm-admin")
        SecurityDomainClient(uri, admin, **self.kwargs).begin_download(
            certificate_info(officers, 2), polling_interval=0
        ).result()
        KeyVaultAccessControlClient(uri, admin, **self.kwargs).create_role_assignment(
            KeyVaultRoleScope.GLOBAL, CRYPTO_USER, self.directory.sp("crypto-user").object_id
        )
        return uri

    def fill(self, uri: str, count: int) -> None:
        keys = KeyClient(uri, self.credential("crypto-user"), **self.kwargs)

        def create(index: int) -> None:
            name = f"bench-{index:05d}"
            if index % 10 == 0:
                keys.create_rsa_key(name, size=2048)
            elif index % 2:
                keys.create_ec_key(name, curve="P-256", tags={"i": str(index)})
            else:
                keys.create_oct_key(name, size=256, hardware_protected=True)

        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(create, range(count)))

    @staticmethod
    def time_job(client: KeyVaultBackupClient, start: Callable[[], Any]) -> tuple[float, Any]:
        began = time.perf_counter()
        poller = start()
        status_url = base64.b64decode(poller.continuation_token()).decode()
        while True:
            body = client.send_request(HttpRequest("GET", status_url)).json()
            if body["status"] != "InProgress":
                elapsed = time.perf_counter() - began
                if body["status"] != "Succeeded":
                    raise RuntimeError(f"job failed: {body}")
                return elapsed, poller
            time.sleep(0.02)


def one_by_one(keys: KeyClient, count: int) -> float:
    """Seconds to back up the keys bench-00000.. one at a time with KeyClient.backup_key."""
    began = time.perf_counter()
    for index in range(count):
        keys.backup_key(f"bench-{index:05d}")
    return time.perf_counter() - began


def run(sizes: list[int]) -> list[Row]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-backup-") as scratch:
        directory = standard_directory()
        with (
            EmulatorProcess(Path(scratch) / "emulator", directory.config(), hsm_port_count=4) as process,
            AzuriteProcess(Path(scratch) / "azurite") as azurite,
        ):
            container_url = azurite.create_container("bench")
            sas = azurite.container_sas("bench")
            bench = Bench(process, directory, azurite)
            for size in sizes:
                uri = bench.create_active_hsm(f"bench-{size}")
                bench.fill(uri, size)
                client = KeyVaultBackupClient(uri, bench.credential("hsm-admin"), **bench.kwargs)
                backup_seconds, poller = bench.time_job(
                    client, lambda c=client: c.begin_backup(container_url, sas_token=sas, _polling_interval=0)
                )
                folder_url = poller.result().folder_url
                folder = folder_url.rsplit("/", 1)[1]
                stored = sum(len(azurite.read_blob("bench", name)) for name in azurite.blob_names("bench", folder))
                restore_seconds, _ = bench.time_job(
                    client, lambda c=client, f=folder_url: c.begin_restore(f, sas_token=sas, _polling_interval=0)
                )
                keys = KeyClient(uri, bench.credential("crypto-user"), **bench.kwargs)
                single = one_by_one(keys, size)
                published = size / PUBLISHED_SINGLE_KEY_RATE
                note = f"{stored / 1024:.0f} KiB in Azurite"
                rows += [
                    Row(GROUP, f"full backup, {size:,} keys", backup_seconds, "s", single,
                        f"{size:,} x KeyClient.backup_key", published, higher_is_better=False, note=note),
                    Row(GROUP, f"full restore, {size:,} keys", restore_seconds, "s", single,
                        f"{size:,} x KeyClient.backup_key", published, higher_is_better=False),
                ]  # fmt: skip
    return rows


def collect(arguments: argparse.Namespace) -> list[Row]:
    return run(arguments.sizes or ([100] if arguments.quick else [100, 1000]))


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sizes", type=int, nargs="+", default=None, help="key counts (default 100 1000)")


if __name__ == "__main__":
    sys.exit(standalone(__doc__.splitlines()[0], collect, configure, stem="backup"))
