"""Load benchmark: N concurrent official async SDK clients for S seconds against one emulated HSM.

Starts its own emulator (standard directory), creates and activates an HSM, grants `crypto-user` Crypto User,
then runs hsm_devtools.loadgen (get key, sign, verify, encrypt, decrypt, list one page) and records p50/p99
latency and throughput per operation in bench/results/bench_load.json. The same generator backs
tests/integration/emulator/hostile/test_load.py, which asserts zero errors only.

    .venv/bin/python bench/bench_load.py [--clients 50] [--seconds 60]

A runner can call `run(clients=50, seconds=60.0) -> dict` directly.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "operator"))

from azure.keyvault.administration import KeyVaultRoleScope

from hsm_devtools import loadgen
from hsm_devtools.access_matrix import Session
from hsm_devtools.emulator_process import EmulatorProcess, standard_directory

RESULTS = Path(__file__).resolve().parent / "results" / "bench_load.json"
CRYPTO_USER = "21dbd100-6940-42c2-9190-5d6cb909625b"


def run(clients: int = 50, seconds: float = 60.0) -> dict[str, Any]:
    """Start an emulator, run the load, stop the emulator; returns loadgen's summary (plus error samples)."""
    os.environ.setdefault("HSM_EMULATOR_ARM_RETRY_AFTER", "0")  # ARM pollers then do not wait 1 s per poll
    directory = standard_directory()
    with (
        tempfile.TemporaryDirectory(prefix="bench-load-") as state,
        EmulatorProcess(Path(state), directory.config(), hsm_port_count=2) as process,
    ):
        session = Session(process, directory)
        session.create_hsm("bench-load")
        user = directory.sp("crypto-user")
        session.access().create_role_assignment(KeyVaultRoleScope.GLOBAL, CRYPTO_USER, user.object_id)

        async def load() -> loadgen.LoadReport:
            async with session.async_credential("crypto-user") as setup:
                key_id = await loadgen.prepare_key(session.hsm_uri, setup, session.ca, "bench-load-rsa")
            return await loadgen.run_load(
                session.hsm_uri,
                lambda: session.async_credential("crypto-user"),
                session.ca,
                key_id=key_id,
                clients=clients,
                seconds=seconds,
            )

        report = asyncio.run(load())
    print(report.table())
    return {**report.summary(), "error_samples": report.errors[:10]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60.0)
    arguments = parser.parse_args()
    figures = run(arguments.clients, arguments.seconds)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"written {RESULTS}")


if __name__ == "__main__":
    main()
