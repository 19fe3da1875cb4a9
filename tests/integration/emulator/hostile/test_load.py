"""Load: 50 concurrent official async SDK clients for 60 s against one HSM of the running emulator, zero errors.

The mix and the figures come from hsm_devtools.loadgen (bench/bench_load.py records the same run as a benchmark).
The test asserts correctness under load only; it prints p50/p99 latency and throughput (see `-s` or the captured
output) and never asserts a timing.
"""

from __future__ import annotations

import pytest
from azure.identity.aio import ClientSecretCredential
from azure.keyvault.administration import KeyVaultAccessControlClient, KeyVaultRoleScope

from hsm_devtools import loadgen
from tests.integration.emulator.hostile.conftest import CRYPTO_USER, Hostile

pytestmark = pytest.mark.integration
CLIENTS = 50
SECONDS = 60.0


@pytest.mark.timeout(240)
async def test_fifty_sdk_clients_for_a_minute_without_an_error(hostile: Hostile) -> None:
    ca = str(hostile.process.ca_file)
    access = KeyVaultAccessControlClient(
        hostile.fuzz_hsm_uri, hostile.credential("hsm-admin"), verify_challenge_resource=False, connection_verify=ca
    )
    access.create_role_assignment(KeyVaultRoleScope.KEYS, CRYPTO_USER, hostile.sp("crypto-user").object_id)
    sp = hostile.sp("crypto-user")

    def credential() -> ClientSecretCredential:
        return ClientSecretCredential(
            sp.tenant_id,
            sp.app_id,
            sp.secret,
            authority=hostile.url,
            disable_instance_discovery=True,
            connection_verify=ca,
        )

    async with credential() as setup:
        key_id = await loadgen.prepare_key(hostile.fuzz_hsm_uri, setup, ca, "load-rsa")
    report = await loadgen.run_load(
        hostile.fuzz_hsm_uri, credential, ca, key_id=key_id, clients=CLIENTS, seconds=SECONDS
    )
    print("\n" + report.table())
    assert report.errors == []
    assert all(report.latencies[operation] for operation in loadgen.OPERATIONS), report.summary()
