"""Full backup and full restore time of an emulated HSM holding 100 and 1,000 keys, against real Azurite.

Starts its own emulator and Azurite, creates one HSM per size (activated by a security-domain download), fills it
with keys (9 in 10 EC P-256 or AES-256, 1 in 10 RSA-2048; created over the SDK with a few threads), then times
`begin_backup` and `begin_restore` from the start request until the job's status says Succeeded (polled every
20 ms, so the SDK's 1 s Retry-After does not round the figures). Prints a table and writes
bench/results/bench_backup.json.

    .venv/bin/python bench/bench_backup.py [--sizes 100 1000]
"""

from __future__ import annotations

import argparse
import base64
import json
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "operator"))
sys.path.insert(0, str(ROOT))

from tests.unit.emulator.securitydomain.officers import certificate_info, make_holder  # noqa: E402

from hsm_devtools.azurite import AzuriteProcess  # noqa: E402
from hsm_devtools.emulator_process import EmulatorProcess, StandardDirectory, standard_directory  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "bench_backup.json"
CRYPTO_USER = "21dbd100-6940-42c2-9190-5d6cb909625b"


class Bench:
    def __init__(self, process: EmulatorProcess, directory: StandardDirectory, azurite: AzuriteProcess) -> None:
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


def run(sizes: list[int]) -> list[dict[str, Any]]:
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
                began = time.perf_counter()
                bench.fill(uri, size)
                fill_seconds = time.perf_counter() - began
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
                rows.append(
                    {
                        "keys": size,
                        "backup_seconds": round(backup_seconds, 3),
                        "restore_seconds": round(restore_seconds, 3),
                        "backup_bytes": stored,
                        "fill_seconds": round(fill_seconds, 1),
                    }
                )
                print(
                    f"{size:>6} keys  backup {backup_seconds:7.2f} s  restore {restore_seconds:7.2f} s  "
                    f"({stored / 1024:.0f} KiB in Azurite; creating the keys took {fill_seconds:.1f} s)",
                    flush=True,
                )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000])
    args = parser.parse_args()
    print("full backup / restore of an emulated Managed HSM to Azurite (wall time until the job reports Succeeded)")
    rows = run(args.sizes)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "benchmark": "full backup and restore",
                "key_mix": "1 in 10 RSA-2048, others EC P-256 / AES-256",
                "published_limit": "one concurrent full backup/restore per HSM",
                "results": rows,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"written {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
